"""What the members API takes and answers."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

LINE_USER_ID_PATTERN = r"^U[0-9a-f]{32}$"


class LinkSessionIn(BaseModel):
    """Sent by the brand's backend once the user has logged in on the brand's site."""

    model_config = ConfigDict(extra="forbid")

    line_user_id: str = Field(pattern=LINE_USER_ID_PATTERN)
    member_id: str = Field(min_length=1, max_length=200)


class LinkSessionOut(BaseModel):
    redirect_url: str = Field(
        description="Send the user here (LINE's account-link dialog); LINE then sends the "
        "accountLink event that completes the link."
    )
    expires_at: datetime


class MemberIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    member_id: str = Field(min_length=1, max_length=200)


class MemberLinkOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    member_id: str
    method: str
    linked_at: datetime
    unlinked_at: datetime | None
    unlinked_by: str | None


class FriendMemberOut(BaseModel):
    """A friend's member link: the current one and its history, newest first."""

    line_user_id: str
    member_id: str | None
    history: list[MemberLinkOut]


class MemberFriendOut(BaseModel):
    """The friend a member ID belongs to."""

    model_config = ConfigDict(from_attributes=True)

    line_user_id: str
    member_id: str | None
    display_name: str | None
    status: str
    first_followed_at: datetime | None
    last_followed_at: datetime | None
    blocked_at: datetime | None
    inflow_route_id: int | None
    linked_at: datetime | None = None
    link_method: str | None = None


class DailyLinks(BaseModel):
    date: date
    links: int = Field(description="member links made that day (account link, API, import)")
    new_members: int = Field(description="member IDs linked for the first time ever")
    unlinks: int


class DailyLinksOut(BaseModel):
    timezone: str
    days: list[DailyLinks]
    total_links: int
    total_new_members: int
    total_unlinks: int
    following_friends: int = Field(description="friends following now")
    linked_following_friends: int = Field(description="of those, friends with a member ID")
    linked_share: float = Field(description="linked_following_friends / following_friends")
