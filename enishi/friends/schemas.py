"""What the friends API reads and answers (pydantic); the ORM classes live in models.py."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

AttributeType = Literal["text", "number", "date", "choice"]
AttributeValue = str | int | float | None


class Rollups(BaseModel):
    """Kept by the writers of clicks, conversions and messages; rebuildable from them."""

    model_config = ConfigDict(from_attributes=True)

    last_click_at: datetime | None
    click_count: int
    last_purchase_at: datetime | None
    purchase_count: int
    revenue_jpy: int
    last_message_at: datetime | None


class RouteRef(BaseModel):
    id: int
    code: str
    name: str


class FriendSummary(BaseModel):
    """One row of a friend list: no tags or attributes, so a page is one query."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    line_user_id: str
    display_name: str | None
    picture_url: str | None
    status: str
    member_id: str | None
    inflow_route_id: int | None
    first_followed_at: datetime | None
    last_followed_at: datetime | None
    blocked_at: datetime | None
    created_at: datetime


class FriendPage(BaseModel):
    items: list[FriendSummary]
    next_cursor: str | None = None


class FriendCount(BaseModel):
    count: int


class FriendDetail(FriendSummary):
    status_message: str | None
    language: str | None
    profile_fetched_at: datetime | None
    inflow_route: RouteRef | None
    notes: str | None
    tags: list[str]
    attributes: dict[str, AttributeValue] = Field(
        description="key → value typed by its definition: text/choice as strings, numbers as "
        "numbers, dates as YYYY-MM-DD"
    )
    rollups: Rollups


class FriendPatch(BaseModel):
    """All-or-nothing: nothing changes unless every part is valid."""

    model_config = ConfigDict(extra="forbid")

    attributes: dict[str, Any] | None = Field(
        None, description="key → new value; null clears the attribute"
    )
    tags_add: list[str] = Field(default_factory=list, max_length=100)
    tags_remove: list[str] = Field(default_factory=list, max_length=100)
    notes: str | None = Field(None, description="replaces the notes; null or '' clears them")


class TimelineItem(BaseModel):
    kind: str = Field(
        description="follow, unblock, block, click, conversion, event, "
        "member_linked, member_unlinked, or an activity kind (message, "
        "postback, tag_added, attribute_set, ...)"
    )
    at: datetime
    source: str = Field(description="the table the entry comes from")
    id: int = Field(description="the row's id in that table")
    data: dict[str, Any]


class TimelinePage(BaseModel):
    items: list[TimelineItem]
    next_cursor: str | None = None


class AttributeDefIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    label: str = Field(min_length=1, max_length=200)
    type: AttributeType
    choices: list[str] | None = None


class AttributeDefPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str | None = Field(None, min_length=1, max_length=200)
    type: AttributeType | None = None
    choices: list[str] | None = None


class AttributeDefOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    key: str
    label: str
    type: str
    choices: list[str] | None
    created_at: datetime


class TagOut(BaseModel):
    name: str
    friend_count: int
    created_at: datetime


class ImportRowError(BaseModel):
    row: int | None = Field(description="the row as Excel numbers it: the header is row 1")
    column: str | None
    message: str


class ImportReport(BaseModel):
    apply: Literal["all", "valid", "none"]
    encoding: str | None = Field(description="how the file was decoded: utf-8-sig, utf-8, cp932")
    applied: bool = Field(description="whether anything was written")
    rows: int = Field(description="data rows read (blank rows are skipped)")
    valid_rows: int
    invalid_rows: int
    created: int = Field(description="friends created (or that would be, on a dry run)")
    updated: int
    unchanged: int
    error_count: int
    errors: list[ImportRowError] = Field(description="the first errors, in file order")
    errors_truncated: bool
