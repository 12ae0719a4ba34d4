"""`enishi operator create | list`."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from enishi.cli.main import app
from enishi.config import get_settings
from enishi.db.engine import make_engine
from enishi.operators.models import Operator, OperatorRole
from enishi.operators.passwords import verify_password

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
