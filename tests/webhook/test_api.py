"""GET /api/v1/webhook-events and /stats: the account's inbox, for debugging."""

from __future__ import annotations

from enishi.accounts.service import create_account, create_api_key
from enishi.audit.actor import Actor
from enishi.db.base import utcnow
from enishi.webhook.intake import event_rows, store_rows
from tests.webhook.events import USER_A, USER_B, deliver, event, follow, text

T0 = 1_700_000_000_000


def test_inbox_newest_first_with_filters_and_cursor(client, api_account, worker):
    deliver(
        client,
        api_account,
        follow(USER_A, T0),
        text(USER_A, T0 + 1, "1"),
        text(USER_B, T0 + 2, "2"),
        event("unsend", USER_A, T0 + 3, unsend={"messageId": "1"}),
    )
    worker.run_until_idle()
    page = client.get("/api/v1/webhook-events", headers=api_account.headers).json()
    assert [e["type"] for e in page["items"]] == ["unsend", "message", "message", "follow"]
    assert page["next_cursor"] is None
    first = page["items"][-1]
    assert first["line_user_id"] == USER_A and first["status"] == "done"
    assert first["event_at"].startswith("2023-11-14T22:13:20")
    assert first["payload"]["follow"] == {"isUnblocked": False}

    seen, cursor = [], None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = client.get(
            "/api/v1/webhook-events", params=params, headers=api_account.headers
        ).json()
        seen += [e["id"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(seen, reverse=True) and len(seen) == 4

    skipped = client.get(
        "/api/v1/webhook-events", params={"status": "skipped"}, headers=api_account.headers
    ).json()["items"]
    assert [e["type"] for e in skipped] == ["unsend"]
    assert "not processed" in skipped[0]["error"]
    messages = client.get(
        "/api/v1/webhook-events", params={"type": "message"}, headers=api_account.headers
    ).json()["items"]
    assert len(messages) == 2


def test_stats_count_by_status_and_type(client, api_account, worker):
    deliver(
        client,
        api_account,
        follow(USER_A, T0),
        text(USER_A, T0 + 1, "1"),
        event("join", None, T0 + 2, source={"type": "group", "groupId": "C1"}),
    )
    stats = client.get("/api/v1/webhook-events/stats", headers=api_account.headers).json()
    assert stats["by_status"] == {"pending": 3, "done": 0, "skipped": 0, "failed": 0}
    assert stats["oldest_pending_at"].startswith("2023-11-14T22:13:20")
    worker.run_until_idle()
    stats = client.get("/api/v1/webhook-events/stats", headers=api_account.headers).json()
    assert stats == {
        "total": 3,
        "by_status": {"pending": 0, "done": 2, "skipped": 1, "failed": 0},
        "by_type": {"follow": {"done": 1}, "message": {"done": 1}, "join": {"skipped": 1}},
        "oldest_pending_at": None,
    }


def test_another_accounts_events_are_not_shown(client, state, api_account):
    with state.sessions.begin() as session:
        other = create_account(
            session,
            state.box,
            name="他店",
            channel_id="2000000002",
            channel_secret="s" * 32,
            access_token="t",
        )
        _, other_key = create_api_key(session, other, "other", actor=Actor.cli())
        other_id = other.id
    with state.engine.begin() as conn:
        store_rows(event_rows(other_id, [follow(USER_B, T0)], utcnow()))(conn)
    deliver(client, api_account, follow(USER_A, T0))
    mine = client.get("/api/v1/webhook-events", headers=api_account.headers).json()["items"]
    theirs = client.get(
        "/api/v1/webhook-events", headers={"authorization": f"Bearer {other_key}"}
    ).json()["items"]
    assert [e["line_user_id"] for e in mine] == [USER_A]
    assert [e["line_user_id"] for e in theirs] == [USER_B]
    stats = client.get("/api/v1/webhook-events/stats", headers=api_account.headers).json()
    assert stats["total"] == 1


def test_bad_requests_get_clear_errors(client, api_account):
    assert client.get("/api/v1/webhook-events").status_code == 401
    assert client.get("/api/v1/webhook-events/stats").status_code == 401
    cases = [
        ({"status": "weird"}, "status"),
        ({"limit": 0}, "limit"),
        ({"limit": 501}, "limit"),
        ({"cursor": "!!!"}, "cursor"),
        ({"cursor": "InN0cmluZyI"}, "cursor"),
    ]
    for params, field in cases:
        response = client.get("/api/v1/webhook-events", params=params, headers=api_account.headers)
        assert response.status_code == 400, params
        assert response.json()["error"]["field"] == field
    response = client.get(
        "/api/v1/webhook-events", params={"limit": "many"}, headers=api_account.headers
    )
    assert response.status_code == 422


def test_listed_in_the_openapi_document(client):
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    assert "/api/v1/webhook-events" in paths and "/api/v1/webhook-events/stats" in paths
    assert not any(p.startswith("/webhooks/") for p in paths)
