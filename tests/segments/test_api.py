"""/api/v1/segments: validate, preview, saved segments — with JSON errors naming the path."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from enishi.accounts.service import create_account
from enishi.audit.actor import Actor
from enishi.friends.models import AttributeDef, Friend, Tag
from enishi.inflow.models import InflowRoute

NOW = datetime(2025, 3, 1, tzinfo=UTC)
CLICKED_50 = {"version": 1, "where": {"clicked": {"within_days": 50}}}


@pytest.fixture
def shop(client, state, api_account):
    """Friends of the API account: 30 following who clicked recently, 10 who did not,
    5 blocked recent clickers; an attribute, a tag and a route. Another account too."""
    with state.sessions.begin() as session:
        session.add_all(
            [
                AttributeDef(
                    account_id=api_account.id,
                    key="gender",
                    label="性別",
                    type="choice",
                    choices=["female", "male"],
                ),
                AttributeDef(account_id=api_account.id, key="age", label="年齢", type="number"),
                AttributeDef(account_id=api_account.id, key="pref", label="都道府県", type="text"),
                Tag(account_id=api_account.id, name="VIP"),
                InflowRoute(account_id=api_account.id, code="shop_qr", name="店頭QR"),
            ]
        )
        for n in range(45):
            status = "blocked" if n >= 40 else "following"
            clicked = NOW - timedelta(days=3) if n < 30 or n >= 40 else NOW - timedelta(days=80)
            session.add(
                Friend(
                    account_id=api_account.id,
                    line_user_id=f"U{n:032x}",
                    display_name=f"友だち{n}",
                    status=status,
                    last_click_at=clicked,
                    click_count=1,
                    first_followed_at=NOW - timedelta(days=100),
                )
            )
        other = create_account(
            session,
            state.box,
            name="他店",
            channel_id="2000000999",
            channel_secret="x" * 32,
            access_token="t",
        )
        session.add(
            Friend(
                account_id=other.id,
                line_user_id="U" + "f" * 32,
                status="following",
                last_click_at=NOW,
            )
        )
    return api_account


def test_preview_counts_what_a_send_targets(client, shop):
    response = client.post(
        "/api/v1/segments/preview",
        headers=shop.headers,
        json={"definition": CLICKED_50, "now": NOW.isoformat()},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["count"] == 30  # the 5 blocked recent clickers are never included
    assert len(body["sample"]) == 20
    assert all(f["status"] == "following" for f in body["sample"])
    assert [f["display_name"] for f in body["sample"]][:2] == ["友だち29", "友だち28"]
    assert body["now"].startswith("2025-03-01")
    stale = client.post(
        "/api/v1/segments/preview",
        headers=shop.headers,
        json={
            "definition": {"version": 1, "where": {"clicked": {"not_within_days": 50}}},
            "now": NOW.isoformat(),
        },
    )
    assert stale.json()["count"] == 10


def test_validate_lists_every_error_with_its_path(client, shop):
    definition = {
        "version": 1,
        "where": {
            "all": [
                {"attribute": {"key": "gender", "in": ["female", "unknown"]}},
                {"attribute": {"key": "age", "gte": "20"}},
                {"attribute": {"key": "pref", "gt": "東京都"}},
                {"attribute": {"key": "height", "gte": 150}},
                {"tags": {"any": ["VIP", "VVIP"]}},
                {"inflow_route": {"code": "nowhere"}},
                {"delivery": {"id": 999, "received": True}},
                {"clicked": {"within_days": 5, "link_id": 12345}},
            ]
        },
    }
    response = client.post(
        "/api/v1/segments/validate", headers=shop.headers, json={"definition": definition}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is False
    found = {(e["path"], e["code"]) for e in body["errors"]}
    assert found == {
        ("where.all[0].attribute.in[1]", "invalid_choice"),
        ("where.all[1].attribute.gte", "type_mismatch"),
        ("where.all[2].attribute.gt", "invalid_operator"),
        ("where.all[3].attribute.key", "unknown_attribute"),
        ("where.all[4].tags.any[1]", "unknown_tag"),
        ("where.all[5].inflow_route.code", "unknown_inflow_route"),
        ("where.all[6].delivery.id", "unknown_delivery"),
        ("where.all[7].clicked.link_id", "unknown_link"),
    }
    choice = next(e for e in body["errors"] if e["code"] == "invalid_choice")
    assert "'unknown'" in choice["message"] and "female" in choice["message"]
    ok = client.post(
        "/api/v1/segments/validate",
        headers=shop.headers,
        json={
            "definition": {
                "version": 1,
                "where": {
                    "all": [
                        {"attribute": {"key": "gender", "eq": "female"}},
                        {"tags": {"none": ["VIP"]}},
                    ]
                },
            }
        },
    )
    assert ok.json() == {
        "ok": True,
        "errors": [],
        "definition": {
            "version": 1,
            "where": {
                "all": [
                    {"attribute": {"key": "gender", "eq": "female"}},
                    {"tags": {"none": ["VIP"]}},
                ]
            },
        },
    }


def test_crud_duplicate_and_saved_preview(client, shop):
    headers = shop.headers
    created = client.post(
        "/api/v1/segments",
        headers=headers,
        json={"name": "50日以内にクリック", "definition": CLICKED_50},
    )
    assert created.status_code == 201, created.text
    segment = created.json()
    assert segment["definition"] == CLICKED_50 and segment["version"] == 1
    again = client.post(
        "/api/v1/segments",
        headers=headers,
        json={"name": "50日以内にクリック", "definition": CLICKED_50},
    )
    assert again.status_code == 409 and again.json()["error"]["field"] == "name"

    got = client.get(f"/api/v1/segments/{segment['id']}", headers=headers)
    assert got.json()["name"] == "50日以内にクリック"
    preview = client.get(f"/api/v1/segments/{segment['id']}/preview", headers=headers)
    assert preview.status_code == 200
    # the real now: the fixture's clicks (March 2025) are long past
    assert preview.json()["count"] == 0

    copy = client.post(f"/api/v1/segments/{segment['id']}/duplicate", headers=headers)
    assert copy.status_code == 201 and copy.json()["name"] == "50日以内にクリック のコピー"
    copy2 = client.post(f"/api/v1/segments/{segment['id']}/duplicate", headers=headers)
    assert copy2.json()["name"] == "50日以内にクリック のコピー 2"
    named = client.post(
        f"/api/v1/segments/{segment['id']}/duplicate", headers=headers, json={"name": "テスト"}
    )
    assert named.json()["name"] == "テスト" and named.json()["definition"] == CLICKED_50

    patched = client.patch(
        f"/api/v1/segments/{segment['id']}",
        headers=headers,
        json={"definition": {"version": 1, "where": {"clicked": {"not_within_days": 50}}}},
    )
    assert patched.status_code == 200
    assert patched.json()["definition"]["where"] == {"clicked": {"not_within_days": 50}}
    assert patched.json()["updated_at"] >= segment["updated_at"]
    clash = client.patch(
        f"/api/v1/segments/{segment['id']}", headers=headers, json={"name": "テスト"}
    )
    assert clash.status_code == 409

    page = client.get("/api/v1/segments?limit=2", headers=headers).json()
    assert len(page["items"]) == 2 and page["next_cursor"]
    rest = client.get(
        f"/api/v1/segments?limit=2&cursor={page['next_cursor']}", headers=headers
    ).json()
    names = [s["name"] for s in page["items"] + rest["items"]]
    assert len(names) == 4 and rest["next_cursor"] is None
    for bad in ("not-a-cursor!", "InN0cmluZyI"):  # garbage; a valid cursor of a string
        response = client.get(f"/api/v1/segments?cursor={bad}", headers=headers)
        assert response.status_code == 400 and response.json()["error"]["field"] == "cursor"
    assert client.get("/api/v1/segments?limit=0", headers=headers).status_code == 400

    assert client.delete(f"/api/v1/segments/{segment['id']}", headers=headers).status_code == 204
    assert client.get(f"/api/v1/segments/{segment['id']}", headers=headers).status_code == 404
    assert client.delete(f"/api/v1/segments/{segment['id']}", headers=headers).status_code == 404


def test_bad_definitions_are_refused_with_the_path(client, shop):
    headers = shop.headers
    bad = client.post(
        "/api/v1/segments",
        headers=headers,
        json={
            "name": "x",
            "definition": {
                "version": 1,
                "where": {
                    "all": [
                        {"clicked": {"within_days": 50}},
                        {"attribute": {"key": "gender", "eq": "robot"}},
                    ]
                },
            },
        },
    )
    assert bad.status_code == 422
    error = bad.json()["error"]
    assert error["code"] == "invalid_segment"
    assert error["field"] == "definition.where.all[1].attribute.eq"
    assert "robot" in error["message"]
    preview = client.post(
        "/api/v1/segments/preview",
        headers=headers,
        json={"definition": {"version": 3, "where": {"all": []}}},
    )
    assert preview.status_code == 422 and preview.json()["error"]["field"] == "definition.version"
    naive = client.post(
        "/api/v1/segments/preview",
        headers=headers,
        json={"definition": CLICKED_50, "now": "2025-03-01T00:00:00"},
    )
    assert naive.status_code == 422 and naive.json()["error"]["field"] == "now"
    empty_name = client.post(
        "/api/v1/segments", headers=headers, json={"name": "", "definition": CLICKED_50}
    )
    assert empty_name.status_code == 422 and empty_name.json()["error"]["field"] == "name"
    created = client.post(
        "/api/v1/segments", headers=headers, json={"name": "ok", "definition": CLICKED_50}
    ).json()
    patch = client.patch(
        f"/api/v1/segments/{created['id']}",
        headers=headers,
        json={"definition": {"version": 1, "where": {"tags": {"all": ["X"]}}}},
    )
    assert patch.status_code == 422
    assert patch.json()["error"]["field"] == "definition.where.tags.all[0]"
    assert (
        client.get(f"/api/v1/segments/{created['id']}", headers=headers).json()["definition"]
        == CLICKED_50
    )


def test_segments_are_per_account_and_need_a_key(client, state, shop):
    created = client.post(
        "/api/v1/segments", headers=shop.headers, json={"name": "mine", "definition": CLICKED_50}
    ).json()
    assert client.get("/api/v1/segments").status_code == 401
    assert (
        client.post("/api/v1/segments/preview", json={"definition": CLICKED_50}).status_code == 401
    )
    from enishi.accounts.models import Account
    from enishi.accounts.service import create_api_key

    with state.sessions.begin() as session:
        other = session.query(Account).filter_by(channel_id="2000000999").one()
        _, key = create_api_key(session, other, "other", actor=Actor.cli())
    theirs = {"authorization": f"Bearer {key}"}
    assert client.get(f"/api/v1/segments/{created['id']}", headers=theirs).status_code == 404
    assert client.get("/api/v1/segments", headers=theirs).json()["items"] == []
    # their preview sees only their own friend
    response = client.post(
        "/api/v1/segments/preview",
        headers=theirs,
        json={"definition": CLICKED_50, "now": NOW.isoformat()},
    )
    assert response.json()["count"] == 1
