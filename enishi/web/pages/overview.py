"""概要 Overview of an account over a chosen period: KPI cards and daily charts of friends,
blocks, member-ID links, messages against the monthly quota, clicks, purchases and ROAS.

The numbers come from enishi.analytics.overview (grouped queries by local day); this module
reads the period, asks LINE's quota once when the period includes today, and draws."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from enishi.analytics.overview import overview, period_days
from enishi.db.base import utcnow
from enishi.delivery import quota
from enishi.deps import AppState, app_state, db_session
from enishi.kit.errors import ApiError
from enishi.operators.roles import Role
from enishi.web.context import AccountPage, account_page
from enishi.web.figures.overview import (
    blocks_figure,
    friends_figure,
    members_figure,
    messages_figure,
    results_figure,
    revenue_figure,
)
from enishi.web.i18n import N_
from enishi.web.render import render

router = APIRouter()

PRESETS = (7, 30, 90)
DEFAULT_DAYS = 30
PERIOD_ERROR = N_("期間が正しくありません（開始日は終了日以前、最長366日）。")


def _day(raw: str | None) -> date | None:
    try:
        return date.fromisoformat(raw.strip()) if raw and raw.strip() else None
    except ValueError:
        return None


def chosen_period(
    page: AccountPage, values: dict[str, str], today: date
) -> tuple[date, date, int | None, str | None]:
    """(first day, last day, preset days or None, error): a preset (`days`), else `from`/`to`,
    else the last 30 days. A bad period falls back to the default and says why."""
    raw_days = values.get("days", "")
    if raw_days.isdigit() and int(raw_days) in PRESETS:
        n = int(raw_days)
        return today - timedelta(days=n - 1), today, n, None
    first, last = _day(values.get("from")), _day(values.get("to"))
    bad = any(values.get(k) and _day(values.get(k)) is None for k in ("from", "to"))
    if not bad and (first or last):
        try:
            first, last = period_days(page.account, first, last)
            return first, last, None, None
        except ApiError:
            pass
    default_first = today - timedelta(days=DEFAULT_DAYS - 1)
    error = PERIOD_ERROR if bad or first or last else None
    return default_first, today, None if error else DEFAULT_DAYS, error


def _kpis(totals: dict[str, Any], month_quota: dict[str, Any] | None, t) -> list[dict]:
    def pct(value: float | None) -> str:
        return "—" if value is None else f"{value:.1%}"

    change = totals["following_end"] - totals["following_start"]
    cards = [
        (
            "following",
            t("フォロー中の友だち"),
            f"{totals['following_end']:,}",
            t("期間の初めから {change}", change=f"{change:+,}"),
        ),
        (
            "new_friends",
            t("新しい友だち"),
            f"{totals['new_friends']:,}",
            t("再フォロー {count}人", count=f"{totals['refollows']:,}"),
        ),
        (
            "blocks",
            t("ブロック"),
            f"{totals['blocks']:,}",
            t("ブロック率 {rate}", rate=pct(totals["block_rate"])),
        ),
        (
            "member_links",
            t("ID連携"),
            f"{totals['member_links']:,}",
            t("フォロー中の {share} が連携済み", share=pct(totals["linked_share_end"])),
        ),
        (
            "messages_sent",
            t("送信メッセージ"),
            f"{totals['messages_sent']:,}",
            _quota_text(month_quota, t),
        ),
        ("clicks", t("クリック"), f"{totals['clicks']:,}", ""),
        ("conversions", t("コンバージョン"), f"{totals['conversions']:,}", ""),
        (
            "revenue",
            t("売上"),
            f"¥{totals['revenue_jpy']:,}",
            t("配信経由 ¥{amount}", amount=f"{totals['attributed_revenue_jpy']:,}"),
        ),
        (
            "roas",
            "ROAS",
            pct(totals["roas"]),
            t("配信費用 ¥{amount}", amount=f"{totals['cost_jpy']:,.0f}"),
        ),
    ]
    return [{"key": k, "label": label, "value": v, "sub": sub} for k, label, v, sub in cards]


def _quota_text(month: dict[str, Any] | None, t) -> str:
    if month is None:
        return ""
    if month["limit"] is None:
        return t("{month}: {used}通（上限なし）", month=month["month"], used=f"{month['used']:,}")
    return t(
        "{month}: {used} / {limit}通（{rate}）",
        month=month["month"],
        used=f"{month['used']:,}",
        limit=f"{month['limit']:,}",
        rate=f"{month['used'] / month['limit']:.0%}" if month["limit"] else "—",
    )


def month_quota(report: dict[str, Any]) -> dict[str, Any] | None:
    """This month's use against the quota when the period includes today (LINE's own count
    when LINE answered), else the last month of the period as enishi counted it."""
    usage = report["quota"]
    if usage is not None:
        used = usage["line_used"] if usage["line_used"] is not None else usage["used"]
        return {"month": usage["month"], "used": used, "limit": usage["limit"]}
    if report["months"]:
        last = report["months"][-1]
        return {"month": last["month"], "used": last["sent"], "limit": last["limit"]}
    return None


@router.get("/accounts/{account_id}/overview")
def overview_page(
    request: Request,
    page: AccountPage = Depends(account_page(Role.VIEWER)),
    state: AppState = Depends(app_state),
    session: Session = Depends(db_session, scope="function"),
) -> HTMLResponse:
    account = page.account
    now = utcnow()
    today = now.astimezone(ZoneInfo(account.timezone)).date()
    first, last, preset, error = chosen_period(page, dict(request.query_params), today)
    usage = None
    if first <= now.astimezone(quota.LINE_MONTH_ZONE).date() <= last:
        usage = quota.usage(session, account, state.line_for(account), now=now)
    report = overview(session, account, first, last, quota=usage)
    daily, t = report["daily"], page.t
    figures = {
        "friends-chart": friends_figure(daily, t),
        "blocks-chart": blocks_figure(daily, t),
        "members-chart": members_figure(daily, t),
        "messages-chart": messages_figure(daily, report["months"], t),
        "results-chart": results_figure(daily, t),
        "revenue-chart": revenue_figure(daily, t),
    }
    current_quota = month_quota(report)
    return render(
        request,
        "overview/overview.html",
        page,
        {
            "report": report,
            "kpis": _kpis(report["totals"], current_quota, t),
            "figures": figures,
            "first": first,
            "last": last,
            "preset": preset,
            "presets": PRESETS,
            "period_error": error,
            "quota_line_error": (usage.line_error if usage is not None else None),
        },
        status=422 if error else 200,
    )
