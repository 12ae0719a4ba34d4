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
