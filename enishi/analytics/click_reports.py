"""The click analysis as the API's JSON (and the page's and the CSV's numbers): the
buckets, per-day / per-count rows, the fall-off or threshold with both sides and their
segment definitions, and what the analysis covered (period, outcome window, filter)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from enishi.analytics.click_segments import (
    frequency_definition,
    frequency_label,
    recency_definition,
    recency_label,
)
from enishi.analytics.clicks import ClickAnalysis
from enishi.analytics.falloff import Cut, Tally
from enishi.db.base import utcnow


def _side(tally: Tally) -> dict[str, Any]:
    return {
        "friends": tally.friends,
        "purchasers": tally.purchasers,
        "purchase_rate": tally.rate,
        "revenue_jpy": tally.revenue_jpy,
        "revenue_per_friend": tally.revenue_per_friend,
    }


def _cut_dict(cut: Cut, inside: dict[str, Any], outside: dict[str, Any]) -> dict[str, Any]:
    return {
        "inside": {**_side(cut.inside), **inside},
        "outside": {**_side(cut.outside), **outside},
        "difference": cut.difference,
        "difference_ci95": list(cut.ci95),
        "g_statistic": cut.g_statistic,
    }


def falloff_dict(analysis: ClickAnalysis) -> dict[str, Any] | None:
    cut = analysis.recency_falloff()
    if cut is None:
        return None
    p, flt = analysis.params, analysis.params.click_filter
    n = cut.cut
    rest = analysis.population.friends - cut.inside.friends
    complement = Tally(
        rest,
        analysis.population.purchasers - cut.inside.purchasers,
        analysis.population.revenue_jpy - cut.inside.revenue_jpy,
    )
    return {
        "days": n,
        "label": recency_label(0, n, flt),
        **_cut_dict(
            cut,
            {"min_days": 0, "max_days": n, "segment_definition": recency_definition(0, n, flt)},
            {
                "min_days": n + 1,
                "max_days": p.lookback_days,
                "segment_definition": recency_definition(n + 1, p.lookback_days, flt),
            },
        ),
        "complement": {
            **_side(complement),
            "label": recency_label(n + 1, None, flt),
            "segment_definition": recency_definition(n + 1, None, flt),
        },
    }


def threshold_dict(analysis: ClickAnalysis) -> dict[str, Any] | None:
    cut = analysis.frequency_threshold()
    if cut is None:
        return None
    p, flt = analysis.params, analysis.params.click_filter
    k = cut.cut
    return {
        "clicks": k,
        "label": frequency_label(k, None, p.lookback_days, flt),
        **_cut_dict(
            cut,
            {
                "min_clicks": k,
                "max_clicks": None,
                "segment_definition": frequency_definition(k, None, p.lookback_days, flt),
            },
            {
                "min_clicks": 0,
                "max_clicks": k - 1,
                "segment_definition": frequency_definition(0, k - 1, p.lookback_days, flt),
            },
        ),
    }


def meta_dict(analysis: ClickAnalysis, now: datetime | None = None) -> dict[str, Any]:
    p = analysis.params
    start, end = p.outcome_window()
    population = analysis.population
    return {
        "as_of": p.as_of,
        "timezone": analysis.timezone,
        "period": {"from": p.since, "to": p.as_of, "lookback_days": p.lookback_days},
        "outcome": {
            "kind": p.outcome,
            "from": start,
            "from_inclusive": p.outcome == "period",
            "to": end,
            "days": p.outcome_days if p.outcome == "after" else p.lookback_days,
            "complete": end <= (now or utcnow()),
        },
        "filter": analysis.params.click_filter.fields(),
        "population": _side(population),
    }


def recency_report(analysis: ClickAnalysis, now: datetime | None = None) -> dict[str, Any]:
    population = analysis.population.friends
    return {
        **meta_dict(analysis, now),
        "bucket_days": analysis.params.bucket_days,
        "buckets": [b.as_dict(population) for b in analysis.recency_buckets()],
        "daily": [{"days": d, **_side(t)} for d, t in enumerate(analysis.per_day) if t.friends],
        "falloff": falloff_dict(analysis),
        "min_group": analysis.params.min_group,
    }


def frequency_report(analysis: ClickAnalysis, now: datetime | None = None) -> dict[str, Any]:
    population = analysis.population.friends
    return {
        **meta_dict(analysis, now),
        "frequency_edges": list(analysis.params.frequency_edges),
        "buckets": [b.as_dict(population) for b in analysis.frequency_buckets()],
        "per_count": [
            {"clicks": k, "open_ended": k == analysis.params.cap, **_side(t)}
            for k, t in enumerate(analysis.per_count)
            if t.friends
        ],
        "threshold": threshold_dict(analysis),
        "min_group": analysis.params.min_group,
    }
