"""流入経路 page: routes with QR codes and counts, create / edit for marketers (audited),
server-side pagination."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from enishi.accounts.models import Account
from enishi.audit.actor import Actor
from enishi.audit.models import AuditEntry
from enishi.friends.service import get_or_create_friend
from enishi.inflow.models import InflowRoute
from enishi.inflow.service import create_route, route_counts
from enishi.operators.roles import Role
from enishi.web.pages.routes import PAGE_SIZE
from tests.web.conftest import add_account, csrf_of


def audit(state, action: str) -> list[AuditEntry]:
    """The dashboard's entries (the setup writes through the services as the CLI)."""
    with state.sessions() as session:
        query = select(AuditEntry).where(
            AuditEntry.action == action, AuditEntry.operator_id.is_not(None)
        )
        return list(session.scalars(query))


def routes_of(state, account_id: int) -> list[InflowRoute]:
    with state.sessions() as session:
        return list(
            session.scalars(
                select(InflowRoute)
                .where(InflowRoute.account_id == account_id)
                .order_by(InflowRoute.id)
            )
        )


def post(client, account_id: int, path: str, data: dict, **kw):
    token = csrf_of(client.get(f"/accounts/{account_id}/routes").text)
    return client.post(
        f"/accounts/{account_id}/routes{path}", data={**data, "csrf_token": token}, **kw
    )


def cell(html: str, route_id: int, field: str) -> str:
    row = re.search(rf'<tr data-route-id="{route_id}">(.*?)</tr>', html, re.S).group(1)
    return re.search(rf'data-field="{field}">([^<]*)<', row).group(1).strip()


@pytest.mark.parametrize("role", list(Role))
def test_every_role_sees_routes_and_only_marketers_may_create(login_as, account_id, state, role):
    client = login_as(role)
    page = client.get(f"/accounts/{account_id}/routes")
    assert page.status_code == 200
    may_edit = role >= Role.MARKETER
    assert ('data-testid="route-create"' in page.text) is may_edit
    response = post(client, account_id, "", {"name": f"チラシ{role.key}"}, follow_redirects=False)
    assert response.status_code == (303 if may_edit else 403)
    assert len(routes_of(state, account_id)) == (1 if may_edit else 0)
    assert len(audit(state, "route.created")) == (1 if may_edit else 0)


def test_a_viewer_cannot_edit_a_route(login_as, account_id, state):
    with state.sessions.begin() as session:
        route_id = create_route(
            session, session.get(Account, account_id), "店頭", "shop", actor=Actor.cli()
        ).id
    viewer = login_as(Role.VIEWER)
    assert f"/routes/{route_id}" not in viewer.get(f"/accounts/{account_id}/routes").text
    response = post(viewer, account_id, f"/{route_id}", {"name": "x", "code": "x"})
    assert response.status_code == 403
    assert [r.name for r in routes_of(state, account_id)] == ["店頭"]


def test_created_route_shows_its_qr_code_and_url(login_as, account_id, state):
    marketer = login_as(Role.MARKETER)
    response = post(
        marketer, account_id, "", {"name": "店頭POP", "code": "shop-pop"}, follow_redirects=False
    )
    assert response.status_code == 303
    html = marketer.get(response.headers["location"]).text
    assert "保存しました。" in html and "店頭POP" in html
    assert 'value="http://testserver/r/shop-pop"' in html
    qr = re.search(r'<img class="qr" src="([^"]+)"', html).group(1)
    png = marketer.get(qr.replace("&amp;", "&"))
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    [route] = routes_of(state, account_id)
    [entry] = audit(state, "route.created")
    assert entry.target == f"route:{route.id}" and entry.operator_id is not None
    assert entry.details == {"name": "店頭POP", "code": "shop-pop"}


def test_an_empty_code_is_generated(login_as, account_id, state):
    post(login_as(Role.MARKETER), account_id, "", {"name": "Instagram", "code": ""})
    [route] = routes_of(state, account_id)
    assert re.fullmatch(r"[A-Za-z0-9_-]{8}", route.code)


def test_invalid_and_taken_codes_are_explained_and_not_saved(login_as, account_id, state):
    marketer = login_as(Role.MARKETER)
    bad = post(marketer, account_id, "", {"name": "チラシ", "code": "日本語"})
    assert bad.status_code == 422 and "半角英数字" in bad.text
    assert 'value="チラシ"' in bad.text  # the form keeps what was typed
    post(marketer, account_id, "", {"name": "チラシ", "code": "flyer"})
    taken = post(marketer, account_id, "", {"name": "別のチラシ", "code": "flyer"})
    assert taken.status_code == 422 and "すでに使われています" in taken.text
    empty = post(marketer, account_id, "", {"name": "  ", "code": "x1"})
    assert empty.status_code == 422 and "1〜200文字" in empty.text
    assert [r.code for r in routes_of(state, account_id)] == ["flyer"]
    assert len(audit(state, "route.created")) == 1


def test_editing_a_route_is_audited_with_its_changes(login_as, account_id, state):
    marketer = login_as(Role.MARKETER)
    post(marketer, account_id, "", {"name": "チラシ", "code": "flyer"})
    post(marketer, account_id, "", {"name": "店頭", "code": "shop"})
    flyer, shop = routes_of(state, account_id)
    response = post(
        marketer,
        account_id,
        f"/{flyer.id}",
        {"name": "チラシ（春）", "code": "flyer-spring"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    [entry] = audit(state, "route.updated")
    assert entry.details == {"name": ["チラシ", "チラシ（春）"], "code": ["flyer", "flyer-spring"]}
    # a taken code: nothing changes, not even the name typed with it
    taken = post(marketer, account_id, f"/{flyer.id}", {"name": "変更", "code": "shop"})
    assert taken.status_code == 422 and "すでに使われています" in taken.text
    assert [(r.name, r.code) for r in routes_of(state, account_id)] == [
        ("チラシ（春）", "flyer-spring"),
        ("店頭", "shop"),
    ]
    assert len(audit(state, "route.updated")) == 1


def test_another_accounts_route_is_not_found(login_as, account_id, state):
    other = add_account(state, name="他社", channel_id="2000000002")
    with state.sessions.begin() as session:
        foreign = create_route(
            session, session.get(Account, other), "他社の経路", "theirs", actor=Actor.cli()
        )
        foreign_id = foreign.id
    owner = login_as(Role.OWNER)
    response = post(owner, account_id, f"/{foreign_id}", {"name": "乗っ取り", "code": "theirs"})
    assert response.status_code == 404
    assert [r.name for r in routes_of(state, other)] == ["他社の経路"]


def test_counts_on_the_page_are_the_services_counts(login_as, account_id, state):
    statuses = {"flyer": ["following"] * 3 + ["blocked"] * 2, "shop": ["following", "unknown"]}
    with state.sessions.begin() as session:
        account = session.get(Account, account_id)
        n = 0
        for code, friends in statuses.items():
            route = create_route(session, account, code, code, actor=Actor.cli())
            for status in friends:
                n += 1
                friend = get_or_create_friend(session, account_id, f"U{n:032x}")
                friend.status, friend.inflow_route_id = status, route.id
        create_route(session, account, "empty", "empty", actor=Actor.cli())
    html = login_as(Role.VIEWER).get(f"/accounts/{account_id}/routes").text
    with state.sessions() as session:
        routes = list(session.scalars(select(InflowRoute)))
        counts = route_counts(session, account_id, routes)
    assert {counts[r.id]["added"] for r in routes} == {5, 2, 0}  # the world is as built
    for route in routes:
        expected = counts[route.id]
        for field in ("added", "following", "blocked", "anonymous_visits"):
            assert cell(html, route.id, field) == str(expected[field]), (route.code, field)
        rate = cell(html, route.id, "block_rate")
        if expected["added"]:
            assert rate == f"{expected['blocked'] / expected['added']:.1%}"
        else:
            assert rate == "—"


def test_routes_are_paginated_on_the_server(login_as, account_id, state):
    total = PAGE_SIZE + 5
    with state.sessions.begin() as session:
        account = session.get(Account, account_id)
        for i in range(total):
            create_route(session, account, f"経路{i:02d}", f"r{i:02d}", actor=Actor.cli())
    viewer = login_as(Role.VIEWER)
    first = viewer.get(f"/accounts/{account_id}/routes").text
    second = viewer.get(f"/accounts/{account_id}/routes?page=2").text
    shown_first = re.findall(r'<tr data-route-id="(\d+)">', first)
    shown_second = re.findall(r'<tr data-route-id="(\d+)">', second)
    assert len(shown_first) == PAGE_SIZE and len(shown_second) == 5
    assert not set(shown_first) & set(shown_second)
    assert "経路24" in first and "経路00" in second  # newest first
    assert 'rel="next"' in first and 'rel="prev"' in second
    # nonsense or too-large page numbers fall back to a page that exists
    assert viewer.get(f"/accounts/{account_id}/routes?page=abc").status_code == 200
    assert "経路00" in viewer.get(f"/accounts/{account_id}/routes?page=99").text
