"""`enishi operator create | list | disable | enable | reset-password`."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from enishi.app import build_state
from enishi.audit.models import AuditEntry
from enishi.cli.main import app
from enishi.config import get_settings
from enishi.db.engine import make_engine
from enishi.operators.models import Operator, OperatorRole
from enishi.operators.passwords import verify_password
from enishi.operators.service import authenticate, operator_by_email
from enishi.operators.sessions import operator_for_token, start_session
from enishi.operators.throttle import is_throttled, record_failure
from tests.conftest import make_settings

runner = CliRunner()


@pytest.fixture
def env(database_url, monkeypatch):
    monkeypatch.setenv("ENISHI_DATABASE_URL", database_url)
    monkeypatch.setenv("ENISHI_SECRET_KEY", "cli-test-secret")
    get_settings.cache_clear()
    yield database_url
    get_settings.cache_clear()


def operators(url):
    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            select(Operator.email, Operator.is_owner, Operator.password_hash).order_by(Operator.id)
        ).all()
        roles = conn.execute(select(OperatorRole.role)).scalars().all()
    engine.dispose()
    return rows, roles


def test_the_first_operator_is_the_owner_and_passwords_come_from_stdin(env):
    result = runner.invoke(
        app,
        ["operator", "create", "--email", "Boss@Example.jp", "--password-stdin"],
        input="a long password\n",
    )
    assert result.exit_code == 0, result.output
    assert "installation owner" in result.output
    result = runner.invoke(
        app,
        ["operator", "create", "--email", "staff@example.jp", "--password-stdin"],
        input="another password\n",
    )
    assert result.exit_code == 0, result.output
    rows, _ = operators(env)
    assert [(r.email, r.is_owner) for r in rows] == [
        ("boss@example.jp", True),
        ("staff@example.jp", False),
    ]
    assert verify_password(rows[0].password_hash, "a long password")
    listing = runner.invoke(app, ["operator", "list"])
    assert "boss@example.jp" in listing.output and "all:owner" in listing.output


def test_interactive_passwords_are_asked_twice(env):
    result = runner.invoke(
        app,
        ["operator", "create", "--email", "a@example.jp"],
        input="first password\nother password\nfirst password\nfirst password\n",
    )
    assert result.exit_code == 0, result.output
    assert "do not match" in result.output.lower() or "一致" in result.output
    rows, _ = operators(env)
    assert verify_password(rows[0].password_hash, "first password")


def test_refusals_exit_with_an_error(env):
    result = runner.invoke(
        app, ["operator", "create", "--email", "a@example.jp", "--password-stdin"], input="short\n"
    )
    assert result.exit_code == 2 and "10文字以上" in result.output
    result = runner.invoke(
        app,
        ["operator", "create", "--email", "a@example.jp", "--password-stdin", "--account", "999"],
        input="long enough password\n",
    )
    assert result.exit_code == 2 and "999" in result.output
    assert operators(env) == ([], [])


def _state(url):
    return build_state(make_settings(url))


def create_operator(email: str) -> None:
    result = runner.invoke(
        app,
        ["operator", "create", "--email", email, "--password-stdin"],
        input="a long password\n",
    )
    assert result.exit_code == 0, result.output


def test_disable_and_enable_end_sessions_and_are_audited(env):
    create_operator("staff@example.jp")
    state = _state(env)
    try:
        with state.sessions.begin() as session:
            token = start_session(
                session, operator_by_email(session, "staff@example.jp"), ip=None, user_agent=None
            )
        result = runner.invoke(app, ["operator", "disable", "--email", "Staff@example.jp"])
        assert result.exit_code == 0, result.output
        assert "1 session(s) ended" in result.output
        with state.sessions() as session:
            assert operator_by_email(session, "staff@example.jp").disabled
            assert operator_for_token(session, token) is None
        assert "yes" in runner.invoke(app, ["operator", "list"]).output
        result = runner.invoke(app, ["operator", "enable", "--email", "staff@example.jp"])
        assert result.exit_code == 0 and "enabled" in result.output
        with state.sessions() as session:
            assert not operator_by_email(session, "staff@example.jp").disabled
            entries = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
            assert [(e.action, e.account_id) for e in entries[1:]] == [
                ("operator.disabled", None),
                ("operator.enabled", None),
            ]
            # the CLI is the actor: its user, from "cli", no operator or API key
            assert {(e.origin, e.operator_id, e.api_key_id) for e in entries[1:]} == {
                ("cli", None, None)
            }
            assert entries[1].cli_user and entries[1].details["sessions_ended"] == 1
    finally:
        state.close()


def test_reset_password_prints_a_one_time_password(env):
    create_operator("boss@example.jp")
    state = _state(env)
    try:
        with state.sessions.begin() as session:
            for _ in range(5):
                record_failure(session, "boss@example.jp", "10.0.0.1")
        result = runner.invoke(app, ["operator", "reset-password", "--email", "boss@example.jp"])
        assert result.exit_code == 0, result.output
        password = result.output.splitlines()[1]
        assert len(password) == 16 and "次回ログイン時に変更が必要です" in result.output
        with state.sessions.begin() as session:
            assert not is_throttled(session, "boss@example.jp", "10.0.0.1")
            operator = authenticate(session, "boss@example.jp", password)
            assert operator is not None and operator.must_change_password
            assert authenticate(session, "boss@example.jp", "a long password") is None
            [entry] = session.scalars(
                select(AuditEntry).where(AuditEntry.action == "operator.password_reset")
            ).all()
            assert entry.account_id is None and password not in str(entry.details)
    finally:
        state.close()


def test_reset_password_says_when_the_operator_is_disabled(env):
    create_operator("boss@example.jp")
    runner.invoke(app, ["operator", "disable", "--email", "boss@example.jp"])
    result = runner.invoke(app, ["operator", "reset-password", "--email", "boss@example.jp"])
    assert result.exit_code == 0 and "enishi operator enable" in result.output


@pytest.mark.parametrize("command", ["disable", "enable", "reset-password"])
def test_unknown_emails_exit_with_an_error(env, command):
    result = runner.invoke(app, ["operator", command, "--email", "nobody@example.jp"])
    assert result.exit_code == 2 and "nobody@example.jp" in result.output


def test_create_applies_the_same_password_rule_as_the_dashboard(env):
    result = runner.invoke(
        app,
        ["operator", "create", "--email", "boss@example.jp", "--password-stdin"],
        input="boss-is-the-best\n",
    )
    assert result.exit_code == 2 and "メールアドレスを含めない" in result.output
    assert operators(env) == ([], [])
