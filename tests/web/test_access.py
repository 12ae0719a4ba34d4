"""Every dashboard route, for every role: who may see it, who may change things, and that
no unsafe request passes without the CSRF token of its own session."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from enishi.audit.models import AuditEntry
from enishi.operators.roles import Role
from enishi.web.routes import PAGE_MODULES
from tests.web.conftest import add_account, csrf_of


def _walk(routes, prefix: str = ""):
    for route in routes:
        if hasattr(route, "original_router"):  # a router included in a page module
            yield from _walk(route.original_router.routes, prefix + route.include_context.prefix)
        else:
            yield prefix + route.path, route.methods


def web_routes(method: str) -> list[str]:
    """Every dashboard route of `method`, the pages other engineers add included."""
    return sorted(
        {
            path
            for module in PAGE_MODULES
            for path, methods in _walk(module.router.routes)
            if method in methods
        }
    )


def concrete(path: str, account_id: int) -> str:
    return re.sub(r"{\w+}", "1", path.replace("{account_id}", str(account_id)))


ACCOUNT_PAGES = {  # GET page → the least role that may open it
    "/accounts/{account_id}/overview": Role.VIEWER,
    "/accounts/{account_id}/friends": Role.VIEWER,
    "/accounts/{account_id}/segments": Role.VIEWER,
    "/accounts/{account_id}/deliveries": Role.VIEWER,
    "/accounts/{account_id}/analysis/clicks": Role.VIEWER,
    "/accounts/{account_id}/routes": Role.VIEWER,
    "/accounts/{account_id}/settings": Role.VIEWER,
    "/accounts/{account_id}/settings/api-keys": Role.ADMIN,
    "/accounts/{account_id}/settings/operators": Role.ADMIN,
    "/accounts/{account_id}/settings/audit": Role.ADMIN,
}
SETTINGS_CHANGES = [p for p in web_routes("POST") if "/settings" in p]


def test_the_table_lists_real_pages():
    assert set(ACCOUNT_PAGES) <= set(web_routes("GET"))


@pytest.mark.parametrize("role", list(Role))
def test_each_role_sees_the_pages_it_may(login_as, account_id, role):
    client = login_as(role)
    for path, least in ACCOUNT_PAGES.items():
        response = client.get(concrete(path, account_id))
        expected = 200 if role >= least else 403
        assert response.status_code == expected, (path, role, response.status_code)
        if expected == 403:
            assert "権限が必要です" in response.text


@pytest.mark.parametrize("role", [Role.VIEWER, Role.MARKETER])
def test_viewers_and_marketers_change_no_settings(login_as, account_id, role, state):
    client = login_as(role)
    token = csrf_of(client.get(f"/accounts/{account_id}/overview").text)
    for path in SETTINGS_CHANGES:
        response = client.post(
            concrete(path, account_id), data={"csrf_token": token, "name": "x", "role": "owner"}
        )
        assert response.status_code == 403, (path, response.status_code)
    with state.sessions() as session:
        assert (
            session.scalar(
                select(func.count())
                .select_from(AuditEntry)
                .where(AuditEntry.account_id == account_id)
            )
            == 0
        )


def test_accounts_without_a_role_are_not_found(login_as, account_id, state):
    other = add_account(state, name="他社", channel_id="2000000002")
    admin = login_as(Role.ADMIN)
    token = csrf_of(admin.get(f"/accounts/{account_id}/overview").text)
    for path in ACCOUNT_PAGES:
        assert admin.get(concrete(path, other)).status_code == 404
    assert admin.get("/accounts/999999/overview").status_code == 404
    for path in SETTINGS_CHANGES:
        assert admin.post(concrete(path, other), data={"csrf_token": token}).status_code == 404


def test_the_switcher_lists_only_accounts_with_a_role(login_as, account_id, state):
    add_account(state, name="他社アカウント", channel_id="2000000002")
    viewer = login_as(Role.VIEWER)
    page = viewer.get(f"/accounts/{account_id}/friends").text
    assert "テスト店" in page and "他社アカウント" not in page
    owner = login_as(Role.OWNER)  # an installation owner sees every account
    assert "他社アカウント" in owner.get(f"/accounts/{account_id}/friends").text


def test_every_unsafe_route_refuses_a_forged_post(login_as, account_id, state):
    owner = login_as(Role.OWNER)
    other = login_as(Role.ADMIN)
    foreign_token = csrf_of(other.get(f"/accounts/{account_id}/overview").text)
    posts = web_routes("POST")
    assert len(posts) >= 9
    for path in posts:
        url = concrete(path, account_id)
        for data in ({}, {"csrf_token": "0" * 64}, {"csrf_token": foreign_token}):
            response = owner.post(url, data={**data, "name": "forged"}, follow_redirects=False)
            assert response.status_code == 403, (path, data, response.status_code)
            assert "不正な送信" in response.text
        response = owner.post(url, headers={"x-csrf-token": "f" * 64}, follow_redirects=False)
        assert response.status_code == 403
    with state.sessions() as session:
        assert (
            session.scalar(
                select(func.count())
                .select_from(AuditEntry)
                .where(AuditEntry.account_id == account_id)
            )
            == 0
        )


def test_the_csrf_header_works_for_scripts(login_as, account_id):
    owner = login_as(Role.OWNER)
    token = csrf_of(owner.get(f"/accounts/{account_id}/settings").text)
    response = owner.post(
        f"/accounts/{account_id}/settings/api-keys",
        data={"name": "script"},
        headers={"x-csrf-token": token},
    )
    assert response.status_code == 201


def test_pages_carry_security_headers(login_as, account_id):
    response = login_as(Role.VIEWER).get(f"/accounts/{account_id}/overview")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert response.headers["cache-control"] == "no-store"


def test_the_api_webhooks_and_public_pages_still_answer(client, api_account):
    assert client.get("/api/v1/account", headers=api_account.headers).status_code == 200
    assert client.get("/api/v1/openapi.json").status_code == 200
    assert client.post(f"/webhooks/line/{api_account.channel_id}", content=b"{}").status_code == 401
    assert client.get("/c/unknown", follow_redirects=False).status_code in (302, 404)
    assert client.get("/r/unknown").status_code == 404


def test_plotly_js_is_served_from_the_installed_package(client):
    from enishi.web import plotly_js_path

    response = client.get("/static/vendor/plotly.min.js")
    assert response.status_code == 200
    assert response.content == plotly_js_path().read_bytes()
    assert "javascript" in response.headers["content-type"]
    assert client.get("/static/charts.js").status_code == 200
    assert client.get("/static/app.css").status_code == 200
