"""Settings pages: general settings, write-only channel credentials, the connection test
against the emulator, API keys, operators — each change audited."""

from __future__ import annotations

from decimal import Decimal

from fastapi.testclient import TestClient
from sqlalchemy import select

from enishi.accounts.models import Account
from enishi.audit.models import AuditEntry
from enishi.operators.roles import Role
from tests.web.conftest import add_operator, csrf_of, login


def audit(state, action: str) -> list[AuditEntry]:
    with state.sessions() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def post(client: TestClient, account_id: int, path: str, data: dict, **kw):
    token = csrf_of(client.get(f"/accounts/{account_id}/settings").text)
    return client.post(
        f"/accounts/{account_id}/settings{path}", data={**data, "csrf_token": token}, **kw
    )


GENERAL = {
    "name": "新しい店名",
    "timezone": "Asia/Tokyo",
    "cost_per_message_jpy": "2.5",
    "monthly_quota": "30000",
    "attribution_window_days": "14",
}


def test_general_settings_are_saved_and_audited(login_as, account_id, state):
    admin = login_as(Role.ADMIN)
    response = post(admin, account_id, "/general", GENERAL, follow_redirects=False)
    assert response.status_code == 303
    page = admin.get(response.headers["location"]).text
    assert "保存しました。" in page and 'value="新しい店名"' in page
    with state.sessions() as session:
        account = session.get(Account, account_id)
        assert (
            account.name,
            account.cost_per_message_jpy,
            account.monthly_quota,
            account.attribution_window_days,
        ) == ("新しい店名", Decimal("2.5"), 30000, 14)
    [entry] = audit(state, "settings.updated")
    assert entry.account_id == account_id and entry.operator_id is not None
    assert entry.details["name"] == ["テスト店", "新しい店名"]
    assert entry.details["monthly_quota"] == [None, 30000]
    assert "timezone" not in entry.details  # unchanged fields are not logged


def test_an_empty_quota_means_no_limit(login_as, account_id, state):
    admin = login_as(Role.ADMIN)
    post(admin, account_id, "/general", GENERAL)
    post(admin, account_id, "/general", {**GENERAL, "monthly_quota": ""})
    with state.sessions() as session:
        assert session.get(Account, account_id).monthly_quota is None


def test_invalid_settings_are_explained_and_not_saved(login_as, account_id, state):
    admin = login_as(Role.ADMIN)
    response = post(
        admin,
        account_id,
        "/general",
        {
            **GENERAL,
            "timezone": "Mars/Olympus",
            "attribution_window_days": "365",
            "cost_per_message_jpy": "abc",
        },
    )
    assert response.status_code == 422
    for message in ("タイムゾーンが正しくありません", "1〜90日", "0〜1000の数値"):
        assert message in response.text
    with state.sessions() as session:
        assert session.get(Account, account_id).name == "テスト店"
    assert audit(state, "settings.updated") == []


def test_channel_credentials_are_write_only(login_as, account_id, state):
    admin = login_as(Role.ADMIN)
    page = admin.get(f"/accounts/{account_id}/settings").text
    assert "token-abc" not in page and "0123456789abcdef0123456789abcdef" not in page
    assert "http://testserver/webhooks/line/2000000001" in page
    post(admin, account_id, "/channel", {"channel_secret": "", "access_token": "new-token-123"})
    with state.sessions() as session:
        account = session.get(Account, account_id)
        assert state.box.open(account.access_token_sealed) == "new-token-123"
        assert state.box.open(account.channel_secret_sealed) == "0123456789abcdef0123456789abcdef"
    assert "new-token-123" not in admin.get(f"/accounts/{account_id}/settings").text
    [entry] = audit(state, "settings.channel_updated")
    assert entry.details == {"changed": ["access_token"]}  # that it changed, never the value


def test_connection_test_shows_the_bot_name(app, login_as, account_id, state, start_emulator):
    emulator = start_emulator(friends=3, display_name="縁テストBot")
    state.settings.line_api_base = emulator.base_url
    admin = login_as(Role.ADMIN)
    post(admin, account_id, "/channel", {"access_token": emulator.token})
    response = post(admin, account_id, "/channel/test", {})
    assert response.status_code == 200
    assert "接続できました" in response.text and "縁テストBot" in response.text


def test_connection_test_shows_lines_error(login_as, account_id, state, start_emulator):
    emulator = start_emulator(friends=3)
    state.settings.line_api_base = emulator.base_url
    admin = login_as(Role.ADMIN)  # the stored token is not the emulator's
    response = post(admin, account_id, "/channel/test", {})
    assert "接続できませんでした" in response.text and "(HTTP 401)" in response.text


def test_connection_test_when_line_is_unreachable(login_as, account_id):
    response = post(login_as(Role.ADMIN), account_id, "/channel/test", {})
    assert "接続できませんでした" in response.text and "LINE unreachable" in response.text


def test_api_keys_are_shown_once_work_and_can_be_revoked(login_as, account_id, client, state):
    admin = login_as(Role.ADMIN)
    response = post(admin, account_id, "/api-keys", {"name": "分析ツール"})
    assert response.status_code == 201
    key = response.text.split('readonly value="')[1].split('"')[0]
    assert key.startswith("ensk_")
    headers = {"authorization": f"Bearer {key}"}
    assert client.get("/api/v1/account", headers=headers).status_code == 200
    listing = admin.get(f"/accounts/{account_id}/settings/api-keys").text
    assert "分析ツール" in listing and key not in listing
    [created] = audit(state, "api_key.created")
    key_id = int(created.target.split(":")[1])
    token = csrf_of(listing)
    response = admin.post(
        f"/accounts/{account_id}/settings/api-keys/{key_id}/revoke",
        data={"csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert client.get("/api/v1/account", headers=headers).status_code == 401
    assert len(audit(state, "api_key.revoked")) == 1
    assert key not in str(created.details)


def test_a_new_operator_gets_a_one_time_password_and_can_log_in(app, login_as, account_id, state):
    admin = login_as(Role.ADMIN)
    response = post(
        admin,
        account_id,
        "/operators",
        {"email": "New@Example.jp", "name": "新人", "role": "marketer"},
    )
    assert response.status_code == 201
    password = response.text.split('readonly value="')[1].split('"')[0]
    assert "初回ログイン時に本人が新しいパスワードへの変更を求められます" in response.text
    with TestClient(app) as newcomer:
        response = login(newcomer, "new@example.jp", password)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/password?next=")
        token = csrf_of(newcomer.get("/password").text)
        newcomer.post(
            "/password",
            data={
                "current_password": password,
                "new_password": "my own secret 2025",
                "new_password_again": "my own secret 2025",
                "csrf_token": token,
            },
        )
        assert newcomer.get(f"/accounts/{account_id}/segments").status_code == 200
        assert newcomer.get(f"/accounts/{account_id}/settings/api-keys").status_code == 403
    [entry] = audit(state, "operator.added")
    assert entry.details == {"email": "new@example.jp", "role": "marketer", "new": True}
    assert password not in str(entry.details)


def test_roles_are_changed_and_removed_within_the_actors_rights(login_as, account_id, state):
    admin = login_as(Role.ADMIN)
    member = add_operator(state, "member@example.jp", Role.VIEWER, account_id)
    owner_on_account = add_operator(state, "acct-owner@example.jp", Role.OWNER, account_id)
    assert (
        post(
            admin,
            account_id,
            f"/operators/{member}/role",
            {"role": "admin"},
            follow_redirects=False,
        ).status_code
        == 303
    )
    [changed] = audit(state, "operator.role_changed")
    assert changed.details["role"] == ["viewer", "admin"]
    # admins neither grant nor touch owners
    assert (
        post(admin, account_id, f"/operators/{member}/role", {"role": "owner"}).status_code == 403
    )
    assert post(admin, account_id, f"/operators/{owner_on_account}/remove", {}).status_code == 403
    assert (
        post(
            admin, account_id, "/operators", {"email": "boss@example.jp", "role": "owner"}
        ).status_code
        == 403
    )
    assert (
        post(
            admin, account_id, f"/operators/{member}/remove", {}, follow_redirects=False
        ).status_code
        == 303
    )
    assert len(audit(state, "operator.removed")) == 1
    page = admin.get(f"/accounts/{account_id}/settings/operators").text
    assert "member@example.jp" not in page and "acct-owner@example.jp" in page


def test_nobody_changes_their_own_role(login_as, account_id, state):
    owner = login_as(Role.OWNER)
    with state.sessions() as session:
        from enishi.operators.service import operator_by_email

        me = operator_by_email(session, "owner0@example.jp")
    assert (
        post(owner, account_id, f"/operators/{me.id}/role", {"role": "viewer"}).status_code == 403
    )


def test_adding_an_existing_member_twice_is_explained(login_as, account_id, state):
    admin = login_as(Role.ADMIN)
    add_operator(state, "member@example.jp", Role.VIEWER, account_id)
    response = post(
        admin, account_id, "/operators", {"email": "member@example.jp", "role": "marketer"}
    )
    assert response.status_code == 422 and "既にこのアカウントに参加しています" in response.text


def test_the_audit_page_lists_changes_newest_first(login_as, account_id, state):
    admin = login_as(Role.ADMIN)
    post(admin, account_id, "/general", GENERAL)
    post(admin, account_id, "/api-keys", {"name": "k1"})
    page = admin.get(f"/accounts/{account_id}/settings/audit").text
    assert page.index("APIキー発行") < page.index("設定変更")
    assert "admin0@example.jp" in page
    english = admin.get(f"/accounts/{account_id}/settings/audit?lang=en").text
    assert "API key created" in english and "Settings changed" in english
