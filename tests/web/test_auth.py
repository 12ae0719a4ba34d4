"""Login, logout, logout everywhere, throttling, redirects after login, cookies."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from enishi.audit.models import AuditEntry
from enishi.operators.models import OperatorSession
from enishi.operators.roles import Role
from enishi.operators.sessions import IDLE_TIMEOUT, operator_for_token
from tests.conftest import make_settings
from tests.web.conftest import PASSWORD, add_operator, csrf_of, login


@pytest.fixture
def owner(state, account_id) -> str:
    add_operator(state, "owner@example.jp", None, None, is_owner=True)
    return "owner@example.jp"


def test_pages_need_a_login(client, account_id):
    response = client.get(f"/accounts/{account_id}/settings?x=1", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == (
        f"/login?next=%2Faccounts%2F{account_id}%2Fsettings%3Fx%3D1"
    )


def test_login_sets_a_safe_session_cookie_and_follows_next(client, owner, account_id, state):
    response = login(client, owner, next_path=f"/accounts/{account_id}/friends")
    assert response.status_code == 303
    assert response.headers["location"] == f"/accounts/{account_id}/friends"
    cookie = next(
        h for h in response.headers.get_list("set-cookie") if h.startswith("enishi_session=")
    )
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    token = cookie.split(";")[0].split("=", 1)[1]
    with state.sessions() as session:  # stored hashed, never as the token itself
        stored = session.scalars(select(OperatorSession.token_hash)).all()
        assert token not in stored and len(stored) == 1
        assert operator_for_token(session, token) is not None
    assert client.get(f"/accounts/{account_id}/friends").status_code == 200


def test_cookie_is_secure_behind_https(database_url, tmp_path):
    from enishi.app import create_app
    from tests.web.conftest import add_account

    app = create_app(
        make_settings(database_url, public_base_url="https://crm.example.jp"), run_worker=False
    )
    with TestClient(app, base_url="https://testserver") as client:
        state = app.state.enishi
        add_account(state)
        add_operator(state, "owner@example.jp", None, None, is_owner=True)
        response = login(client, "owner@example.jp")
        cookie = next(
            h for h in response.headers.get_list("set-cookie") if h.startswith("enishi_session=")
        )
        assert "Secure" in cookie


def test_wrong_password_is_refused_in_japanese(client, owner):
    response = login(client, owner, password="wrong password")
    assert response.status_code == 401
    assert "メールアドレスまたはパスワードが違います。" in response.text
    assert "enishi_session" not in client.cookies
    assert login(client, "nobody@example.jp").status_code == 401


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example",
        "javascript:alert(1)",
        "/%0d%0aSet-Cookie:x",
        "\\\\evil.example",
    ],
)
def test_next_never_leaves_the_site(client, owner, target):
    response = login(client, owner, next_path=target)
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith("/") and not location.startswith(("//", "/\\"))
    assert "evil" not in location or location == target  # only a local path survives


def test_login_page_redirect_when_signed_in_is_safe_too(client, owner):
    login(client, owner)
    response = client.get("/login?next=//evil.example", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/"


def test_too_many_failures_for_an_email_answer_429_in_japanese(client, owner):
    for _ in range(5):
        assert login(client, owner, password="wrong password").status_code == 401
    response = login(client, owner)  # even the right password waits now
    assert response.status_code == 429
    assert "15分ほど待ってから" in response.text


def test_failures_from_one_address_are_throttled_across_emails(client, owner):
    for n in range(20):
        assert login(client, f"user{n}@example.jp", password="x" * 12).status_code == 401
    assert login(client, owner).status_code == 429


def test_logout_ends_this_session_only(app, client, owner, account_id, state):
    login(client, owner)
    with TestClient(app) as other:
        login(other, owner)
        page = client.get(f"/accounts/{account_id}/overview")
        response = client.post(
            "/logout", data={"csrf_token": csrf_of(page.text)}, follow_redirects=False
        )
        assert response.status_code == 303 and response.headers["location"] == "/login"
        assert (
            client.get(f"/accounts/{account_id}/overview", follow_redirects=False).status_code
            == 303
        )
        assert other.get(f"/accounts/{account_id}/overview").status_code == 200


def test_logout_everywhere_ends_every_session_and_is_audited(app, client, owner, account_id, state):
    login(client, owner)
    with TestClient(app) as other:
        login(other, owner)
        page = client.get(f"/accounts/{account_id}/overview")
        response = client.post(
            "/logout/all", data={"csrf_token": csrf_of(page.text)}, follow_redirects=False
        )
        assert response.status_code == 303
        for c in (client, other):
            assert (
                c.get(f"/accounts/{account_id}/overview", follow_redirects=False).status_code == 303
            )
    with state.sessions() as session:
        assert session.scalar(select(func.count()).select_from(OperatorSession)) == 0
        actions = session.scalars(select(AuditEntry.action)).all()
        assert "operator.logout_everywhere" in actions


def test_idle_and_disabled_sessions_are_refused(client, owner, account_id, state):
    login(client, owner)
    token = client.cookies["enishi_session"]
    with state.sessions.begin() as session:
        found = operator_for_token(session, token)
        assert found is not None
        later = found[1].last_seen_at + IDLE_TIMEOUT + timedelta(seconds=1)
        assert operator_for_token(session, token, now=later) is None
        found[0].disabled = True
    assert client.get(f"/accounts/{account_id}/overview", follow_redirects=False).status_code == 303


def test_home_goes_to_the_first_account_or_explains(login_as, account_id, state):
    owner = login_as(Role.OWNER)
    response = owner.get("/", follow_redirects=False)
    assert response.headers["location"] == f"/accounts/{account_id}/overview"
    add_operator(state, "alone@example.jp", None, None)
    from fastapi.testclient import TestClient as Client

    with Client(owner.app) as alone:
        login(alone, "alone@example.jp", PASSWORD)
        page = alone.get("/")
        assert page.status_code == 200 and "アカウントがありません" in page.text
