"""The quota ledger: what enishi sent that LINE counts toward the monthly allowance.

LINE bills per recipient of push, multicast and narrowcast (and broadcast) in Japan-time
months (LINE_PLATFORM.md §5); replies and rich-menu calls are free. Every producer's
requests count, whoever made them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from enishi.sending.kinds import BILLED_KINDS
from enishi.sending.models import SENT, OutboundRequest

LINE_MONTH_ZONE = ZoneInfo("Asia/Tokyo")

# the billed recipients of a set of requests (sum over the rows `billed_where` selects)
billed_recipients = func.sum(OutboundRequest.recipient_count)


def month_start(now: datetime) -> datetime:
    local = now.astimezone(LINE_MONTH_ZONE)
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)


def billed_where(account_id: int) -> tuple[ColumnElement[bool], ...]:
    """The account's sent requests that LINE bills."""
    return (
        OutboundRequest.account_id == account_id,
        OutboundRequest.status == SENT,
        OutboundRequest.kind.in_(BILLED_KINDS),
    )


def messages_sent(
    session: Session, *, account_id: int, since: datetime, until: datetime | None = None
) -> int:
    """Recipients LINE bills for what enishi sent for the account in [since, until)."""
    query = select(func.coalesce(billed_recipients, 0)).where(
        *billed_where(account_id), OutboundRequest.sent_at >= since
    )
    if until is not None:
        query = query.where(OutboundRequest.sent_at < until)
    return int(session.scalar(query) or 0)
