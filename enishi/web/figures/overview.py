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


def _bar(name: str, x: list[str], y: list[Any], color: str, *, right: bool = False) -> dict:
    trace = {"type": "bar", "name": name, "x": x, "y": y, "marker": {"color": color}}
    return {**trace, "yaxis": "y2"} if right else trace


def _line(
    name: str,
    x: list[str],
    y: list[Any],
    color: str,
    *,
    right: bool = False,
    markers: bool = False,
    **line: Any,
) -> dict:
    trace = {
        "type": "scatter",
        "mode": "lines+markers" if markers else "lines",
        "name": name,
        "x": x,
        "y": y,
        "line": {"color": color, **line},
    }
    return {**trace, "yaxis": "y2"} if right else trace


def _series(daily: list[dict[str, Any]], key: str) -> list[Any]:
    return [d[key] for d in daily]


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
    joined = [d["new_friends"] + d["refollows"] for d in daily]
    return {
        "data": [
            _line(t("フォロー中"), x, _series(daily, "following"), GREEN, width=2),
            _bar(t("新しい友だち"), x, joined, LIGHT, right=True),
            _bar(t("ブロック"), x, _series(daily, "blocks"), RED, right=True),
        ],
        "layout": _layout(t("フォロー中（人）"), t("1日あたり（人）"), barmode="group"),
    }


def blocks_figure(daily: list[dict[str, Any]], t: Callable[..., str]) -> dict[str, Any]:
    x = _days(daily)
    layout = _layout(t("ブロック（人）"), t("ブロック率（%）"))
    layout["yaxis2"]["ticksuffix"] = "%"
    rate = _percent(_series(daily, "block_rate"))
    return {
        "data": [
            _bar(t("ブロック"), x, _series(daily, "blocks"), RED),
            _line(t("ブロック率"), x, rate, INK, right=True, markers=True),
        ],
        "layout": layout,
    }


def members_figure(daily: list[dict[str, Any]], t: Callable[..., str]) -> dict[str, Any]:
    x = _days(daily)
    layout = _layout(t("ID連携（件）"), t("連携済みの割合（%）"))
    layout["yaxis2"]["ticksuffix"] = "%"
    share = _percent(_series(daily, "linked_share"))
    return {
        "data": [
            _bar(t("その日のID連携"), x, _series(daily, "member_links"), BLUE),
            _line(t("フォロー中のうち連携済み"), x, share, INK, right=True),
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
    data = [
        _bar(t("送信数"), x, _series(daily, "messages_sent"), LIGHT),
        _line(t("月の累計"), x, totals, INK, right=True),
    ]
    limits = {m["month"]: m["limit"] for m in months}
    if any(limit is not None for limit in limits.values()):
        per_day = [limits.get(d["date"].strftime("%Y-%m")) for d in daily]
        data.append(_line(t("月間上限"), x, per_day, RED, right=True, dash="dash"))
    return {"data": data, "layout": _layout(t("1日あたり（通）"), t("月の累計（通）"))}


def results_figure(daily: list[dict[str, Any]], t: Callable[..., str]) -> dict[str, Any]:
    x = _days(daily)
    return {
        "data": [
            _line(t("クリック"), x, _series(daily, "clicks"), BLUE),
            _line(t("コンバージョン"), x, _series(daily, "conversions"), GREEN, right=True),
        ],
        "layout": _layout(t("クリック（回）"), t("コンバージョン（件）")),
    }


def revenue_figure(daily: list[dict[str, Any]], t: Callable[..., str]) -> dict[str, Any]:
    x = _days(daily)
    layout = _layout(t("売上（円）"), t("ROAS（%）"), barmode="overlay")
    layout["yaxis2"]["ticksuffix"] = "%"
    roas = _line("ROAS", x, _percent(_series(daily, "roas")), AMBER, right=True, markers=True)
    return {
        "data": [
            _bar(t("売上"), x, _series(daily, "revenue_jpy"), LIGHT),
            _bar(t("配信経由の売上"), x, _series(daily, "attributed_revenue_jpy"), GREEN),
            {**roas, "connectgaps": False},
        ],
        "layout": layout,
    }
