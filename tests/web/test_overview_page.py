"""概要 page: the KPI cards and charts show the overview service's numbers for the chosen
period; presets, custom periods and bad periods."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from html import unescape
from zoneinfo import ZoneInfo

import pytest

from enishi.accounts.models import Account
from enishi.analytics.overview import overview
from enishi.db.base import utcnow
from enishi.operators.roles import Role
from tests.analytics.test_overview import build_history

PERIOD = "?from=2025-05-01&to=2025-05-03"


@pytest.fixture
def history(state) -> int:
    with state.sessions.begin() as session:
        return build_history(session, state.box)


def kpis(html: str) -> dict[str, tuple[str, str]]:
    cards = re.findall(
        r'data-kpi="(\w+)">\s*<div class="label">[^<]*</div>\s*<div class="value">([^<]*)</div>'
        r'\s*(?:<div class="sub">([^<]*)</div>)?',
        html,
    )
    return {key: (value, unescape(sub)) for key, value, sub in cards}


def figure(html: str, chart: str) -> dict:
    raw = re.search(rf'<script type="application/json" id="{chart}">(.*?)</script>', html, re.S)
    return json.loads(unescape(raw.group(1)))


def service(state, account_id: int, first: date, last: date) -> dict:
    with state.sessions() as session:
        return overview(session, session.get(Account, account_id), first, last)


@pytest.mark.parametrize("role", list(Role))
def test_every_role_sees_the_overview(login_as, account_id, role):
    response = login_as(role).get(f"/accounts/{account_id}/overview")
    assert response.status_code == 200
    assert 'data-kpi="following"' in response.text
    assert 'data-chart="friends-chart"' in response.text


def test_the_cards_and_charts_show_the_services_numbers(login_as, state, history):
    html = login_as(Role.OWNER).get(f"/accounts/{history}/overview{PERIOD}").text
    report = service(state, history, date(2025, 5, 1), date(2025, 5, 3))
    totals = report["totals"]
    cards = kpis(html)
    assert cards["following"][0] == f"{totals['following_end']:,}" == "5"  # as built
    assert cards["new_friends"][0] == str(totals["new_friends"])
    assert cards["blocks"] == (str(totals["blocks"]), f"ブロック率 {totals['block_rate']:.1%}")
    assert cards["member_links"][1] == f"フォロー中の {totals['linked_share_end']:.1%} が連携済み"
    assert cards["messages_sent"] == (str(totals["messages_sent"]), "2025-05: 170 / 1,000通（17%）")
    assert cards["clicks"][0] == str(totals["clicks"])
    assert cards["conversions"][0] == str(totals["conversions"])
    assert cards["revenue"][0] == f"¥{totals['revenue_jpy']:,}"
    roas = totals["roas"]
    assert cards["roas"][0] == ("—" if roas is None else f"{roas:.1%}")
    friends = figure(html, "friends-chart")["data"]
    assert friends[0]["x"] == ["2025-05-01", "2025-05-02", "2025-05-03"]
    assert friends[0]["y"] == [d["following"] for d in report["daily"]]
    assert friends[2]["y"] == [d["blocks"] for d in report["daily"]]
    members = figure(html, "members-chart")["data"]
    assert members[0]["y"] == [d["member_links"] for d in report["daily"]]
    messages = figure(html, "messages-chart")["data"]
    assert messages[0]["y"] == [d["messages_sent"] for d in report["daily"]]
    assert messages[2]["y"] == [1000, 1000, 1000]  # the monthly quota line
    revenue = figure(html, "revenue-chart")["data"]
    assert revenue[0]["y"] == [d["revenue_jpy"] for d in report["daily"]]
    assert "2025-05-01〜2025-05-03（Asia/Tokyo、3日間）" in html


def test_presets_and_bad_periods(login_as, account_id, state):
    viewer = login_as(Role.VIEWER)
    with state.sessions() as session:
        zone = ZoneInfo(session.get(Account, account_id).timezone)
    today = utcnow().astimezone(zone).date()
    week = viewer.get(f"/accounts/{account_id}/overview?days=7").text
    assert f'name="from" value="{(today - timedelta(days=6)).isoformat()}"' in week
    assert '<a href="?days=7" aria-current="true">' in week
    default = viewer.get(f"/accounts/{account_id}/overview").text
    assert f'name="from" value="{(today - timedelta(days=29)).isoformat()}"' in default
    for query in (
        "?from=2025-05-03&to=2025-05-01",
        "?from=2024-01-01&to=2025-05-01",
        "?from=yesterday",
    ):
        response = viewer.get(f"/accounts/{account_id}/overview{query}")
        assert response.status_code == 422, query
        assert "期間が正しくありません" in response.text
        assert f'name="to" value="{today.isoformat()}"' in response.text  # the default period


def test_the_quota_falls_back_to_enishis_count_when_line_is_unreachable(login_as, account_id):
    html = login_as(Role.VIEWER).get(f"/accounts/{account_id}/overview?days=7").text
    assert "LINEの送信数を取得できなかった" in html
    assert "通（上限なし）" in kpis(html)["messages_sent"][1]


def test_english(login_as, account_id):
    html = login_as(Role.VIEWER).get(f"/accounts/{account_id}/overview?lang=en").text
    assert "Friends following" in html and "Last 30 days" in html
