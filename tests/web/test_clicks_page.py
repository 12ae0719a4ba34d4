"""クリック分析 page: the numbers on the page are the analysis service's, the fall-off is
stated, a bucket range becomes a segment (marketers, audited), the CSV is the service's."""

from __future__ import annotations

import json
import re
from html import unescape

import pytest
from sqlalchemy import select

from enishi.accounts.models import Account
from enishi.analytics.click_reports import falloff_dict, frequency_report, recency_report
from enishi.analytics.click_segments import ClickFilter, recency_definition
from enishi.analytics.clicks import ClickAnalysisParams, analyse_clicks
from enishi.analytics.csv_export import analysis_csv
from enishi.audit.models import AuditEntry
from enishi.config import Settings
from enishi.operators.roles import Role
from enishi.segments.models import Segment
from enishi.segments.service import count_segment
from tests.analytics.dataset import AS_OF, AS_OF_DATE, build_planted_falloff, build_small_world
from tests.conftest import make_settings
from tests.web.conftest import csrf_of

SMALL = f"?as_of={AS_OF_DATE}&min_group=1"


@pytest.fixture
def settings(database_url) -> Settings:
    """Clicks of the test worlds go through the click endpoint at chosen times."""
    return make_settings(database_url, trust_emulator_headers=True)


@pytest.fixture
def account_id(api_account) -> int:
    return api_account.id


@pytest.fixture
def world(client, api_account):
    return build_small_world(client, api_account.headers, api_account.id)


def page_url(account_id: int, query: str = SMALL) -> str:
    return f"/accounts/{account_id}/analysis/clicks{query}"


def service(state, account_id: int, **kwargs):
    with state.sessions() as session:
        account = session.get(Account, account_id)
        params = ClickAnalysisParams(as_of=AS_OF, **kwargs)
        return analyse_clicks(session, account, params)


def table(html: str, kind: str) -> dict[str, tuple[str, str, str]]:
    """{bucket key: (friends, purchasers, purchase rate)} as the page shows them."""
    body = re.search(rf'data-testid="{kind}-table".*?<tbody>(.*?)</tbody>', html, re.S).group(1)
    rows = {}
    for key, row in re.findall(r'<tr data-key="([^"]+)"(.*?)</tr>', body, re.S):
        cells = dict(re.findall(r'data-field="(\w+)">([^<]*)<', row))
        rows[key] = (cells["friends"], cells["purchasers"], cells["purchase_rate"])
    return rows


def expected(report: dict) -> dict[str, tuple[str, str, str]]:
    return {
        b["key"]: (
            f"{b['friends']:,}",
            f"{b['purchasers']:,}",
            "—" if b["purchase_rate"] is None else f"{b['purchase_rate']:.1%}",
        )
        for b in report["buckets"]
    }


def figure(html: str, chart: str) -> dict:
    raw = re.search(rf'<script type="application/json" id="{chart}">(.*?)</script>', html, re.S)
    return json.loads(unescape(raw.group(1)))


def post_segment(client, account_id: int, data: dict, query: str = SMALL, **kw):
    token = csrf_of(client.get(page_url(account_id, query)).text)
    fields = dict(re.findall(r"(\w+)=([^&]+)", query))
    return client.post(
        f"/accounts/{account_id}/analysis/clicks/segments",
        data={**fields, **data, "csrf_token": token},
        **kw,
    )


def segments(state, account_id: int) -> list[Segment]:
    with state.sessions() as session:
        return list(
            session.scalars(
                select(Segment).where(Segment.account_id == account_id).order_by(Segment.id)
            )
        )


def audit(state, action: str) -> list[AuditEntry]:
    with state.sessions() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def test_the_tables_and_charts_show_the_services_numbers(login_as, state, world):
    html = login_as(Role.VIEWER).get(page_url(world.account_id)).text
    analysis = service(state, world.account_id, min_group=1)
    recency, frequency = recency_report(analysis), frequency_report(analysis)
    assert table(html, "recency") == expected(recency)
    assert table(html, "frequency") == expected(frequency)
    assert table(html, "recency")["0-7"] == ("3", "1", "33.3%")  # the world is as built
    bars, rate = figure(html, "recency-chart")["data"]
    assert bars["y"] == [b["friends"] for b in recency["buckets"]]
    assert rate["y"] == [
        None if b["purchase_rate"] is None else round(b["purchase_rate"] * 100, 3)
        for b in recency["buckets"]
    ]
    assert "フォロー中の友だち 7人、うち購入者 3人（42.9%）" in html


def test_a_delivery_filter_shows_only_its_clicks(login_as, state, world):
    query = f"{SMALL}&delivery_id={world.delivery_id}"
    html = login_as(Role.VIEWER).get(page_url(world.account_id, query)).text
    analysis = service(
        state,
        world.account_id,
        min_group=1,
        click_filter=ClickFilter(delivery_id=world.delivery_id),
    )
    assert table(html, "recency") == expected(recency_report(analysis))
    assert table(html, "recency")["never"][0] == "5"
    assert f'<option value="{world.delivery_id}" selected>' in html


def test_a_foreign_or_unknown_filter_is_refused(login_as, world):
    response = login_as(Role.VIEWER).get(page_url(world.account_id, f"{SMALL}&delivery_id=99999"))
    assert response.status_code == 422 and "配信が見つかりません" in response.text
    assert 'data-testid="recency-table"' not in response.text
    bad = login_as(Role.VIEWER).get(page_url(world.account_id, "?lookback_days=0&as_of=x"))
    assert bad.status_code == 422 and "YYYY-MM-DD" in bad.text


@pytest.fixture
def planted(state) -> int:
    with state.sessions.begin() as session:
        return build_planted_falloff(session, state.box)


@pytest.fixture
def planted_client(login_as, state, planted):
    client = login_as(Role.OWNER)  # an installation owner sees the planted account too
    return client


def test_the_falloff_is_found_marked_and_stated(planted_client, state, planted):
    html = planted_client.get(page_url(planted, f"?as_of={AS_OF_DATE}")).text
    cut = falloff_dict(service(state, planted))
    assert cut["days"] == 50  # the planted cut
    inside, rest = cut["inside"]["purchase_rate"], cut["complement"]["purchase_rate"]
    headline = f"50日以内にクリックした友だちの購入率は {inside:.1%}、51日以上は {rest:.1%}"
    assert headline in html
    assert 'data-testid="falloff" data-days="50"' in html
    chart = figure(html, "recency-chart")["layout"]
    marker = next(s for s in chart["shapes"] if s.get("name") == "cut")
    # 7-day buckets 0-7, 8-14, … 50-56: day 50 ends 1/7 into the bucket at position 7
    assert marker["x0"] == pytest.approx(7 - 0.5 + 1 / 7)
    assert chart["annotations"][0]["text"] == "50日以内 ｜ 51日以上"
    english = planted_client.get(page_url(planted, f"?as_of={AS_OF_DATE}&lang=en")).text
    assert f"Friends who clicked within 50 days bought at {inside:.1%}" in english


@pytest.mark.parametrize("role", list(Role))
def test_every_role_sees_the_analysis_and_only_marketers_create_segments(
    login_as, state, world, role
):
    client = login_as(role)
    html = client.get(page_url(world.account_id)).text
    may = role >= Role.MARKETER
    assert ('data-testid="recency-segment-form"' in html) is may
    response = post_segment(
        client,
        world.account_id,
        {"kind": "recency", "range_from": "0", "range_to": "7"},
        follow_redirects=False,
    )
    assert response.status_code == (303 if may else 403)
    assert len(segments(state, world.account_id)) == (1 if may else 0)
    assert len(audit(state, "segment.created")) == (1 if may else 0)


def test_a_bucket_range_becomes_a_segment_ready_to_deliver(login_as, state, world):
    marketer = login_as(Role.MARKETER)
    response = post_segment(
        marketer,
        world.account_id,
        {"kind": "recency", "range_from": "0", "range_to": "14"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    [segment] = segments(state, world.account_id)
    assert segment.definition == recency_definition(0, 14, ClickFilter())
    assert segment.name == "14日以内にクリック"
    with state.sessions() as session:
        friends = count_segment(session, world.account_id, segment.definition)
    html = marketer.get(response.headers["location"]).text
    assert f"セグメント「14日以内にクリック」を作成しました（現在の対象 {friends}人）" in html
    assert f"/accounts/{world.account_id}/segments/{segment.id}" in html
    assert f"/accounts/{world.account_id}/deliveries/new?segment_id={segment.id}" in html
    [entry] = audit(state, "segment.created")
    assert entry.target == f"segment:{segment.id}" and entry.operator_id is not None
    assert entry.details["friends"] == friends
    assert entry.details["definition"] == segment.definition
    # the same range again: the automatic name gets a number
    post_segment(
        marketer, world.account_id, {"kind": "recency", "range_from": "0", "range_to": "14"}
    )
    assert [s.name for s in segments(state, world.account_id)] == [
        "14日以内にクリック",
        "14日以内にクリック (2)",
    ]


def test_frequency_and_open_ranges_with_a_filter(login_as, state, world):
    marketer = login_as(Role.MARKETER)
    query = f"{SMALL}&delivery_id={world.delivery_id}&lookback_days=120"
    post_segment(
        marketer, world.account_id, {"kind": "frequency", "range_from": "1", "range_to": ""}, query
    )
    post_segment(
        marketer,
        world.account_id,
        {"kind": "recency", "range_from": "8", "range_to": "never", "name": "休眠"},
        query,
    )
    frequent, dormant = segments(state, world.account_id)
    assert frequent.definition["where"] == {
        "click_count": {"gte": 1, "within_days": 120, "delivery_id": world.delivery_id}
    }
    assert dormant.name == "休眠"
    assert dormant.definition == recency_definition(
        8, None, ClickFilter(delivery_id=world.delivery_id), include_never=True
    )


def test_bad_ranges_and_taken_names_are_refused(login_as, state, world):
    marketer = login_as(Role.MARKETER)
    backwards = post_segment(
        marketer, world.account_id, {"kind": "recency", "range_from": "15", "range_to": "7"}
    )
    assert backwards.status_code == 422 and "範囲が正しくありません" in backwards.text
    never = post_segment(
        marketer, world.account_id, {"kind": "recency", "range_from": "never", "range_to": "7"}
    )
    assert never.status_code == 422
    post_segment(
        marketer,
        world.account_id,
        {"kind": "recency", "range_from": "0", "range_to": "7", "name": "アクティブ"},
    )
    taken = post_segment(
        marketer,
        world.account_id,
        {"kind": "recency", "range_from": "0", "range_to": "14", "name": "アクティブ"},
    )
    assert taken.status_code == 422 and "同じ名前のセグメント" in taken.text
    assert [s.name for s in segments(state, world.account_id)] == ["アクティブ"]
    assert len(audit(state, "segment.created")) == 1


@pytest.mark.parametrize("kind", ["recency", "frequency"])
def test_the_csv_is_the_services(login_as, state, world, kind):
    response = login_as(Role.VIEWER).get(
        f"/accounts/{world.account_id}/analysis/clicks.csv{SMALL}&kind={kind}"
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert f"click-{kind}-2025-05-31.csv" in response.headers["content-disposition"]
    assert response.content == analysis_csv(kind, service(state, world.account_id, min_group=1))
    assert response.content.decode("utf-8-sig").splitlines()[0].startswith("row,key,label")
    html = login_as(Role.VIEWER).get(page_url(world.account_id)).text
    assert f"clicks.csv?as_of={AS_OF_DATE}&amp;min_group=1&amp;kind={kind}" in html
