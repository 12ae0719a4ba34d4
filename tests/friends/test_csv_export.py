"""GET /friends/export.csv: Excel-ready UTF-8 with BOM, streamed, filtered, formula-safe."""

from __future__ import annotations

import csv
import io
import tracemalloc
from datetime import timedelta

from enishi.friends.csv_export import export_csv
from enishi.friends.models import BLOCKED, Friend
from enishi.friends.queries import FriendFilter
from enishi.friends.service import add_tag, set_attribute
from enishi.inflow.models import InflowRoute
from tests.friends.conftest import T0, make_friend, uid

API = "/api/v1"


def _rows(content: bytes) -> list[list[str]]:
    assert content.startswith(b"\xef\xbb\xbf"), "Excel needs the BOM to read UTF-8"
    return list(csv.reader(io.StringIO(content[3:].decode("utf-8"), newline="")))


def test_export_columns_values_and_filters(client, state, api_account, attributes):
    with state.sessions.begin() as session:
        route = InflowRoute(account_id=api_account.id, code="store", name="店頭")
        session.add(route)
        session.flush()
        one = make_friend(
            session,
            api_account.id,
            1,
            display_name="山田 花子🌸",
            member_id="M001",
            notes='行1\n行2, "引用"',
            inflow_route_id=route.id,
            click_count=4,
            last_click_at=T0 + timedelta(hours=1),
            revenue_jpy=5400,
            purchase_count=2,
        )
        add_tag(session, one, "vip")
        add_tag(session, one, "新規")
        set_attribute(session, one, "age", 34)
        set_attribute(session, one, "birthday", "1990-05-06")
        set_attribute(session, one, "plan", "gold")
        make_friend(
            session,
            api_account.id,
            2,
            status=BLOCKED,
            display_name='=HYPERLINK("http://evil")',
            notes="-1+2",
        )
        two = make_friend(session, api_account.id, 3, display_name="@SUM(A1)")
        set_attribute(session, two, "age", -3.5)
        set_attribute(session, two, "memo", "+81 90")
    response = client.get(f"{API}/friends/export.csv", headers=api_account.headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = _rows(response.content)
    header = rows[0]
    assert header[:6] == ["line_user_id", "display_name", "status", "member_id", "tags", "notes"]
    assert header[6:10] == ["attr:age", "attr:birthday", "attr:memo", "attr:plan"]
    assert header[10:] == [
        "inflow_route",
        "first_followed_at",
        "last_followed_at",
        "blocked_at",
        "last_click_at",
        "click_count",
        "last_purchase_at",
        "purchase_count",
        "revenue_jpy",
        "last_message_at",
    ]
    record = dict(zip(header, rows[1], strict=True))
    assert record["line_user_id"] == uid(1) and record["display_name"] == "山田 花子🌸"
    assert record["tags"] == "vip;新規" and record["notes"] == '行1\n行2, "引用"'
    assert (record["attr:age"], record["attr:birthday"], record["attr:plan"]) == (
        "34",
        "1990-05-06",
        "gold",
    )
    assert record["inflow_route"] == "store" and record["click_count"] == "4"
    assert record["last_click_at"] == "2026-01-01 19:00:00"  # 10:00 UTC in Asia/Tokyo
    assert record["revenue_jpy"] == "5400" and record["last_message_at"] == ""
    evil = dict(zip(header, rows[2], strict=True))
    assert evil["display_name"] == '\'=HYPERLINK("http://evil")'
    assert evil["notes"] == "'-1+2" and evil["status"] == "blocked"
    third = dict(zip(header, rows[3], strict=True))
    assert third["display_name"] == "'@SUM(A1)" and third["attr:memo"] == "'+81 90"
    assert third["attr:age"] == "-3.5"  # a number is a number, not a formula
    assert len(rows) == 4

    blocked = _rows(
        client.get(
            f"{API}/friends/export.csv", headers=api_account.headers, params={"status": "blocked"}
        ).content
    )
    assert [r[0] for r in blocked[1:]] == [uid(2)]
    by_tag = _rows(
        client.get(
            f"{API}/friends/export.csv",
            headers=api_account.headers,
            params={"tag": "vip", "has_member": "true"},
        ).content
    )
    assert [r[0] for r in by_tag[1:]] == [uid(1)]
    bad = client.get(
        f"{API}/friends/export.csv", headers=api_account.headers, params={"status": "x"}
    )
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "status"
    assert client.get(f"{API}/friends/export.csv").status_code == 401


def test_export_streams_in_chunks_with_flat_memory(client, state, api_account):
    n = 5000
    with state.sessions.begin() as session:
        session.connection().execute(
            Friend.__table__.insert(),
            [
                {
                    "account_id": api_account.id,
                    "line_user_id": uid(i),
                    "display_name": f"名前{i}",
                    "status": "following",
                    "created_at": T0,
                    "click_count": 0,
                    "purchase_count": 0,
                    "revenue_jpy": 0,
                }
                for i in range(n)
            ],
        )
    with state.sessions() as session:
        tracemalloc.start()
        chunks = 0
        peak_chunk = 0
        for chunk in export_csv(session, api_account.id, "Asia/Tokyo", FriendFilter()):
            chunks += 1
            peak_chunk = max(peak_chunk, len(chunk))
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert chunks == 1 + -(-n // 2000)  # the header, then one chunk per 2,000 friends
    assert peak < 12 * 2**20, peak
    response = client.get(f"{API}/friends/export.csv", headers=api_account.headers)
    rows = _rows(response.content)
    assert len(rows) == n + 1 and rows[-1][0] == uid(n - 1)
