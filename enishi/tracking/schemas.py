"""What the tracking API accepts and answers: links, conversions, custom events."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field

LINE_USER_ID_PATTERN = r"^U[0-9a-f]{32}$"
EVENT_NAME_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"
BATCH_MAX = 5000


def _iso_string(value: Any) -> Any:
    """Times are ISO 8601 strings with an offset; epoch numbers are refused (ms or s?)."""
    if isinstance(value, str | datetime):
        return value
    raise ValueError(
        "must be an ISO 8601 date-time string with an offset, e.g. 2026-01-05T20:14:03+09:00"
    )


IsoTime = Annotated[AwareDatetime, BeforeValidator(_iso_string)]
Jpy = Annotated[int, Field(strict=True, ge=0, le=10**12)]


# --- links ---------------------------------------------------------------------------------
class LinkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(description="http(s) destination, at most 2,000 characters")
    delivery_id: int | None = Field(None, ge=1)
    utm: dict[str, str] | None = Field(
        None, description="e.g. {'utm_source': 'line', 'utm_campaign': 'spring'}"
    )
    label: str | None = Field(None, max_length=200)


class LinkOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    url: str
    delivery_id: int | None
    utm: dict[str, str] | None
    label: str | None
    created_at: datetime
    tracked_url: str = Field(description="the link's URL without a friend (e.g. for multicast)")


class LinkPage(BaseModel):
    items: list[LinkOut]
    next_cursor: str | None = None


class ClickCounts(BaseModel):
    total: int
    with_friend: int
    unique_friends: int


class LinkDetail(LinkOut):
    clicks: ClickCounts


class TrackedUrlOut(BaseModel):
    link_id: int
    friend_id: int | None
    line_user_id: str | None
    url: str


# --- conversions ---------------------------------------------------------------------------
class ConversionItemIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    sku: str = Field(min_length=1, max_length=200)
    name: str | None = Field(None, max_length=500)
    unit_price: Jpy
    quantity: int = Field(strict=True, ge=1, le=1_000_000)


class ConversionIn(BaseModel):
    """An order as the brand's shop reports it (the emulator's shop callback body as is).
    Unknown fields are ignored, so a shop may send more than enishi reads."""

    model_config = ConfigDict(extra="ignore")

    order_id: str = Field(min_length=1, max_length=200)
    line_user_id: str | None = Field(None, pattern=LINE_USER_ID_PATTERN)
    member_id: str | None = Field(None, min_length=1, max_length=200)
    amount: Jpy = Field(description="JPY, an integer; must equal the items' total if any")
    currency: str | None = Field(None, description="only JPY is accepted")
    occurred_at: IsoTime
    items: list[ConversionItemIn] | None = Field(None, max_length=1000)


class ConversionItemOut(BaseModel):
    sku: str
    name: str | None
    unit_price: int
    quantity: int


class ConversionOut(BaseModel):
    id: int
    order_id: str
    friend_id: int | None
    line_user_id: str | None
    member_id: str | None
    amount: int
    currency: Literal["JPY"] = "JPY"
    occurred_at: datetime
    received_at: datetime
    attributed: bool
    attributed_click_id: int | None
    attributed_link_id: int | None
    attributed_delivery_id: int | None
    items: list[ConversionItemOut]


class ConversionResult(BaseModel):
    status: Literal["created", "duplicate"]
    duplicate: bool
    friend_found: bool
    attributed: bool
    unattributed_reason: Literal["unknown_friend", "no_click_in_window"] | None = Field(
        description="why the order is not attributed to a click, when it is not"
    )
    conversion: ConversionOut


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = None


class ConversionBatchIn(BaseModel):
    conversions: list[Any] = Field(max_length=BATCH_MAX, description="ConversionIn objects")


class ConversionBatchItem(BaseModel):
    index: int
    status: Literal["created", "duplicate", "error"]
    order_id: str | None = None
    conversion_id: int | None = None
    friend_found: bool | None = None
    attributed: bool | None = None
    error: ErrorDetail | None = None


class BatchSummary(BaseModel):
    created: int
    duplicates: int
    errors: int


class ConversionBatchOut(BatchSummary):
    results: list[ConversionBatchItem]


class ConversionPage(BaseModel):
    items: list[ConversionOut]
    next_cursor: str | None = None


# --- custom events -------------------------------------------------------------------------
class EventIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    event_id: str | None = Field(
        None, min_length=1, max_length=200, description="idempotency key; generated if absent"
    )
    name: str = Field(pattern=EVENT_NAME_PATTERN, description="cart_added, page_view, …")
    line_user_id: str | None = Field(None, pattern=LINE_USER_ID_PATTERN)
    member_id: str | None = Field(None, min_length=1, max_length=200)
    properties: dict[str, Any] = Field(default_factory=dict, description="at most 16 KB")
    occurred_at: IsoTime | None = Field(None, description="defaults to when it is received")


class EventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    event_id: str
    name: str
    friend_id: int | None
    line_user_id: str | None
    member_id: str | None
    properties: dict[str, Any]
    occurred_at: datetime
    received_at: datetime


class EventResult(BaseModel):
    status: Literal["created", "duplicate"]
    duplicate: bool
    friend_found: bool
    event: EventOut


class EventBatchIn(BaseModel):
    events: list[Any] = Field(max_length=BATCH_MAX, description="EventIn objects")


class EventBatchItem(BaseModel):
    index: int
    status: Literal["created", "duplicate", "error"]
    event_id: str | None = None
    id: int | None = None
    friend_found: bool | None = None
    error: ErrorDetail | None = None


class EventBatchOut(BatchSummary):
    results: list[EventBatchItem]


class EventPage(BaseModel):
    items: list[EventOut]
    next_cursor: str | None = None
