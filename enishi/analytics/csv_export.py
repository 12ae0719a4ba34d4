"""The click analysis as CSV for Excel: UTF-8 with a BOM, one row per bucket, then one row
per day (recency) or per click count (frequency), so the chart can be redrawn from it.
Rates are fractions (0.125), amounts whole yen."""

from __future__ import annotations

import csv
import io
from typing import Any

from enishi.analytics.click_reports import falloff_dict, frequency_report, recency_report
from enishi.analytics.clicks import ClickAnalysis

BOM = "\ufeff"
COLUMNS = (
    "row",
    "key",
    "label",
    "min",
    "max",
    "friends",
    "share",
    "purchasers",
    "purchase_rate",
    "revenue_jpy",
    "revenue_per_friend",
)


def _number(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6f}".rstrip("0").rstrip(".")
    return value


def _rows(kind: str, analysis: ClickAnalysis) -> list[list[Any]]:
    report = recency_report(analysis) if kind == "recency" else frequency_report(analysis)
    population = report["population"]["friends"] or 0
    rows = [
        ["bucket", b["key"], b["label"]] + [b[c] for c in COLUMNS[3:]] for b in report["buckets"]
    ]
    detail = report["daily"] if kind == "recency" else report["per_count"]
    axis = "days" if kind == "recency" else "clicks"
    for item in detail:
        value = item[axis]
        high = None if item.get("open_ended") else value
        rows.append(
            [
                "day" if kind == "recency" else "count",
                str(value),
                f"{value}日" if kind == "recency" else f"{value}回{'以上' if high is None else ''}",
                value,
                high,
                item["friends"],
                item["friends"] / population if population else None,
                item["purchasers"],
                item["purchase_rate"],
                item["revenue_jpy"],
                item["revenue_per_friend"],
            ]
        )
    if kind == "recency" and (cut := falloff_dict(analysis)) is not None:
        for side in ("inside", "outside"):
            s = cut[side]
            rows.append(
                [
                    f"falloff_{side}",
                    f"{s['min_days']}-{s['max_days']}",
                    cut["label"] if side == "inside" else f"{s['min_days']}〜{s['max_days']}日",
                    s["min_days"],
                    s["max_days"],
                    s["friends"],
                    s["friends"] / population if population else None,
                    s["purchasers"],
                    s["purchase_rate"],
                    s["revenue_jpy"],
                    s["revenue_per_friend"],
                ]
            )
    return rows


def analysis_csv(kind: str, analysis: ClickAnalysis) -> bytes:
    """`kind` is recency or frequency."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in _rows(kind, analysis):
        writer.writerow([_number(v) for v in row])
    return (BOM + buffer.getvalue()).encode("utf-8")
