"""Tracking's entries in a friend's timeline: clicks, conversions, custom events
(registered in enishi/wiring.py)."""

from __future__ import annotations

from sqlalchemy import select

from enishi.friends.timeline import Source
from enishi.tracking.models import Click, Conversion, CustomEvent, Link

TIMELINE_SOURCES = (
    Source(
        3,
        "clicks",
        Click.clicked_at,
        Click.id,
        lambda fid: (
            select(
                Click.clicked_at.label("at"), Click.id, Click.link_id, Click.delivery_id, Link.url
            )
            .outerjoin(Link, Link.id == Click.link_id)
            .where(Click.friend_id == fid)
        ),
        lambda r: ("click", {"link_id": r.link_id, "url": r.url, "delivery_id": r.delivery_id}),
    ),
    Source(
        4,
        "conversions",
        Conversion.occurred_at,
        Conversion.id,
        lambda fid: select(
            Conversion.occurred_at.label("at"),
            Conversion.id,
            Conversion.order_id,
            Conversion.amount_jpy,
            Conversion.attributed_delivery_id,
        ).where(Conversion.friend_id == fid),
        lambda r: (
            "conversion",
            {
                "order_id": r.order_id,
                "amount_jpy": r.amount_jpy,
                "attributed_delivery_id": r.attributed_delivery_id,
            },
        ),
    ),
    Source(
        5,
        "custom_events",
        CustomEvent.occurred_at,
        CustomEvent.id,
        lambda fid: select(
            CustomEvent.occurred_at.label("at"),
            CustomEvent.id,
            CustomEvent.name,
            CustomEvent.event_id,
            CustomEvent.properties,
        ).where(CustomEvent.friend_id == fid),
        lambda r: (
            "event",
            {"name": r.name, "event_id": r.event_id, "properties": dict(r.properties or {})},
        ),
    ),
)
