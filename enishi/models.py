"""Every domain's tables, imported in one place for Alembic and for create_all in tests."""

from enishi.accounts.models import Account, ApiKey
from enishi.audit.models import AuditEntry
from enishi.db.base import Base
from enishi.delivery.models import Delivery, DeliveryListMember, DeliveryRecipient
from enishi.events.models import DomainEvent, EventDelivery
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
from enishi.operators.models import (
    LoginFailure,
    Operator,
    OperatorRole,
    OperatorSession,
)
from enishi.segments.models import Segment
from enishi.sending.models import ChannelLease, OutboundRequest
from enishi.tracking.models import Click, Conversion, ConversionItem, CustomEvent, Link
from enishi.webhook.models import WebhookEvent

__all__ = [
    "Account",
    "ApiKey",
    "AuditEntry",
    "AttributeDef",
    "Base",
    "ChannelLease",
    "Click",
    "Conversion",
    "ConversionItem",
    "CustomEvent",
    "Delivery",
    "DeliveryListMember",
    "DeliveryRecipient",
    "DomainEvent",
    "EventDelivery",
    "FollowHistory",
    "Friend",
    "FriendActivity",
    "FriendAttribute",
    "FriendTag",
    "InflowRoute",
    "Link",
    "LinkNonce",
    "LoginFailure",
    "MemberLink",
    "Operator",
    "OperatorRole",
    "OperatorSession",
    "OutboundRequest",
    "RouteVisit",
    "Segment",
    "Tag",
    "WebhookEvent",
]
