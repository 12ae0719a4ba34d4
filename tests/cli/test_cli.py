"""The command line: help everywhere (the demo has its own test, test_demo.py)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from enishi.cli.main import app

runner = CliRunner()


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["emulator"],
        ["demo"],
        ["version"],
        ["serve"],
        ["worker"],
        ["db"],
        ["db", "upgrade"],
        ["account"],
        ["account", "create"],
    ],
)
def test_every_command_has_help(command):
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_emulator_refuses_a_broken_config(tmp_path):
    config = tmp_path / "channels.yml"
    config.write_text("channels:\n  - channel_id: abc\n", encoding="utf-8")
    result = runner.invoke(app, ["emulator", "--config", str(config)])
    assert result.exit_code == 2
    assert "channel_id must be digits" in result.output
