"""Operators: passwords, roles, sessions, throttling and the audit log, on both backends."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from enishi.audit.actor import Actor
from enishi.audit.service import record
from enishi.db.base import utcnow
from enishi.operators.audit import entries_for_account, installation_entries
from enishi.operators.models import Operator, OperatorSession
from enishi.operators.roles import Role, may_assign
from enishi.operators.service import (
    OperatorError,
    accounts_for,
    authenticate,
    change_password,
    check_password_rule,
    create_operator,
    members_of,
    reset_password,
    role_on,
    set_disabled,
    set_role,
    switchable_operators,
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
            actor=Actor.operator(operator.id, "10.0.0.1"),
            action="segment.updated",
            account_id=account,
            target=f"segment:{n}",
            details={"name": f"セグメント{n}"},
        )
    record(db, actor=Actor.cli(), action="other.account", account_id=None)
    record(db, actor=Actor.operator(operator.id, "10.0.0.1"), action="operator.login")
    first = entries_for_account(db, account, limit=3)
    assert [e.target for e, *_ in first] == ["segment:4", "segment:3", "segment:2"]
    assert all(op.email == "a@example.jp" for _, op, _ in first)
    rest = entries_for_account(db, account, before_id=first[-1][0].id, limit=3)
    assert [e.target for e, *_ in rest] == ["segment:1", "segment:0"]
    assert rest[0][0].details == {"name": "セグメント1"}
    assert db.get(Operator, operator.id) is operator
    assert timedelta(0) <= utcnow() - rest[0][0].at < timedelta(minutes=5)
    installation = installation_entries(db)
    assert [e.action for e, *_ in installation] == ["operator.login", "other.account"]
    assert installation[0][1] is operator
    only_logins = installation_entries(db, action="operator.login")
    assert [e.action for e, *_ in only_logins] == ["operator.login"]
    assert installation_entries(db, before_id=installation[1][0].id) == []


@pytest.mark.parametrize(
    "password,message",
    [
        ("123456789", "10文字以上"),
        ("y" * 257, "256文字以内"),
        ("1212121212", "5種類以上"),
        ("hanako-2025-spring", "メールアドレスを含めない"),
        ("HANAKO loves LINE", "メールアドレスを含めない"),
    ],
)
def test_one_password_rule_for_every_path(db, password, message):
    with pytest.raises(OperatorError, match=message):
        check_password_rule(password, "Hanako@example.jp")
    with pytest.raises(OperatorError, match=message):
        create_operator(db, email="hanako@example.jp", password=password)
    check_password_rule("x" * 10 + "abcd", "hanako@example.jp")  # 5 different characters
    check_password_rule("long enough pw", "al@example.jp")  # short local parts are not searched


def test_change_password_ends_every_session(db):
    operator = create_operator(db, email="c@example.jp", password="long enough pw", one_time=True)
    assert operator.must_change_password
    tokens = [start_session(db, operator, ip=None, user_agent=None) for _ in range(2)]
    with pytest.raises(OperatorError, match="現在のパスワードと違う"):
        change_password(db, operator, "long enough pw")
    assert operator_for_token(db, tokens[0]) is not None
    assert change_password(db, operator, "another good one") == 2
    assert all(operator_for_token(db, token) is None for token in tokens)
    assert not operator.must_change_password
    assert authenticate(db, "c@example.jp", "another good one") is operator


def test_reset_password_gives_a_one_time_password(db):
    operator = create_operator(db, email="r@example.jp", password="long enough pw")
    token = start_session(db, operator, ip=None, user_agent=None)
    password = reset_password(db, operator)
    assert password != reset_password(db, operator)  # random each time
    password = reset_password(db, operator)
    assert operator.must_change_password and operator_for_token(db, token) is None
    assert authenticate(db, "r@example.jp", password) is operator
    check_password_rule(password, operator.email)  # a generated password passes the rule


def test_disabling_ends_sessions_and_re_enabling_does_not_start_any(db):
    operator = create_operator(db, email="d@example.jp", password="long enough pw")
    token = start_session(db, operator, ip=None, user_agent=None)
    assert set_disabled(db, operator, True, actor=Actor.cli()) == 1
    assert operator_for_token(db, token) is None and operator.disabled
    assert set_disabled(db, operator, False, actor=Actor.cli()) == 0 and not operator.disabled
    assert authenticate(db, "d@example.jp", "long enough pw") is operator


def test_who_may_switch_whom(db, state):
    first = add_account(state, "一号店", "2000000001")
    second = add_account(state, "二号店", "2000000002")

    def make(email, roles=(), is_owner=False):
        operator = create_operator(db, email=email, password="long enough pw", is_owner=is_owner)
        for account, role in roles:
            set_role(db, operator, account, role)
        return operator

    boss = make("boss@example.jp", is_owner=True)
    boss2 = make("boss2@example.jp", is_owner=True)
    owner1 = make("owner1@example.jp", [(first, Role.OWNER)])
    admin1 = make("admin1@example.jp", [(first, Role.ADMIN)])
    admin12 = make("admin12@example.jp", [(first, Role.ADMIN), (second, Role.ADMIN)])
    viewer1 = make("viewer1@example.jp", [(first, Role.VIEWER)])
    viewer1_owner2 = make("v1o2@example.jp", [(first, Role.VIEWER), (second, Role.OWNER)])
    viewer12 = make("viewer12@example.jp", [(first, Role.VIEWER), (second, Role.VIEWER)])
    everyone = [boss, boss2, owner1, admin1, admin12, viewer1, viewer1_owner2, viewer12]
    ids = [op.id for op in everyone]

    def emails(actor):
        return {op.email for op in everyone if op.id in switchable_operators(db, actor, ids)}

    assert emails(boss) == {op.email for op in everyone} - {"boss@example.jp"}
    assert emails(owner1) == {"admin1@example.jp", "viewer1@example.jp"}
    assert emails(admin1) == {"viewer1@example.jp"}
    assert emails(admin12) == {"admin1@example.jp", "viewer1@example.jp", "viewer12@example.jp"}
    assert emails(viewer1) == set()
