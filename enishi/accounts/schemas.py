"""What the API shows of an account: never its channel secret or access token."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator


class AccountOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    channel_id: str
    bot_user_id: str | None
    basic_id: str | None
    login_channel_id: str | None
    liff_id: str | None = None
    timezone: str
    cost_per_message_jpy: Decimal
    monthly_quota: int | None
    attribution_window_days: int
    created_at: datetime


class AccountPatch(BaseModel):
    """Settings; the secret and token are write-only."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200)
    timezone: str | None = None
    cost_per_message_jpy: Decimal | None = Field(None, ge=0, le=1000)
    monthly_quota: int | None = Field(None, ge=0)
    attribution_window_days: int | None = Field(None, ge=1, le=90)
    login_channel_id: str | None = Field(None, pattern=r"^\d+$")
    liff_id: str | None = Field(None, pattern=r"^\d+-[A-Za-z0-9]+$", max_length=64)
    channel_secret: str | None = Field(None, min_length=1, max_length=200)
    access_token: str | None = Field(None, min_length=1, max_length=2000)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown timezone {value!r}") from None
        return value


class ApiKeyIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)


class ApiKeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The full key. Shown once; store it now.")
