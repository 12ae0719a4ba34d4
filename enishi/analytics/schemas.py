"""What the analytics API takes and returns (docs/analytics.md)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

DEFINITION = "A segment definition that selects these friends (docs/segments.md)."


class Side(BaseModel):
    friends: int
    purchasers: int
    purchase_rate: float | None = Field(description="purchasers / friends")
    revenue_jpy: int
    revenue_per_friend: float | None


class Period(BaseModel):
    from_: datetime = Field(alias="from")
    to: datetime
    lookback_days: int


class OutcomeWindow(BaseModel):
    kind: str = Field(description="after: purchases in the days after as-of; period: in it")
    from_: datetime = Field(alias="from")
    from_inclusive: bool
    to: datetime
    days: int
    complete: bool = Field(description="false while the window still reaches into the future")


class BucketOut(Side):
    key: str
    label: str
    min: int | None
    max: int | None = Field(description="null: open-ended")
    share: float | None = Field(description="friends / the population")
    segment_definition: dict[str, Any] = Field(description=DEFINITION)


class CutSide(Side):
    model_config = ConfigDict(extra="allow")
    segment_definition: dict[str, Any] = Field(description=DEFINITION)


class ComplementOut(Side):
    label: str
    segment_definition: dict[str, Any] = Field(description=DEFINITION)


class Falloff(BaseModel):
    days: int = Field(description="the cut: friends who clicked within this many days")
    label: str
    inside: CutSide
    outside: CutSide = Field(description="clicked in the period, but longer ago than the cut")
    difference: float = Field(description="purchase rate inside − outside")
    difference_ci95: list[float] = Field(description="Newcombe hybrid score interval, 95%")
    g_statistic: float
    complement: ComplementOut = Field(
        description="everyone outside the cut, never-clickers included (not_within_days)"
    )


class Threshold(BaseModel):
    clicks: int = Field(description="friends with at least this many clicks in the period")
    label: str
    inside: CutSide
    outside: CutSide
    difference: float
    difference_ci95: list[float]
    g_statistic: float


class DayRow(Side):
    days: int


class CountRow(Side):
    clicks: int
    open_ended: bool = Field(description="true for the last count: that many or more")


class ReportBase(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    as_of: datetime
    timezone: str
    period: Period
    outcome: OutcomeWindow
    filter: dict[str, int]
    population: Side = Field(description="following friends who were friends at as-of")
    min_group: int


class RecencyOut(ReportBase):
    bucket_days: int
    buckets: list[BucketOut]
    daily: list[DayRow] = Field(description="per day since the last click (days with friends)")
    falloff: Falloff | None = Field(description="null when no cut meets the rules")


class FrequencyOut(ReportBase):
    frequency_edges: list[int]
    buckets: list[BucketOut]
    per_count: list[CountRow]
    threshold: Threshold | None


class RecencyRange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min_days: int = Field(0, ge=0, description="0, or 2 and more")
    max_days: int | None = Field(None, ge=1, description="null: or longer ago")
    include_never: bool = Field(True, description="with max_days null: never-clickers too")


class FrequencyRange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min_clicks: int = Field(0, ge=0)
    max_clicks: int | None = Field(None, ge=0, description="null: or more")
    lookback_days: int = Field(90, ge=1)


class ClickSegmentIn(BaseModel):
    """A bucket range of the analysis, saved as a segment. Give recency or frequency."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200, description="default: a label")
    recency: RecencyRange | None = None
    frequency: FrequencyRange | None = None
    delivery_id: int | None = None
    link_id: int | None = None


class ClickSegmentOut(BaseModel):
    id: int
    name: str
    definition: dict[str, Any]
    count: int = Field(description="following friends it targets now")
    created_at: datetime


class OverviewDay(BaseModel):
    date: date
    following: int
    new_friends: int
    refollows: int
    blocks: int
    block_rate: float | None
    member_links: int
    linked: int
    linked_share: float | None
    messages_sent: int
    cost_jpy: float
    clicks: int
    conversions: int
    revenue_jpy: int
    attributed_revenue_jpy: int
    roas: float | None


class OverviewMonth(BaseModel):
    month: str
    sent: int
    limit: int | None


class OverviewOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    account_id: int
    timezone: str
    from_: date = Field(alias="from")
    to: date
    cost_per_message_jpy: float
    totals: dict[str, Any]
    daily: list[OverviewDay]
    months: list[OverviewMonth]
    quota: dict[str, Any] | None
