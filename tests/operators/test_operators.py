"""Operators: passwords, roles, sessions, throttling and the audit log, on both backends."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from enishi.db.base import utcnow
from enishi.operators.audit import entries_for_account, record
from enishi.operators.models import Operator, OperatorSession
from enishi.operators.roles import Role, may_assign
from enishi.operators.service import (
    OperatorError,
    accounts_for,
    authenticate,
    create_operator,
    members_of,
    role_on,
    set_role,
)
from enishi.operators.sessions import (
    LIFETIME,
    end_all_sessions,
    operator_for_token,
    purge_expired,
    start_session,
)
from enishi.operators.throttle import (
    MAX_FAILURES_PER_EMAIL,
    WINDOW,
    clear_failures,
    is_throttled,
    record_failure,
)
from tests.web.conftest import add_account


@pytest.fixture
def db(client, state):
    with state.sessions.begin() as session:
        yield session


def test_passwords_are_argon2_and_emails_case_insensitive(db):
    operator = create_operator(db, email=" Alice@Example.JP ", password="long enough pw")
    assert operator.email == "alice@example.jp"
    assert operator.password_hash.startswith("$argon2id$")
    assert authenticate(db, "ALICE@example.jp", "long enough pw") is operator
    assert authenticate(db, "alice@example.jp", "wrong password") is None
    assert authenticate(db, "nobody@example.jp", "long enough pw") is None
    operator.disabled = True
    assert authenticate(db, "alice@example.jp", "long enough pw") is None


@pytest.mark.parametrize(
    "email,password,message",
    [
        ("not-an-email", "long enough pw", "メールアドレスの形式"),
        ("a@example.jp", "short", "10文字以上"),
    ],
)
def test_bad_operators_are_refused(db, email, password, message):
    with pytest.raises(OperatorError, match=message):
        create_operator(db, email=email, password=password)


def test_emails_are_unique(db):
    create_operator(db, email="a@example.jp", password="long enough pw")
    with pytest.raises(OperatorError, match="既に存在"):
        create_operator(db, email="A@example.jp", password="long enough pw")


def test_roles_per_account_and_installation_owners(db, state):
    first = add_account(state, "一号店", "2000000001")
    second = add_account(state, "二号店", "2000000002")
    marketer = create_operator(db, email="m@example.jp", password="long enough pw")
    owner = create_operator(db, email="o@example.jp", password="long enough pw", is_owner=True)
    set_role(db, marketer, first, Role.MARKETER)
    assert role_on(db, marketer, first) is Role.MARKETER
    assert role_on(db, marketer, second) is None
    assert [a.id for a in accounts_for(db, marketer)] == [first]
    assert [a.id for a in accounts_for(db, owner)] == [first, second]
    assert role_on(db, owner, second) is Role.OWNER
    set_role(db, marketer, first, Role.VIEWER)  # a change, not a second row
    assert [(m.operator.email, m.role) for m in members_of(db, first)] == [
        ("o@example.jp", Role.OWNER),
        ("m@example.jp", Role.VIEWER),
    ]
    with pytest.raises(OperatorError):
        set_role(db, owner, first, Role.VIEWER)


def test_who_may_assign_which_role():
    assert may_assign(Role.OWNER, Role.OWNER)
    assert may_assign(Role.ADMIN, Role.ADMIN) and not may_assign(Role.ADMIN, Role.OWNER)
    assert not may_assign(Role.MARKETER, Role.VIEWER)


def test_sessions_expire_and_end_everywhere(db):
    operator = create_operator(db, email="s@example.jp", password="long enough pw")
    tokens = [start_session(db, operator, ip="10.0.0.1", user_agent="t") for _ in range(3)]
    stored = db.scalars(select(OperatorSession.token_hash)).all()
    assert not set(tokens) & set(stored)
    assert operator_for_token(db, tokens[0])[0] is operator
    assert operator_for_token(db, tokens[0], now=utcnow() + LIFETIME) is None
    assert operator_for_token(db, "not-a-token") is None
    purge_expired(db, now=utcnow() + LIFETIME)
    assert db.scalars(select(OperatorSession)).all() == []
    tokens = [start_session(db, operator, ip=None, user_agent=None) for _ in range(2)]
    assert end_all_sessions(db, operator.id) == 2
    assert all(operator_for_token(db, token) is None for token in tokens)


def test_throttling_counts_recent_failures_only(db):
    now = utcnow()
    for _ in range(MAX_FAILURES_PER_EMAIL):
        assert not is_throttled(db, "t@example.jp", "10.0.0.1", now)
        record_failure(db, "t@example.jp", "10.0.0.1", now)
    assert is_throttled(db, "t@example.jp", "10.0.0.2", now)
    assert not is_throttled(db, "other@example.jp", "10.0.0.2", now)
    assert not is_throttled(db, "t@example.jp", "10.0.0.2", now + WINDOW)
    clear_failures(db, "t@example.jp")
    assert not is_throttled(db, "t@example.jp", "10.0.0.1", now)


def test_audit_record_and_pages(db, state):
    account = add_account(state)
    operator = create_operator(db, email="a@example.jp", password="long enough pw")
    for n in range(5):
        record(
            db,
            action="segment.updated",
            account_id=account,
            operator_id=operator.id,
            target=f"segment:{n}",
            details={"name": f"セグメント{n}"},
        )
    record(db, action="other.account", account_id=None)
    first = entries_for_account(db, account, limit=3)
    assert [e.target for e, _ in first] == ["segment:4", "segment:3", "segment:2"]
    assert all(op.email == "a@example.jp" for _, op in first)
    rest = entries_for_account(db, account, before_id=first[-1][0].id, limit=3)
    assert [e.target for e, _ in rest] == ["segment:1", "segment:0"]
    assert rest[0][0].details == {"name": "セグメント1"}
    assert db.get(Operator, operator.id) is operator
    assert timedelta(0) <= utcnow() - rest[0][0].at < timedelta(minutes=5)
