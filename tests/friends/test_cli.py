"""`enishi friends export | import | rebuild-rollups` against a real database."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from enishi.cli.main import app
from enishi.config import get_settings
from enishi.friends.models import Friend, FriendActivity
from tests.friends.conftest import T0, make_friend, uid

runner = CliRunner()


@pytest.fixture
def cli_env(monkeypatch, settings, client, api_account):
    monkeypatch.setenv("ENISHI_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("ENISHI_SECRET_KEY", settings.secret_key)
    get_settings.cache_clear()
    yield api_account
    get_settings.cache_clear()


@pytest.mark.parametrize(
    "command",
    [["friends"], ["friends", "export"], ["friends", "import"], ["friends", "rebuild-rollups"]],
)
def test_help(command):
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0 and "Usage" in result.output


def test_export_and_import_files(cli_env, state, attributes, tmp_path):
    with state.sessions.begin() as session:
        for n in range(1, 4):
            make_friend(session, cli_env.id, n, display_name=f"名前{n}")
    out = tmp_path / "friends.csv"
    result = runner.invoke(
        app, ["friends", "export", "--account", cli_env.channel_id, "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "3" in result.output
    content = out.read_bytes()
    assert content.startswith(b"\xef\xbb\xbf") and "名前3".encode() in content

    edited = tmp_path / "edited.csv"
    edited.write_bytes(
        "line_user_id,tags,attr:age\r\n".encode("cp932")
        + f"{uid(1)},常連,40\r\n{uid(9)},,x\r\n{uid(8)},新規,\r\n".encode("cp932")
    )
    failed = runner.invoke(app, ["friends", "import", str(edited), "--account", cli_env.channel_id])
    assert failed.exit_code == 1, failed.output
    assert "attr:age" in failed.output and "not applied" in failed.output
    assert "数値を入力してください" in failed.output  # Japanese first, as on the dashboard
    assert "must be a number" in failed.output  # then the English message
    dry = runner.invoke(
        app, ["friends", "import", str(edited), "--account", cli_env.channel_id, "--apply", "none"]
    )
    assert dry.exit_code == 1 and "cp932" in dry.output
    with state.sessions() as session:
        assert session.scalar(select(Friend.id).where(Friend.line_user_id == uid(8))) is None
    applied = runner.invoke(
        app, ["friends", "import", str(edited), "--account", cli_env.channel_id, "--apply", "valid"]
    )
    assert applied.exit_code == 1 and "applied" in applied.output
    with state.sessions() as session:
        assert (
            session.scalar(select(Friend.status).where(Friend.line_user_id == uid(8))) == "unknown"
        )
        assert session.scalar(select(Friend.id).where(Friend.line_user_id == uid(9))) is None


def test_refusals(cli_env, tmp_path):
    png = tmp_path / "logo.csv"
    png.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    result = runner.invoke(app, ["friends", "import", str(png), "--account", cli_env.channel_id])
    assert result.exit_code == 2 and "binary" in result.output
    unknown = runner.invoke(
        app, ["friends", "export", "--account", "999", "--out", str(tmp_path / "x.csv")]
    )
    assert unknown.exit_code == 2 and "999" in unknown.output
    bad = runner.invoke(
        app, ["friends", "import", str(png), "--account", cli_env.channel_id, "--apply", "some"]
    )
    assert bad.exit_code == 2


def test_rebuild_rollups(cli_env, state):
    with state.sessions.begin() as session:
        friend = make_friend(session, cli_env.id, 1, click_count=5)
        session.add(
            FriendActivity(
                account_id=cli_env.id, friend_id=friend.id, kind="message", at=T0, data={}
            )
        )
    check = runner.invoke(
        app, ["friends", "rebuild-rollups", "--account", cli_env.channel_id, "--check-only"]
    )
    assert check.exit_code == 0 and "2 values on 1 friends" in check.output
    with state.sessions() as session:
        assert session.scalar(select(Friend.click_count)) == 5
    fix = runner.invoke(app, ["friends", "rebuild-rollups", "--account", cli_env.channel_id])
    assert fix.exit_code == 0 and "2 rollup groups corrected" in fix.output, fix.output
    with state.sessions() as session:
        row = session.execute(select(Friend.click_count, Friend.last_message_at)).one()
    assert row == (0, T0)
