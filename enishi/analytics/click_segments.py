"""Bucket ranges of the click analysis as definitions in the segment language, and the one
step that saves such a segment.

Days since the last click are counted as the analysis counts them: d days means the click
was more than d − 1 and at most d whole 24-hour days before the moment (0 = exactly then),
so "0–N days" is exactly `clicked.within_days: N` and "from M days" is exactly
`clicked.not_within_days: M − 1`. A saved segment is evaluated when it is used (the
delivery's now), not at the analysis's as-of moment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from enishi.audit.actor import Actor
from enishi.kit.errors import ApiError
from enishi.segments.language import LANGUAGE_VERSION, MAX_DAYS
from enishi.segments.models import Segment
from enishi.segments.service import count_segment, create_segment


@dataclass(frozen=True)
class ClickFilter:
    """Only clicks on the links of one delivery, and/or on one link."""

    delivery_id: int | None = None
    link_id: int | None = None

    def fields(self) -> dict[str, int]:
        out = {}
        if self.delivery_id is not None:
            out["delivery_id"] = self.delivery_id
        if self.link_id is not None:
            out["link_id"] = self.link_id
        return out

    def label(self) -> str:
        parts = []
        if self.delivery_id is not None:
            parts.append(f"配信{self.delivery_id}")
        if self.link_id is not None:
            parts.append(f"リンク{self.link_id}")
        return "・".join(parts) + "の" if parts else ""


def _definition(where: dict[str, Any]) -> dict[str, Any]:
    return {"version": LANGUAGE_VERSION, "where": where}


def _invalid(message: str, field: str) -> ApiError:
    return ApiError(422, "invalid_range", message, field)


def recency_definition(
    min_days: int, max_days: int | None, flt: ClickFilter, *, include_never: bool = True
) -> dict[str, Any]:
    """Friends whose last click was min_days..max_days days ago (max_days None: or longer ago;
    then `include_never` adds those who never clicked, as `not_within_days` does)."""
    extra = flt.fields()
    if min_days < 0 or min_days == 1 or min_days > MAX_DAYS + 1:
        raise _invalid(
            f"min_days is 0 or 2..{MAX_DAYS + 1} (day 0 holds only clicks at the very moment, "
            "so a range starts at 0 or 2)",
            "min_days",
        )
    if max_days is not None and not (max(1, min_days) <= max_days <= MAX_DAYS):
        raise _invalid(f"max_days is max(1, min_days)..{MAX_DAYS}", "max_days")
    parts: list[dict[str, Any]] = []
    if max_days is not None:
        parts.append({"clicked": {"within_days": max_days, **extra}})
    if min_days >= 2:
        parts.append({"clicked": {"not_within_days": min_days - 1, **extra}})
    if max_days is None and not include_never:
        parts.append({"click_count": {"gte": 1, **extra}})
    if not parts:  # 0 days or longer ago, never included: everyone
        return _definition({"all": []})
    return _definition(parts[0] if len(parts) == 1 else {"all": parts})


def never_definition(flt: ClickFilter) -> dict[str, Any]:
    return _definition({"click_count": {"eq": 0, **flt.fields()}})


def frequency_definition(
    min_clicks: int, max_clicks: int | None, lookback_days: int, flt: ClickFilter
) -> dict[str, Any]:
    """Friends with min_clicks..max_clicks clicks (max None: or more) in the last
    `lookback_days` days."""
    if min_clicks < 0:
        raise _invalid("min_clicks is 0 or more", "min_clicks")
    if max_clicks is not None and max_clicks < min_clicks:
        raise _invalid("max_clicks is at least min_clicks", "max_clicks")
    if not 1 <= lookback_days <= MAX_DAYS:
        raise _invalid(f"lookback_days is 1..{MAX_DAYS}", "lookback_days")
    counts: dict[str, int] = {"gte": min_clicks}
    if max_clicks is not None:
        counts = {"eq": min_clicks} if max_clicks == min_clicks else {**counts, "lte": max_clicks}
    return _definition({"click_count": {**counts, "within_days": lookback_days, **flt.fields()}})


def recency_label(min_days: int, max_days: int | None, flt: ClickFilter, include_never=True):
    who = flt.label()
    if max_days is None:
        tail = "（未クリック含む）" if include_never else ""
        return f"{who}クリックが{max(min_days, 1)}日以上前{tail}"
    if min_days == 0:
        return f"{who}{max_days}日以内にクリック"
    return f"{who}最終クリック{min_days}〜{max_days}日前"


def frequency_label(min_clicks: int, max_clicks: int | None, lookback_days: int, flt):
    who = flt.label()
    if max_clicks is None:
        return f"{who}直近{lookback_days}日で{min_clicks}回以上クリック"
    if max_clicks == min_clicks:
        return f"{who}直近{lookback_days}日で{min_clicks}回クリック"
    return f"{who}直近{lookback_days}日で{min_clicks}〜{max_clicks}回クリック"


def save_click_segment(
    session: Session, account_id: int, name: str, definition: dict[str, Any], *, actor: Actor
) -> tuple[Segment, int]:
    """Save the segment (validated against the account like any other) and count who it
    targets now; the audit entry keeps that count. Never commits."""
    friends = count_segment(session, account_id, definition)
    extra = {"source": "click_analysis", "friends": friends}
    segment = create_segment(
        session, account_id, name, definition, actor=actor, audit_details=extra
    )
    return segment, friends
