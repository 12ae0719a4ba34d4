"""監査ログ: times in the account's time zone; the installation's own entries (logins,
logout everywhere, password changes, CLI changes) on /settings/audit for installation
owners only."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from enishi.accounts.models import Account
from enishi.accounts.service import create_api_key
from enishi.audit.actor import Actor
from enishi.audit.service import record
from enishi.operators.roles import Role
from tests.web.conftest import add_operator, login

AT = datetime(2025, 1, 15, 0, 30, 5, tzinfo=UTC)


def add_entry(state, action: str, account_id: int | None, at: datetime = AT, **details) -> None:
    with state.sessions.begin() as session:
        entry = record(
            session, actor=Actor.cli(), action=action, account_id=account_id, details=details
        )
        entry.at = at


@pytest.mark.parametrize(
    "timezone,shown",
    [("Asia/Tokyo", "2025-01-15 09:30:05"), ("America/New_York", "2025-01-14 19:30:05")],
)
def test_account_entries_are_shown_in_the_accounts_time_zone(
    login_as, account_id, state, timezone, shown
):
    with state.sessions.begin() as session:
        session.get(Account, account_id).timezone = timezone
    add_entry(state, "segment.created", account_id)
    page = login_as(Role.ADMIN).get(f"/accounts/{account_id}/settings/audit").text
    assert f"日時 ({timezone})" in page
    assert f'<time datetime="2025-01-15T00:30:05+00:00">{shown}</time>' in page


def test_installation_entries_are_for_installation_owners(app, login_as, account_id, state):
    owner = login_as(Role.OWNER)  # logging in wrote an operator.login entry
    add_entry(state, "settings.updated", account_id)
    add_entry(state, "operator.password_reset", None, email="x@example.jp", via="cli")
    page = owner.get("/settings/audit")
    assert page.status_code == 200
    assert "インストールの監査ログ" in page.text and "日時 (Asia/Tokyo)" in page.text
    assert 'data-action="operator.login"' in page.text
    assert "2025-01-15 09:30:05" in page.text and "パスワード再発行（CLI）" in page.text
    assert 'data-action="settings.updated"' not in page.text  # that one is the account's
    account_page = owner.get(f"/accounts/{account_id}/settings/audit").text
    assert 'data-action="settings.updated"' in account_page
    assert 'data-action="operator.login"' not in account_page
    english = owner.get("/settings/audit?lang=en").text
    assert "Installation audit log" in english and "Password reset (CLI)" in english


def test_installation_entries_filter_by_action_and_page(login_as, state):
    owner = login_as(Role.OWNER)
    for n in range(55):
        add_entry(state, "operator.logout_everywhere", None, sessions=n)
    page = owner.get("/settings/audit?action=operator.logout_everywhere").text
    assert page.count('data-action="operator.logout_everywhere"') == 50
    assert 'data-action="operator.login"' not in page
    assert "sessions: 54</code>" in page and "sessions: 4</code>" not in page
    older = page.split('<a href="?action=operator.logout_everywhere&amp;before=')[1].split('"')[0]
    rest = owner.get(f"/settings/audit?action=operator.logout_everywhere&before={older}").text
    assert rest.count('data-action="operator.logout_everywhere"') == 5
    assert "sessions: 4</code>" in rest and "さらに古い記録" not in rest


@pytest.mark.parametrize("role", [Role.VIEWER, Role.MARKETER, Role.ADMIN])
def test_other_roles_cannot_open_the_installation_log(login_as, account_id, role):
    client = login_as(role)
    response = client.get("/settings/audit")
    assert response.status_code == 403
    assert "インストールのオーナーだけが見られます" in response.text
    assert 'href="/settings/audit"' not in client.get(f"/accounts/{account_id}/overview").text


def test_account_owners_are_not_installation_owners(app, account_id, state):
    add_operator(state, "acct-owner@example.jp", Role.OWNER, account_id)
    with TestClient(app) as client:
        login(client, "acct-owner@example.jp")
        assert client.get("/settings/audit").status_code == 403


def test_the_header_menu_links_the_installation_log_for_owners(login_as, account_id):
    owner = login_as(Role.OWNER)
    assert 'href="/settings/audit"' in owner.get(f"/accounts/{account_id}/overview").text


def test_the_installation_log_needs_a_login(client):
    response = client.get("/settings/audit", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/login")


def test_api_key_and_cli_actors_are_named_with_where_they_came_from(login_as, account_id, state):
    with state.sessions.begin() as session:
        key, _ = create_api_key(
            session, session.get(Account, account_id), "在庫システム", actor=Actor.cli()
        )
        record(
            session,
            actor=Actor.api_key(key.id, "203.0.113.5"),
            action="segment.deleted",
            account_id=account_id,
        )
    client = login_as(Role.ADMIN)
    page = client.get(f"/accounts/{account_id}/settings/audit").text
    assert "APIキー「在庫システム」" in page and "<td>203.0.113.5</td>" in page
    assert re.search(r'data-testid="actor">CLI（[^）]+）</td>\s*<td>cli</td>', page)
    english = client.get(f"/accounts/{account_id}/settings/audit?lang=en").text
    assert "API key “在庫システム”" in english and "By" in english
