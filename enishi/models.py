"""Every domain's tables, imported in one place for Alembic and for create_all in tests."""

from enishi.accounts.models import Account, ApiKey
from enishi.db.base import Base
from enishi.friends.models import (
    AttributeDef,
    FollowHistory,
    Friend,
    FriendActivity,
    FriendAttribute,
    FriendTag,
    Tag,
)
from enishi.inflow.models import InflowRoute, RouteVisit
from enishi.members.models import LinkNonce, MemberLink
from enishi.tracking.models import Click, Conversion, ConversionItem, CustomEvent, Link
from enishi.webhook.models import WebhookEvent

__all__ = [
    "Account",
    "ApiKey",
    "AttributeDef",
    "Base",
    "Click",
    "Conversion",
    "ConversionItem",
    "CustomEvent",
    "FollowHistory",
    "Friend",
    "FriendActivity",
    "FriendAttribute",
    "FriendTag",
    "InflowRoute",
    "Link",
    "LinkNonce",
    "MemberLink",
    "RouteVisit",
    "Tag",
    "WebhookEvent",
]
