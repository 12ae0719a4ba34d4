"""Deliveries as a producer of the sending outbox.

A delivery's requests go out only while it is `sending` (a pause or a cancel stops them
within the dispatcher's next look, 0.1 s); its lane keeps running while it is still being
planned; a channel-wide refusal (monthly limit, refused token) pauses it with LINE's
message. Outcomes are copied onto recipients later, off the hot path, by progress.py.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Connection, Select, select, update

from enishi.db.base import utcnow
from enishi.delivery.models import PAUSED, SENDING, Delivery
from enishi.sending.models import DELIVERY, OutboundRequest
from enishi.sending.producers import Producer, register


def requests_of(delivery_id: int) -> ColumnElement[bool]:
    """The outbox rows of one delivery."""
    table = OutboundRequest.__table__
    return (table.c.source == DELIVERY) & (table.c.source_id == delivery_id)


def _sendable(account_id: int | None) -> Select:
    query = select(Delivery.id).where(Delivery.status == SENDING)
    if account_id is not None:
        query = query.where(Delivery.account_id == account_id)
    return query


def _active_accounts() -> Select:
    return select(Delivery.account_id).where(Delivery.status == SENDING).distinct()


def _pause(connection: Connection, delivery_id: int, error: str, code: str) -> None:
    connection.execute(
        update(Delivery.__table__)
        .where(Delivery.id == delivery_id, Delivery.status == SENDING)
        .values(status=PAUSED, paused_at=utcnow(), error=error, error_code=code)
    )


def register_producer() -> None:
    register(
        Producer(
            DELIVERY,
            sendable=_sendable,
            active_accounts=_active_accounts,
            pause=_pause,
            records_later=True,
        )
    )
