"""Audit in services: every action the dashboard audits, done through the REST API, is
logged with the API key as the actor and the caller's address (docs/decisions/0400)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, insert, select

from enishi.accounts.models import ApiKey
from enishi.audit.models import AuditEntry
from enishi.friends.models import FOLLOWING, Friend
from tests.e2e_support import E2E, start_e2e, start_emulator  # noqa: F401

TEXT = [{"type": "text", "text": "こんにちは"}]


def _friends(e2e: E2E) -> list[str]:
    """enishi's rows for the emulator's friends, as the webhook intake would keep them."""
    now = datetime.now(UTC)
    rows = [
        {
            "account_id": e2e.account_id,
            "line_user_id": friend.user_id,
            "display_name": friend.display_name,
            "status": FOLLOWING,
            "first_followed_at": now,
            "last_followed_at": now,
        }
        for friend in e2e.channel.friends.values()
    ]
    with e2e.state.sessions.begin() as session:
        session.execute(insert(Friend), rows)
    return [row["line_user_id"] for row in rows]


def test_every_audited_action_through_the_rest_api_names_the_key_and_the_address(
    start_e2e,  # noqa: F811
):
    e2e = start_e2e(friends=2)
    user_id = _friends(e2e)[0]
    with e2e.state.sessions() as session:
        key_id = session.scalar(select(ApiKey.id).where(ApiKey.account_id == e2e.account_id))
        before = session.scalar(select(func.max(AuditEntry.id))) or 0
    expected: list[tuple[str, str]] = []  # (action, target) in order

    with e2e.api() as api:

        def call(method: str, path: str, action: str, target: str, **kwargs) -> None:
            """One request that must succeed and be logged as (action, target)."""
            response = api.request(method, f"/api/v1{path}", **kwargs)
            assert response.status_code < 300, (path, response.text)
            expected.append((action, target))

        # deliveries: create, schedule, pause, resume, cancel; a second draft deleted
        body = {"name": "秋のセール", "audience": {"type": "all"}, "messages": TEXT}
        first = api.post("/api/v1/deliveries", json=body).json()["id"]
        expected.append(("delivery.created", f"delivery:{first}"))
        tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
        path = f"/deliveries/{first}"
        call(
            "POST",
            path + "/schedule",
            "delivery.scheduled",
            f"delivery:{first}",
            json={"send_at": tomorrow},
        )
        for verb, action in (("pause", "paused"), ("resume", "resumed"), ("cancel", "cancelled")):
            call("POST", f"{path}/{verb}", f"delivery.{action}", f"delivery:{first}")
        second = api.post("/api/v1/deliveries", json=body).json()["id"]
        expected.append(("delivery.created", f"delivery:{second}"))
        call("DELETE", f"/deliveries/{second}", "delivery.deleted", f"delivery:{second}")

        # segments: create, update, duplicate, delete; a click-analysis range
        everyone = {"version": 1, "where": {"all": []}}
        segment = api.post(
            "/api/v1/segments", json={"name": "全員", "definition": everyone}
        ).json()["id"]
        expected.append(("segment.created", f"segment:{segment}"))
        call(
            "PATCH",
            f"/segments/{segment}",
            "segment.updated",
            f"segment:{segment}",
            json={"name": "みんな"},
        )
        copy = api.post(f"/api/v1/segments/{segment}/duplicate").json()["id"]
        expected.append(("segment.created", f"segment:{copy}"))
        call("DELETE", f"/segments/{copy}", "segment.deleted", f"segment:{copy}")
        clicked = api.post(
            "/api/v1/analytics/clicks/segment", json={"recency": {"min_days": 0, "max_days": 30}}
        ).json()["id"]
        expected.append(("segment.created", f"segment:{clicked}"))

        # inflow routes: create, update, delete
        route = api.post("/api/v1/routes", json={"name": "店頭POP"}).json()["id"]
        expected.append(("route.created", f"route:{route}"))
        call("PATCH", f"/routes/{route}", "route.updated", f"route:{route}", json={"name": "店頭"})
        call("DELETE", f"/routes/{route}", "route.deleted", f"route:{route}")

        # friends: an edit, a CSV import, a CSV export
        friend_id = dict(_friend_ids(e2e))[user_id]
        call(
            "PATCH",
            f"/friends/{user_id}",
            "friend.updated",
            f"friend:{friend_id}",
            json={"notes": "常連さん", "tags_add": ["VIP"]},
        )
        csv = f"line_user_id,notes\r\n{user_id},CSVのメモ\r\n".encode()
        account = f"account:{e2e.account_id}"
        call(
            "POST",
            "/friends/import",
            "friends.imported",
            account,
            files={"file": ("friends.csv", csv, "text/csv")},
            data={"apply": "all"},
        )
        call("GET", "/friends/export.csv?tag=VIP", "friends.exported", account)

        # the account: settings, API keys, the channel's credentials (last: LINE is done)
        call("PATCH", "/account", "settings.updated", account, json={"name": "新しい店名"})
        new_key = api.post("/api/v1/account/api-keys", json={"name": "在庫システム"}).json()["id"]
        expected.append(("api_key.created", f"api_key:{new_key}"))
        call("DELETE", f"/account/api-keys/{new_key}", "api_key.revoked", f"api_key:{new_key}")
        call(
            "PATCH",
            "/account",
            "settings.channel_updated",
            account,
            json={"access_token": "a-new-token"},
        )

    with e2e.state.sessions() as session:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.id > before).order_by(AuditEntry.id)
        ).all()
    assert [(e.action, e.target) for e in entries] == expected
    for entry in entries:
        assert entry.api_key_id == key_id and entry.operator_id is None, entry.action
        assert entry.origin == "127.0.0.1" and entry.cli_user is None, entry.action
        assert entry.account_id == e2e.account_id, entry.action
    details = {e.action: e.details for e in entries}
    assert details["delivery.scheduled"]["send_at"] is not None
    assert details["segment.updated"] == {"name": ["全員", "みんな"]}
    assert details["friend.updated"]["line_user_id"] == user_id
    assert details["friends.imported"]["updated"] == 1
    assert details["friends.exported"] == {"filters": {"tag": "VIP"}}
    assert details["settings.updated"]["name"][1] == "新しい店名"
    assert details["settings.channel_updated"] == {"changed": ["access_token"]}
    assert "a-new-token" not in str([e.details for e in entries])  # no secrets in the log


def _friend_ids(e2e: E2E) -> list[tuple[str, int]]:
    with e2e.state.sessions() as session:
        return list(
            session.execute(
                select(Friend.line_user_id, Friend.id).where(Friend.account_id == e2e.account_id)
            ).all()
        )
