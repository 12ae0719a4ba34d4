"""REST shapes for /api/v1/deliveries and /api/v1/quota."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field


class ArmIn(BaseModel):
    name: str | None = Field(None, description="A-Z by position when omitted")
    share: float | None = Field(
        None, description="Share of the sent audience (equal when omitted); the shares add up to 1"
    )
    messages: list[dict[str, Any]] = Field(
        ...,
        description="1-5 LINE message objects; "
        "strings may hold {{display_name|default}}, "
        "{{member_id}}, {{attr.<key>}}",
    )


class DeliveryCreate(BaseModel):
    name: str = Field(..., min_length=1, max_length=200)
    audience: dict[str, Any] = Field(
        ...,
        description='{"type": "all"} | {"type": "segment", '
        '"segment_id": 1} | {"type": "list", "line_user_ids": '
        '[...]} or "member_ids" | {"type": "friend", '
        '"line_user_id": "U...", "arm": "A"}',
    )
    messages: list[dict[str, Any]] | None = Field(None, description="One arm: its messages")
    arms: list[ArmIn] | None = Field(None, description="A/B arms (instead of messages)")
    holdout_share: float = Field(
        0.0,
        ge=0.0,
        lt=1.0,
        description="Share held out (never sent), for the incremental comparison",
    )
    seed: int | None = Field(None, ge=0, le=2**62, description="Random when omitted")
    send_at: datetime | None = None
    spread_until: datetime | None = None
    quota_mode: Literal["refuse", "partial"] = "refuse"
    track_links: Literal["friend", "delivery", "off"] = "friend"
    notification_disabled: bool = False


class ScheduleIn(BaseModel):
    send_at: datetime | None = Field(None, description="Now when omitted (or the draft's)")
    spread_until: datetime | None = Field(
        None, description="Spread the requests evenly from send_at until then"
    )


class ListUpload(BaseModel):
    line_user_ids: list[str] | None = None
    member_ids: list[str] | None = None


class ListUploadOut(BaseModel):
    uploaded: int
    matched: int
    unmatched: int
    unmatched_sample: list[str]


class Problem(BaseModel):
    field: str
    message: str


class QuotaOut(BaseModel):
    month: str
    limit: int | None
    used: int
    reserved: int
    remaining: int | None
    line_type: str | None
    line_limit: int | None
    line_used: int | None
    account_limit: int | None
    enishi_sent: int
    line_error: str | None = None


class ValidationOut(BaseModel):
    valid: bool
    errors: list[Problem]
    audience_count: int
    quota: QuotaOut


class Progress(BaseModel):
    targeted: int
    queued: int
    sent: int
    failed: int
    cancelled: int
    held_out: int
    skipped: int


class DeliveryOut(BaseModel):
    id: int
    name: str
    status: str
    audience: dict[str, Any]
    arms: list[dict[str, Any]]
    holdout_share: float
    seed: int
    send_at: datetime | None
    spread_until: datetime | None
    quota_mode: str
    track_links: str
    notification_disabled: bool
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    paused_at: datetime | None
    error: str | None
    error_code: str | None
    audience_count: int | None
    expected_sends: int | None
    progress: Progress | None = None
    requests: dict[str, int] | None = None


class DeliveryPage(BaseModel):
    items: list[DeliveryOut]
    next_cursor: str | None = None


class RecipientOut(BaseModel):
    friend_id: int
    line_user_id: str | None
    arm: str
    status: str
    sent_at: datetime | None
    line_request_id: str | None
    error: str | None


class RecipientPage(BaseModel):
    items: list[RecipientOut]
    next_cursor: str | None = None


# --- reports (/deliveries/{id}/report, /deliveries/compare) ------------------------------------
class Estimate(BaseModel):
    """A difference (or a quantity derived from one) with its 95% confidence interval."""

    estimate: float
    ci_low: float | None = Field(None, description="None when it cannot be computed")
    ci_high: float | None = None
    significant: bool = Field(..., description="The 95% interval excludes 0")
    method: str = Field(..., description="newcombe (proportions) or welch (means)")
    df: float | None = Field(None, description="Welch–Satterthwaite degrees of freedom")


class FailureReason(BaseModel):
    reason: str
    count: int


class GroupReport(BaseModel):
    """One arm, the holdout, or the delivery's total (all arms)."""

    name: str
    targeted: int
    queued: int
    sent: int
    failed: int
    failed_by_reason: list[FailureReason]
    cancelled: int
    skipped: int
    held_out: int
    clicks: int = Field(..., description="Clicks on the delivery's links by these friends")
    unique_clicks: int = Field(..., description="Friends who clicked")
    ctr: float | None = Field(..., description="unique_clicks / sent")
    conversions: int = Field(..., description="Click-attributed orders")
    converters: int = Field(..., description="Friends with a click-attributed order")
    cvr: float | None = Field(..., description="converters / sent")
    revenue_jpy: int = Field(..., description="Click-attributed revenue")
    revenue_per_recipient: float | None = Field(..., description="revenue_jpy / sent")
    cost_jpy: float = Field(..., description="sent × the account's cost per message")
    roas: float | None = Field(..., description="revenue_jpy / cost_jpy (6.8 = 680%)")
    blocks_48h: int = Field(..., description="Friends who blocked within 48 h of the send")
    block_rate: float | None = Field(..., description="blocks_48h / sent (held out: / held_out)")


class WindowGroup(BaseModel):
    """Treated or held-out friends, with every order in the attribution window."""

    friends: int
    converters: int
    conversions: int
    revenue_jpy: int
    conversion_rate: float | None
    revenue_per_friend: float | None


class HoldoutComparison(BaseModel):
    arm: str = Field(..., description='"total" (every arm) or an arm\'s name')
    status: Literal["ok", "too_small", "no_holdout", "not_started"]
    conclusive: bool = Field(..., description="status ok and the window is over")
    message: str
    window_start: datetime | None
    window_end: datetime | None
    window_closed: bool
    treated: WindowGroup
    holdout: WindowGroup
    conversion_rate_diff: Estimate | None = Field(None, description="treated − holdout")
    revenue_per_friend_diff: Estimate | None = None
    incremental_conversions: Estimate | None = Field(
        None, description="conversion_rate_diff × treated friends"
    )
    incremental_revenue_jpy: Estimate | None = Field(
        None, description="revenue_per_friend_diff × treated friends"
    )
    cost_jpy: float
    incremental_roas: Estimate | None = Field(
        None, description="incremental_revenue_jpy / cost_jpy"
    )
    block_rate_diff: Estimate | None = Field(None, description="sent's block rate − holdout's")


class DeliveryReport(BaseModel):
    delivery_id: int
    name: str
    status: str
    final: bool = Field(..., description="Every outcome is recorded (done or cancelled)")
    started_at: datetime | None
    finished_at: datetime | None
    track_links: str
    cost_per_message_jpy: float
    attribution_window_days: int
    totals: GroupReport
    anonymous_clicks: int = Field(
        ..., description="Friend-less clicks (multicast tokens): counted, not in any arm"
    )
    arms: list[GroupReport]
    holdout: GroupReport | None
    holdout_comparison: HoldoutComparison
    holdout_comparison_by_arm: list[HoldoutComparison]


class CompareSide(BaseModel):
    delivery_id: int
    delivery_name: str
    arm: str | None = Field(..., description="None: every arm of the delivery")
    group: GroupReport


class GroupComparison(BaseModel):
    a: CompareSide
    b: CompareSide
    overlap_friends: int = Field(..., description="Friends in both groups (should be 0)")
    ctr_diff: Estimate | None = Field(None, description="a − b")
    cvr_diff: Estimate | None = None
    revenue_per_recipient_diff: Estimate | None = None
    status: Literal["ok", "too_small"]
    conclusive: bool
    message: str
