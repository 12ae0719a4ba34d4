"""What the inflow-route API takes and answers."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

CODE_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"


class RouteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    code: str | None = Field(
        None, pattern=CODE_PATTERN, description="in the URL /r/{code}; generated when absent"
    )


class RoutePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200)
    code: str | None = Field(
        None,
        pattern=CODE_PATTERN,
        description="changing it changes the URL: printed QR codes with the old URL stop working",
    )


class RouteCounts(BaseModel):
    added: int = Field(description="friends who came through the route")
    following: int = Field(description="of those, still following")
    blocked: int = Field(description="of those, blocked now")
    visits: int = Field(description="route-page visits identified by a verified ID token")
    visitors: int = Field(description="distinct LINE users among those visits")
    anonymous_visits: int = Field(
        description="visits from browsers that could not identify the user (no LIFF)"
    )


class RouteOut(BaseModel):
    id: int
    name: str
    code: str
    url: str = Field(description="the route page; what the QR code encodes")
    qr_url: str = Field(description="a PNG of the QR code (public)")
    liff_url: str | None = Field(
        None,
        description="the same page opened as a LIFF app (when the account has a LIFF "
        "ID whose endpoint URL is {public_base_url}/r)",
    )
    created_at: datetime
    counts: RouteCounts


class VisitIn(BaseModel):
    """Only the ID token: anything else a browser says about the user is not trusted."""

    id_token: str | None = Field(None, max_length=4096)


class VisitOut(BaseModel):
    add_friend_url: str
    identified: bool
