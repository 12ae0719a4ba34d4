"""What the segments API takes and returns."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from enishi.segments.language import SegmentError

DEFINITION_HELP = 'A segment definition: {"version": 1, "where": <condition>} (docs/segments.md).'


class DefinitionIn(BaseModel):
    """A definition to validate or preview, optionally as of another moment than now."""

    model_config = ConfigDict(extra="forbid")

    definition: dict[str, Any] = Field(description=DEFINITION_HELP)
    now: AwareDatetime | None = Field(
        None, description="Evaluate windows as of this moment (default: the real now)."
    )


class ValidationOut(BaseModel):
    ok: bool
    errors: list[SegmentError]
    definition: dict[str, Any] | None = Field(
        None, description="The definition as enishi stores it, when it is valid."
    )


class FriendBrief(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    line_user_id: str
    display_name: str | None
    picture_url: str | None
    status: str
    first_followed_at: datetime | None
    member_id: str | None
    last_click_at: datetime | None
    click_count: int
    last_purchase_at: datetime | None
    purchase_count: int
    revenue_jpy: int


class PreviewOut(BaseModel):
    count: int = Field(description="Following friends a send would target now.")
    sample: list[FriendBrief] = Field(description="Up to 20 of them, newest friends first.")
    now: datetime


class SegmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    definition: dict[str, Any] = Field(description=DEFINITION_HELP)


class SegmentPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200)
    definition: dict[str, Any] | None = Field(None, description=DEFINITION_HELP)


class DuplicateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200)


class SegmentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    definition: dict[str, Any]
    version: int
    created_at: datetime
    updated_at: datetime


class SegmentPage(BaseModel):
    items: list[SegmentOut]
    next_cursor: str | None = None
