"""The command line: help everywhere, and the demo's whole loop."""

from __future__ import annotations

import asyncio

import pytest
from typer.testing import CliRunner

from enishi.cli.demo import run_demo
from enishi.cli.main import app
from tests.emulator.conftest import free_port

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


def test_demo_closes_the_loop():
    summary = asyncio.run(
        run_demo(free_port(), friends=400, exit_after=True, brand_port=free_port())
    )
    assert summary["bad_signatures"] == 0
    assert summary["webhook_events"].get("follow", 0) >= 40  # the month's new friends
    assert summary["multicast_recipients"] > 0
    assert summary["link_clicks"] > 0
    assert summary["orders"] > 0 and summary["revenue_jpy"] > 0
