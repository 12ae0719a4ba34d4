"""The overview charts, one per question: how many friends (following, new, blocked),
how many linked their member ID, how much was sent, and what it brought (clicks,
purchases, revenue, ROAS). Each takes the daily series of enishi.analytics.overview."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

GREEN = "#06c755"
LIGHT = "#9bd8b0"
INK = "#1f2933"
RED = "#e0533d"
BLUE = "#3b82f6"
AMBER = "#f59e0b"


def _days(daily: list[dict[str, Any]]) -> list[str]:
    return [d["date"].isoformat() for d in daily]


def _percent(values: list[float | None]) -> list[float | None]:
    return [None if v is None else round(v * 100, 3) for v in values]


def _layout(y_title: str, y2_title: str | None = None, **extra: Any) -> dict[str, Any]:
    layout: dict[str, Any] = {
        "height": 300,
        "margin": {"t": 16, "r": 56 if y2_title else 16, "b": 40, "l": 56},
        "xaxis": {"type": "date", "tickformat": "%m/%d"},
        "yaxis": {"title": {"text": y_title}, "rangemode": "tozero"},
        "legend": {"orientation": "h", "y": -0.18},
        "hovermode": "x unified",
        **extra,
    }
    if y2_title:
        layout["yaxis2"] = {
            "title": {"text": y2_title},
            "overlaying": "y",
            "side": "right",
            "rangemode": "tozero",
            "showgrid": False,
        }
    return layout


def friends_figure(daily: list[dict[str, Any]], t: Callable[..., str]) -> dict[str, Any]:
    x = _days(daily)
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "lines",
                "name": t("フォロー中"),
                "x": x,
                "y": [d["following"] for d in daily],
                "line": {"color": GREEN, "width": 2},
            },
            {
                "type": "bar",
                "name": t("新しい友だち"),
                "x": x,
                "y": [d["new_friends"] + d["refollows"] for d in daily],
                "yaxis": "y2",
                "marker": {"color": LIGHT},
            },
            {
                "type": "bar",
                "name": t("ブロック"),
                "x": x,
                "y": [d["blocks"] for d in daily],
                "yaxis": "y2",
                "marker": {"color": RED},
            },
        ],
        "layout": _layout(t("フォロー中（人）"), t("1日あたり（人）"), barmode="group"),
    }


def blocks_figure(daily: list[dict[str, Any]], t: Callable[..., str]) -> dict[str, Any]:
    x = _days(daily)
    layout = _layout(t("ブロック（人）"), t("ブロック率（%）"))
    layout["yaxis2"]["ticksuffix"] = "%"
    return {
        "data": [
            {
                "type": "bar",
                "name": t("ブロック"),
                "x": x,
                "y": [d["blocks"] for d in daily],
                "marker": {"color": RED},
            },
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": t("ブロック率"),
                "x": x,
                "y": _percent([d["block_rate"] for d in daily]),
                "yaxis": "y2",
                "line": {"color": INK},
            },
        ],
        "layout": layout,
    }


def members_figure(daily: list[dict[str, Any]], t: Callable[..., str]) -> dict[str, Any]:
    x = _days(daily)
    layout = _layout(t("ID連携（件）"), t("連携済みの割合（%）"))
    layout["yaxis2"]["ticksuffix"] = "%"
    return {
        "data": [
            {
                "type": "bar",
                "name": t("その日のID連携"),
                "x": x,
                "y": [d["member_links"] for d in daily],
                "marker": {"color": BLUE},
            },
            {
                "type": "scatter",
                "mode": "lines",
                "name": t("フォロー中のうち連携済み"),
                "x": x,
                "y": _percent([d["linked_share"] for d in daily]),
                "yaxis": "y2",
                "line": {"color": INK},
            },
        ],
        "layout": layout,
    }


def messages_figure(
    daily: list[dict[str, Any]], months: list[dict[str, Any]], t: Callable[..., str]
) -> dict[str, Any]:
    """Messages per day, and the running total of each billing month against its quota."""
    x = _days(daily)
    running, totals, month = 0, [], None
    for day in daily:
        key = day["date"].strftime("%Y-%m")
        if key != month:
            running, month = 0, key
        running += day["messages_sent"]
        totals.append(running)
    data: list[dict[str, Any]] = [
        {
            "type": "bar",
            "name": t("送信数"),
            "x": x,
            "y": [d["messages_sent"] for d in daily],
            "marker": {"color": LIGHT},
        },
        {
            "type": "scatter",
            "mode": "lines",
            "name": t("月の累計"),
            "x": x,
            "y": totals,
            "yaxis": "y2",
            "line": {"color": INK},
        },
    ]
    limits = {m["month"]: m["limit"] for m in months}
    if any(limit is not None for limit in limits.values()):
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": t("月間上限"),
                "x": x,
                "y": [limits.get(d["date"].strftime("%Y-%m")) for d in daily],
                "yaxis": "y2",
                "line": {"color": RED, "dash": "dash"},
            }
        )
    return {"data": data, "layout": _layout(t("1日あたり（通）"), t("月の累計（通）"))}


def results_figure(daily: list[dict[str, Any]], t: Callable[..., str]) -> dict[str, Any]:
    x = _days(daily)
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "lines",
                "name": t("クリック"),
                "x": x,
                "y": [d["clicks"] for d in daily],
                "line": {"color": BLUE},
            },
            {
                "type": "scatter",
                "mode": "lines",
                "name": t("コンバージョン"),
                "x": x,
                "y": [d["conversions"] for d in daily],
                "yaxis": "y2",
                "line": {"color": GREEN},
            },
        ],
        "layout": _layout(t("クリック（回）"), t("コンバージョン（件）")),
    }


def revenue_figure(daily: list[dict[str, Any]], t: Callable[..., str]) -> dict[str, Any]:
    x = _days(daily)
    layout = _layout(t("売上（円）"), t("ROAS（%）"), barmode="overlay")
    layout["yaxis2"]["ticksuffix"] = "%"
    return {
        "data": [
            {
                "type": "bar",
                "name": t("売上"),
                "x": x,
                "y": [d["revenue_jpy"] for d in daily],
                "marker": {"color": LIGHT},
            },
            {
                "type": "bar",
                "name": t("配信経由の売上"),
                "x": x,
                "y": [d["attributed_revenue_jpy"] for d in daily],
                "marker": {"color": GREEN},
            },
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": "ROAS",
                "x": x,
                "y": _percent([d["roas"] for d in daily]),
                "yaxis": "y2",
                "line": {"color": AMBER},
                "connectgaps": False,
            },
        ],
        "layout": layout,
    }
