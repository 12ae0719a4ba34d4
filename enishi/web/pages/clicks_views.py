"""What the click analysis page shows of an analysis: the bucket tables with their labels,
the charts with the fall-off (recency) or threshold (frequency) marked and stated in words,
and the choices of the segment form's range."""

from __future__ import annotations

from typing import Any

from enishi.analytics.click_reports import frequency_report, recency_report
from enishi.analytics.clicks import ClickAnalysis
from enishi.web.context import AccountPage
from enishi.web.figures.clicks import ChartBucket, ChartCut, bucket_figure, position_between


def _pct(rate: float | None) -> str:
    return "—" if rate is None else f"{rate:.1%}"


def recency_bucket_label(bucket: dict[str, Any], page: AccountPage) -> str:
    if bucket["key"] == "never":
        return page.t("クリックなし")
    if bucket["key"] == "older":
        return page.t("{days}日以上（期間内クリックなし）", days=bucket["min"])
    return page.t("{low}〜{high}日", low=bucket["min"], high=bucket["max"])


def frequency_bucket_label(bucket: dict[str, Any], page: AccountPage) -> str:
    low, high = bucket["min"], bucket["max"]
    if high is None:
        return page.t("{count}回以上", count=low)
    if high == low:
        return page.t("{count}回", count=low)
    return page.t("{low}〜{high}回", low=low, high=high)


def _rows(buckets: list[dict[str, Any]], label) -> list[dict[str, Any]]:
    return [{**b, "display": label(b), "rate_text": _pct(b["purchase_rate"])} for b in buckets]


def _chart_buckets(rows: list[dict[str, Any]]) -> list[ChartBucket]:
    return [
        ChartBucket(r["display"], r["min"], r["max"], r["friends"], r["purchase_rate"])
        for r in rows
    ]


def recency_view(analysis: ClickAnalysis, page: AccountPage) -> dict[str, Any]:
    report = recency_report(analysis)
    rows = _rows(report["buckets"], lambda b: recency_bucket_label(b, page))
    falloff = report["falloff"]
    chart_buckets = _chart_buckets(rows)
    cut = statement = None
    if falloff is not None:
        n = falloff["days"]
        in_period = len([r for r in rows if r["key"] not in ("older", "never")]) - 0.5
        position = position_between(chart_buckets, n + 1, analysis.params.lookback_days + 1)
        cut = ChartCut(
            in_period if position is None else position,  # None: the cut ends the period
            page.t("{days}日以内 ｜ {next}日以上", days=n, next=n + 1),
            falloff["inside"]["purchase_rate"],
            falloff["outside"]["purchase_rate"],
            inside_first=True,
            step_end=in_period,
        )
        inside, outside, rest = falloff["inside"], falloff["outside"], falloff["complement"]
        low, high = falloff["difference_ci95"]
        statement = {
            "days": n,
            "headline": page.t(
                "{days}日以内にクリックした友だちの購入率は {inside}、{next}日以上は {rest}",
                days=n,
                inside=_pct(inside["purchase_rate"]),
                next=n + 1,
                rest=_pct(rest["purchase_rate"]),
            ),
            "detail": page.t(
                "{days}日以内: {inside_friends}人・購入者{inside_buyers}人。"
                "{low}〜{high}日前にクリック: {outside_friends}人・購入率 {outside}。"
                "{next}日以上（クリックなしを含む）: {rest_friends}人。",
                days=n,
                inside_friends=f"{inside['friends']:,}",
                inside_buyers=f"{inside['purchasers']:,}",
                low=outside["min_days"],
                high=outside["max_days"],
                outside_friends=f"{outside['friends']:,}",
                outside=_pct(outside["purchase_rate"]),
                next=n + 1,
                rest_friends=f"{rest['friends']:,}",
            ),
            "difference": page.t(
                "購入率の差 {difference}ポイント（95%信頼区間 {low}〜{high}）",
                difference=f"{falloff['difference'] * 100:.1f}",
                low=f"{low * 100:.1f}",
                high=f"{high * 100:.1f}",
            ),
            "inside_range": ("0", str(n)),
            "rest_range": (str(n + 1), "never"),
        }
        for row in rows:
            row["in_cut"] = row["max"] is not None and row["min"] <= n <= row["max"]
    figure = bucket_figure(chart_buckets, cut, page.t, x_title=page.t("最後のクリックからの日数"))
    return {"report": report, "rows": rows, "figure": figure, "falloff": statement}


def frequency_view(analysis: ClickAnalysis, page: AccountPage) -> dict[str, Any]:
    report = frequency_report(analysis)
    rows = _rows(report["buckets"], lambda b: frequency_bucket_label(b, page))
    threshold = report["threshold"]
    chart_buckets = _chart_buckets(rows)
    cut = statement = None
    if threshold is not None:
        k = threshold["clicks"]
        position = position_between(chart_buckets, k, analysis.params.cap)
        inside, outside = threshold["inside"], threshold["outside"]
        cut = ChartCut(
            position if position is not None else -0.5,
            page.t("{count}回以上", count=k),
            inside["purchase_rate"],
            outside["purchase_rate"],
            inside_first=False,
            step_end=len(rows) - 0.5,
        )
        statement = {
            "clicks": k,
            "headline": page.t(
                "直近{days}日で{count}回以上クリックした友だちの購入率は {inside}、それ未満は {outside}",
                days=analysis.params.lookback_days,
                count=k,
                inside=_pct(inside["purchase_rate"]),
                outside=_pct(outside["purchase_rate"]),
            ),
            "inside_range": (str(k), ""),
        }
    figure = bucket_figure(chart_buckets, cut, page.t, x_title=page.t("期間内のクリック回数"))
    return {"report": report, "rows": rows, "figure": figure, "threshold": statement}


def range_options(rows: list[dict[str, Any]], kind: str) -> dict[str, list[tuple[str, str]]]:
    """Values for the "from" and "to" selects of the segment form."""
    starts, ends = [], []
    for row in rows:
        if kind == "recency" and row["key"] in ("older", "never"):
            starts.append((str(row["min"]) if row["key"] == "older" else "never", row["display"]))
            ends.append((row["key"], row["display"]))
        else:
            starts.append((str(row["min"]), row["display"]))
            ends.append(("" if row["max"] is None else str(row["max"]), row["display"]))
    return {"from": starts, "to": ends}
