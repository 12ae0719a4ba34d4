"""The click analysis charts: friends per bucket as bars, the purchase rate as a line on a
second axis, and the detected cut (recency fall-off / frequency threshold) as a marked
vertical line with the two rates it separates drawn as a step."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

BAR = "#9bd8b0"
RATE = "#1f2933"
CUT = "#e0533d"


@dataclass(frozen=True)
class ChartBucket:
    label: str
    low: int | None
    high: int | None  # inclusive; None: open-ended
    friends: int
    purchase_rate: float | None


@dataclass(frozen=True)
class ChartCut:
    """Where the marker goes (a position on the category axis) and what it says."""

    position: float
    label: str
    inside_rate: float
    outside_rate: float
    inside_first: bool  # the inside lies left of the marker (recency) or right (frequency)
    step_end: float  # where the step of the two rates ends (recency: before "older", "never")


def position_between(buckets: list[ChartBucket], boundary: int, span_end: int) -> float | None:
    """The category-axis position of the boundary just before value `boundary` (buckets sit
    at 0, 1, 2…; a bucket of several values is split proportionally)."""
    for index, bucket in enumerate(buckets):
        if bucket.low is None:
            continue
        high = bucket.high if bucket.high is not None else span_end
        if bucket.low <= boundary <= high:
            return index - 0.5 + (boundary - bucket.low) / (high - bucket.low + 1)
    return None


def _percent(rate: float | None) -> float | None:
    return None if rate is None else round(rate * 100, 3)


def bucket_figure(
    buckets: list[ChartBucket],
    cut: ChartCut | None,
    t: Callable[..., str],
    *,
    x_title: str,
) -> dict[str, Any]:
    labels = [b.label for b in buckets]
    data: list[dict[str, Any]] = [
        {
            "type": "bar",
            "name": t("友だち"),
            "x": labels,
            "y": [b.friends for b in buckets],
            "marker": {"color": BAR},
            "hovertemplate": "%{x}<br>%{y:,}<extra></extra>",
        },
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": t("購入率"),
            "x": labels,
            "y": [_percent(b.purchase_rate) for b in buckets],
            "yaxis": "y2",
            "line": {"color": RATE, "width": 2},
            "connectgaps": False,
            "hovertemplate": "%{x}<br>%{y:.1f}%<extra></extra>",
        },
    ]
    shapes: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    if cut is not None:
        shapes.append(
            {
                "type": "line",
                "xref": "x",
                "yref": "paper",
                "x0": cut.position,
                "x1": cut.position,
                "y0": 0,
                "y1": 1,
                "line": {"color": CUT, "width": 2, "dash": "dash"},
                "name": "cut",
            }
        )
        left, right = (
            (cut.inside_rate, cut.outside_rate)
            if cut.inside_first
            else (cut.outside_rate, cut.inside_rate)
        )
        for x0, x1, rate in ((-0.5, cut.position, left), (cut.position, cut.step_end, right)):
            shapes.append(
                {
                    "type": "line",
                    "xref": "x",
                    "yref": "y2",
                    "x0": x0,
                    "x1": x1,
                    "y0": _percent(rate),
                    "y1": _percent(rate),
                    "line": {"color": CUT, "width": 1.5, "dash": "dot"},
                }
            )
        annotations.append(
            {
                "x": cut.position,
                "y": 1,
                "xref": "x",
                "yref": "paper",
                "yanchor": "bottom",
                "text": cut.label,
                "showarrow": False,
                "font": {"color": CUT},
                "bgcolor": "rgba(255,255,255,0.85)",
            }
        )
    return {
        "data": data,
        "layout": {
            "height": 400,
            "margin": {"t": 64, "r": 56, "b": 110, "l": 56},
            "bargap": 0.15,
            "xaxis": {"title": {"text": x_title}, "type": "category", "tickangle": -30},
            "yaxis": {"title": {"text": t("友だち（人）")}, "rangemode": "tozero"},
            "yaxis2": {
                "title": {"text": t("購入率（%）")},
                "overlaying": "y",
                "side": "right",
                "rangemode": "tozero",
                "ticksuffix": "%",
                "showgrid": False,
            },
            "legend": {"orientation": "h", "x": 0, "y": 1.16, "yanchor": "bottom"},
            "shapes": shapes,
            "annotations": annotations,
        },
    }
