"""The report pages in Chromium: the overview draws its cards and charts; the click
analysis marks the planted fall-off and turns a bucket range, chosen by clicking table rows,
into a segment. Pictures (docs/screenshots with `make screenshots`): overview.png and click-analysis.png."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from enishi.accounts.models import Account
from enishi.analytics.click_segments import ClickFilter, recency_definition
from enishi.analytics.overview import overview, period_days
from enishi.audit.models import AuditEntry
from enishi.db.base import utcnow
from enishi.segments.models import Segment
from tests.analytics.dataset import AS_OF_DATE, build_planted_falloff
from tests.web.showcase import build_showcase

CHARTS = ("friends", "blocks", "members", "messages", "results", "revenue")


def test_the_overview_draws_its_cards_and_charts(logged_in_page, live_server, screenshot):
    page, state, account_id = logged_in_page, live_server.state, live_server.account_id
    with state.sessions.begin() as session:
        build_showcase(session, account_id, utcnow())
    page.goto(f"{live_server.base_url}/accounts/{account_id}/overview?days=30")
    for chart in CHARTS:
        page.wait_for_selector(f"[data-testid={chart}-chart][data-drawn=true] .main-svg")
    with state.sessions() as session:
        account = session.get(Account, account_id)
        first, last = period_days(account, None, None)
        totals = overview(session, account, first, last)["totals"]
    assert totals["clicks"] > 0 and totals["blocks"] > 0  # the showcase has data
    following = page.locator("[data-kpi=following] .value").inner_text()
    assert following == f"{totals['following_end']:,}"
    assert page.locator("[data-kpi=clicks] .value").inner_text() == f"{totals['clicks']:,}"
    screenshot(page, "overview.png", full_page=True)


def test_the_click_analysis_marks_the_falloff_and_makes_a_segment(
    logged_in_page, live_server, screenshot
):
    page, state = logged_in_page, live_server.state
    with state.sessions.begin() as session:
        planted = build_planted_falloff(session, state.box)
    page.goto(f"{live_server.base_url}/accounts/{planted}/analysis/clicks?as_of={AS_OF_DATE}")
    page.wait_for_selector("[data-testid=recency-chart][data-drawn=true] .main-svg")
    headline = page.locator("[data-testid=falloff] strong").inner_text()
    assert headline.startswith("50日以内にクリックした友だちの購入率は")
    # plotly drew the cut: its label, and the dashed line with the two rates as a step
    chart = page.locator("[data-testid=recency-chart]")
    assert chart.locator(".annotation-text").first.text_content() == "50日以内 ｜ 51日以上"
    assert chart.locator(".shapelayer path").count() == 3
    assert (
        "← 転落点" in page.locator("[data-testid=recency-table] tr[data-key='50-56']").inner_text()
    )
    screenshot(page, "click-analysis.png", full_page=True)

    # two clicks on table rows choose buckets 0–7 through 50–56
    page.click("[data-testid=recency-table] tr[data-key='0-7']")
    page.click("[data-testid=recency-table] tr[data-key='50-56']")
    form = page.locator("[data-testid=recency-segment-form]")
    assert form.locator("select[name=range_from]").input_value() == "0"
    assert form.locator("select[name=range_to]").input_value() == "56"
    assert page.locator("[data-testid=recency-table] tr.in-range").count() == 8
    form.locator("button[type=submit]").click()
    created = page.locator("[data-testid=created-segment]")
    created.wait_for()
    assert "セグメント「56日以内にクリック」を作成しました" in created.inner_text()
    with state.sessions() as session:
        segment = session.scalars(select(Segment).where(Segment.account_id == planted)).one()
        assert segment.definition == recency_definition(0, 56, ClickFilter())
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "segment.created")
        ).one()
        assert entry.target == f"segment:{segment.id}"
    compose = created.locator("a", has_text="このセグメントに配信を作成")
    assert compose.get_attribute("href") == (
        f"/accounts/{planted}/deliveries/new?segment_id={segment.id}"
    )
    # the analysis is still the same one (its settings travel with the form)
    assert f"as_of={AS_OF_DATE}" in page.url and date.fromisoformat(AS_OF_DATE)
