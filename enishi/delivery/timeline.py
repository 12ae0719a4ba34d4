"""Deliveries in a friend's timeline: each message sent to them (registered in
enishi/wiring.py)."""

from __future__ import annotations

from sqlalchemy import select

from enishi.delivery.models import Delivery, DeliveryRecipient
from enishi.friends.timeline import Source

TIMELINE_SOURCES = (
    Source(
        8,
        "delivery_recipients",
        DeliveryRecipient.sent_at,
        DeliveryRecipient.delivery_id,  # unique per friend: (delivery, friend) is the key
        lambda fid: (
            select(
                DeliveryRecipient.sent_at.label("at"),
                DeliveryRecipient.delivery_id.label("id"),
                DeliveryRecipient.arm,
                Delivery.name,
            )
            .join(Delivery, Delivery.id == DeliveryRecipient.delivery_id)
            .where(DeliveryRecipient.friend_id == fid, DeliveryRecipient.sent_at.is_not(None))
        ),
        lambda r: ("delivered", {"delivery_id": r.id, "name": r.name, "arm": r.arm}),
    ),
)
