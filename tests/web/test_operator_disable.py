"""利用停止 / 利用再開 on the account's operators page: who may switch whom (admins; owners
only for owners; installation owners only by installation owners; never oneself; never
someone the actor could not manage on another account), sessions ending at once, audit."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from enishi.audit.models import AuditEntry
from enishi.operators.models import Operator
from enishi.operators.roles import Role
from enishi.operators.service import set_role
from tests.web.conftest import add_account, add_operator, csrf_of, login


def switch(client: TestClient, account_id: int, operator_id: int, verb: str):
    token = csrf_of(client.get(f"/accounts/{account_id}/overview").text)
    return client.post(
        f"/accounts/{account_id}/settings/operators/{operator_id}/{verb}",
        data={"csrf_token": token},
        follow_redirects=False,
    )


def disabled(state, operator_id: int) -> bool:
    with state.sessions() as session:
        return session.get(Operator, operator_id).disabled


def audit(state, action: str) -> list[AuditEntry]:
    with state.sessions() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def me(state, email: str) -> int:
    with state.sessions() as session:
        return session.scalar(select(Operator.id).where(Operator.email == email))


@pytest.mark.parametrize("role", [Role.VIEWER, Role.MARKETER])
def test_viewers_and_marketers_switch_nobody(login_as, account_id, state, role):
    client = login_as(role)
    target = add_operator(state, "target@example.jp", Role.VIEWER, account_id)
    for verb in ("disable", "enable"):
        response = switch(client, account_id, target, verb)
        assert response.status_code == 403 and "管理者以上の権限が必要です" in response.text
    assert not disabled(state, target)


@pytest.mark.parametrize("role", [Role.ADMIN, Role.OWNER])
def test_admins_and_owners_disable_and_re_enable_a_member(app, login_as, account_id, state, role):
    actor = login_as(role)
    target = add_operator(state, "target@example.jp", Role.MARKETER, account_id)
    with TestClient(app) as theirs:
        assert login(theirs, "target@example.jp").status_code == 303
        response = switch(actor, account_id, target, "disable")
        assert response.status_code == 303
        page = actor.get(response.headers["location"]).text
        assert "オペレーターの利用を停止しました。" in page
        assert 'data-operator="target@example.jp" data-disabled="true"' in page
        assert f"/operators/{target}/enable" in page and f"/operators/{target}/disable" not in page
        # their open session ends at once and they cannot log in again
        kicked = theirs.get(f"/accounts/{account_id}/overview", follow_redirects=False)
        assert kicked.status_code == 303 and kicked.headers["location"].startswith("/login")
        assert login(theirs, "target@example.jp").status_code == 401
    assert disabled(state, target)
    [entry] = audit(state, "operator.disabled")
    assert entry.account_id == account_id and entry.target == f"operator:{target}"
    assert entry.details == {"email": "target@example.jp", "sessions_ended": 1}
    assert switch(actor, account_id, target, "disable").status_code == 303  # no second entry
    assert len(audit(state, "operator.disabled")) == 1
    response = switch(actor, account_id, target, "enable")
    assert response.status_code == 303 and "notice=operator_enabled" in response.headers["location"]
    assert not disabled(state, target)
    [entry] = audit(state, "operator.enabled")
    assert entry.details == {"email": "target@example.jp"}
    with TestClient(app) as theirs:
        assert login(theirs, "target@example.jp").status_code == 303
        # re-enabled with the role they had
        assert theirs.get(f"/accounts/{account_id}/friends").status_code == 200


def test_admins_do_not_switch_owners(login_as, account_id, state):
    admin = login_as(Role.ADMIN)
    account_owner = add_operator(state, "acct-owner@example.jp", Role.OWNER, account_id)
    installation_owner = add_operator(state, "boss@example.jp", None, None, is_owner=True)
    for target in (account_owner, installation_owner):
        response = switch(admin, account_id, target, "disable")
        assert response.status_code == 403 and "利用停止・再開はできません" in response.text
        assert not disabled(state, target)
    page = admin.get(f"/accounts/{account_id}/settings/operators").text
    assert f"/operators/{account_owner}/disable" not in page
    assert f"/operators/{installation_owner}/disable" not in page


def test_account_owners_switch_account_owners_but_not_installation_owners(app, account_id, state):
    add_operator(state, "acct-owner@example.jp", Role.OWNER, account_id)
    other_owner = add_operator(state, "other-owner@example.jp", Role.OWNER, account_id)
    installation_owner = add_operator(state, "boss@example.jp", None, None, is_owner=True)
    with TestClient(app) as owner:
        login(owner, "acct-owner@example.jp")
        assert switch(owner, account_id, other_owner, "disable").status_code == 303
        assert disabled(state, other_owner)
        assert switch(owner, account_id, installation_owner, "disable").status_code == 403
        assert not disabled(state, installation_owner)


def test_installation_owners_switch_installation_owners(login_as, account_id, state):
    owner = login_as(Role.OWNER)
    second = add_operator(state, "second-boss@example.jp", None, None, is_owner=True)
    assert switch(owner, account_id, second, "disable").status_code == 303
    assert disabled(state, second)
    assert switch(owner, account_id, second, "enable").status_code == 303
    assert not disabled(state, second)


@pytest.mark.parametrize("role", [Role.ADMIN, Role.OWNER])
def test_nobody_disables_themselves(login_as, account_id, state, role):
    client = login_as(role)
    myself = me(state, f"{role.key}0@example.jp")
    response = switch(client, account_id, myself, "disable")
    assert (
        response.status_code == 403 and "自分自身の利用を停止することはできません" in response.text
    )
    assert not disabled(state, myself)
    assert client.get(f"/accounts/{account_id}/overview").status_code == 200
    page = client.get(f"/accounts/{account_id}/settings/operators").text
    assert f"/operators/{myself}/disable" not in page


def test_an_admin_here_cannot_lock_out_someone_they_cannot_manage_elsewhere(
    login_as, account_id, state
):
    admin = login_as(Role.ADMIN)
    other = add_account(state, name="二号店", channel_id="2000000002")
    # a viewer here but owner of another shop, and an admin of a shop the admin cannot see
    boss_elsewhere = add_operator(state, "boss-elsewhere@example.jp", Role.VIEWER, account_id)
    stranger = add_operator(state, "stranger@example.jp", Role.VIEWER, account_id)
    with state.sessions.begin() as session:
        set_role(session, session.get(Operator, boss_elsewhere), other, Role.OWNER)
        set_role(session, session.get(Operator, stranger), other, Role.ADMIN)
    for target in (boss_elsewhere, stranger):
        assert switch(admin, account_id, target, "disable").status_code == 403
        assert not disabled(state, target)
    page = admin.get(f"/accounts/{account_id}/settings/operators").text
    assert "/disable" not in page  # nobody on this page is the admin's to switch


def test_operators_of_other_accounts_are_not_found(login_as, account_id, state):
    admin = login_as(Role.ADMIN)
    other = add_account(state, name="二号店", channel_id="2000000002")
    outsider = add_operator(state, "outsider@example.jp", Role.VIEWER, other)
    assert switch(admin, account_id, outsider, "disable").status_code == 404
    assert switch(admin, account_id, 999999, "disable").status_code == 404
    assert not disabled(state, outsider)
