"""パスワード変更: every role changes its own password (current one required, the CLI's
rule, other sessions ended, audited); a one-time password locks every other page until it
is changed."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from enishi.audit.models import AuditEntry
from enishi.operators.models import Operator
from enishi.operators.passwords import verify_password
from enishi.operators.roles import Role
from enishi.operators.service import operator_by_email
from tests.web.conftest import PASSWORD, add_operator, csrf_of, login
from tests.web.test_access import ACCOUNT_PAGES, concrete

NEW = "a brand new passphrase"


def change(client: TestClient, current: str, new: str, again: str | None = None, **extra):
    token = csrf_of(client.get("/password").text)
    data = {
        "current_password": current,
        "new_password": new,
        "new_password_again": new if again is None else again,
        "csrf_token": token,
        **extra,
    }
    return client.post("/password", data=data, follow_redirects=False)


def stored(state, email: str) -> Operator:
    with state.sessions() as session:
        operator = operator_by_email(session, email)
        session.expunge(operator)
        return operator


def audit(state, action: str) -> list[AuditEntry]:
    with state.sessions() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


@pytest.mark.parametrize("role", list(Role))
def test_every_role_changes_its_password_and_other_sessions_end(
    app, login_as, account_id, state, role
):
    client = login_as(role)
    email = f"{role.key}0@example.jp"
    with TestClient(app) as elsewhere:
        assert login(elsewhere, email).status_code == 303
        old_cookie = client.cookies["enishi_session"]
        response = change(client, PASSWORD, NEW)
        assert response.status_code == 303
        assert response.headers["location"] == "/?notice=password_changed"
        # this browser goes on, on a fresh session; the other device is logged out
        assert client.cookies["enishi_session"] != old_cookie
        page = client.get(response.headers["location"])
        assert page.status_code == 200 and "パスワードを変更しました。" in page.text
        assert page.url.path == f"/accounts/{account_id}/overview"
        gone = elsewhere.get(f"/accounts/{account_id}/overview", follow_redirects=False)
        assert gone.status_code == 303 and gone.headers["location"].startswith("/login")
    assert verify_password(stored(state, email).password_hash, NEW)
    with TestClient(app) as later:
        assert login(later, email, PASSWORD).status_code == 401
        assert login(later, email, NEW).status_code == 303
    [entry] = audit(state, "operator.password_changed")
    assert entry.account_id is None and entry.operator_id == stored(state, email).id
    assert entry.details == {"other_sessions_ended": 1, "one_time": False}
    assert NEW not in str(entry.details) and PASSWORD not in str(entry.details)


def test_the_current_password_is_required_and_guesses_are_throttled(
    app, login_as, account_id, state
):
    client = login_as(Role.VIEWER)
    for _ in range(5):
        response = change(client, "not my password", NEW)
        assert response.status_code == 422 and "現在のパスワードが違います。" in response.text
    response = change(client, PASSWORD, NEW)  # even the right one waits now
    assert response.status_code == 429 and "15分ほど待ってから" in response.text
    assert verify_password(stored(state, "viewer0@example.jp").password_hash, PASSWORD)
    with TestClient(app) as other:  # the same count as failed logins
        assert login(other, "viewer0@example.jp").status_code == 429
    assert audit(state, "operator.password_changed") == []


@pytest.mark.parametrize(
    "new,again,message",
    [
        ("short", None, "10文字以上"),
        ("x" * 257, None, "256文字以内"),
        ("abababababab", None, "5種類以上の文字"),
        ("viewer0@example.jp!", None, "メールアドレスを含めない"),
        ("My Viewer0 secret", None, "メールアドレスを含めない"),
        (PASSWORD, None, "現在のパスワードと違うもの"),
        (NEW, NEW + "!", "確認用と一致しません"),
    ],
)
def test_weak_or_mistyped_passwords_are_refused(login_as, account_id, state, new, again, message):
    client = login_as(Role.VIEWER)
    cookie = client.cookies["enishi_session"]
    response = change(client, PASSWORD, new, again)
    assert response.status_code == 422 and message in response.text
    assert verify_password(stored(state, "viewer0@example.jp").password_hash, PASSWORD)
    assert client.cookies["enishi_session"] == cookie
    assert client.get(f"/accounts/{account_id}/overview").status_code == 200


def test_the_password_page_needs_a_login(client):
    response = client.get("/password", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/login")


def test_the_header_menu_links_the_page_in_both_languages(login_as, account_id):
    client = login_as(Role.MARKETER)
    assert 'href="/password"' in client.get(f"/accounts/{account_id}/overview").text
    english = client.get("/password?lang=en").text
    assert "Change password" in english and "Current password" in english


def test_a_one_time_password_opens_only_the_password_page(app, account_id, state):
    add_operator(state, "fresh@example.jp", Role.ADMIN, account_id, one_time=True)
    with TestClient(app) as client:
        response = login(client, "fresh@example.jp", next_path=f"/accounts/{account_id}/friends")
        assert response.status_code == 303
        assert response.headers["location"] == (
            f"/password?next=%2Faccounts%2F{account_id}%2Ffriends"
        )
        page = client.get(response.headers["location"])
        assert page.status_code == 200 and 'data-testid="password-required"' in page.text
        for path in [*ACCOUNT_PAGES, "/", "/settings/audit"]:
            refused = client.get(concrete(path, account_id), follow_redirects=False)
            assert refused.status_code == 303, path
            assert refused.headers["location"].startswith("/password?next="), path
        token = csrf_of(page.text)
        refused = client.post(
            f"/accounts/{account_id}/settings/api-keys",
            data={"name": "before the change", "csrf_token": token},
            follow_redirects=False,
        )
        assert refused.status_code == 303 and refused.headers["location"] == "/password?next=%2F"
        assert audit(state, "api_key.created") == []
        response = change(client, PASSWORD, NEW, next=f"/accounts/{account_id}/friends")
        assert response.headers["location"] == (
            f"/accounts/{account_id}/friends?notice=password_changed"
        )
        assert client.get(f"/accounts/{account_id}/settings/api-keys").status_code == 200
    assert stored(state, "fresh@example.jp").must_change_password is False
    [entry] = audit(state, "operator.password_changed")
    assert entry.details == {"other_sessions_ended": 0, "one_time": True}
    with TestClient(app) as again:  # the next login goes straight where it was going
        response = login(
            again, "fresh@example.jp", NEW, next_path=f"/accounts/{account_id}/friends"
        )
        assert response.headers["location"] == f"/accounts/{account_id}/friends"


def test_an_operator_with_a_one_time_password_can_still_log_out(app, account_id, state):
    add_operator(state, "fresh@example.jp", Role.VIEWER, account_id, one_time=True)
    with TestClient(app) as client:
        login(client, "fresh@example.jp")
        token = csrf_of(client.get("/password").text)
        response = client.post("/logout/all", data={"csrf_token": token}, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith("/login")
        assert client.get("/password", follow_redirects=False).status_code == 303
    assert len(audit(state, "operator.logout_everywhere")) == 1
