"""The account's monthly message quota: LINE's figures, the account's own plan setting,
what enishi sent and what running deliveries still hold.

LINE bills per recipient of push, multicast and narrowcast (LINE_PLATFORM.md §5) in
Japan-time months. The limit is the smaller of LINE's quota (`GET /v2/bot/message/quota`)
and the account's `monthly_quota`; the usage is the larger of LINE's consumption (which
also counts messages sent from LINE Official Account Manager) and what enishi sent itself,
whoever produced it (the sending ledger). Deliveries that are still sending hold
("reserve") what they have yet to send, as LINE does for narrowcasts.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from enishi.accounts.models import Account
from enishi.db.base import utcnow
from enishi.delivery.models import PAUSED, SENDING, Delivery
from enishi.line.errors import LineError
from enishi.line.gateway import LineGateway
from enishi.sending.models import DELIVERY, PENDING, OutboundRequest
from enishi.sending.quota import LINE_MONTH_ZONE, messages_sent, month_start


@dataclass
class QuotaUsage:
    month: str  # YYYY-MM, Japan time (LINE's billing month)
    limit: int | None  # None: unlimited
    used: int
    reserved: int  # still to be sent by running deliveries
    remaining: int | None
    line_type: str | None  # none | limited; None when LINE could not be asked
    line_limit: int | None
    line_used: int | None
    account_limit: int | None
    enishi_sent: int
    line_error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def line_quota(line: LineGateway) -> tuple[str | None, int | None, int | None, str | None]:
    """(type, limit, used, error) from LINE's quota and consumption endpoints."""
    try:
        quota = line.message_quota()
        used = line.quota_consumption()
    except LineError as error:  # unreachable or refused: fall back to what enishi knows
        return None, None, None, f"LINE quota unavailable ({error.status or error.message})"
    return quota.type, quota.value, used, None


def usage(
    session: Session,
    account: Account,
    line: LineGateway,
    *,
    now: datetime | None = None,
    exclude_delivery_id: int | None = None,
) -> QuotaUsage:
    now = now or utcnow()
    start = month_start(now)
    line_type, line_limit, line_used, error = line_quota(line)
    sent = messages_sent(session, account_id=account.id, since=start)
    reserved = _reserved(session, account.id, exclude_delivery_id)
    limits = [x for x in (line_limit, account.monthly_quota) if x is not None]
    limit = min(limits) if limits else None
    used = max(int(sent), line_used or 0)
    remaining = None if limit is None else max(0, limit - used - reserved)
    return QuotaUsage(
        month=now.astimezone(LINE_MONTH_ZONE).strftime("%Y-%m"),
        limit=limit,
        used=used,
        reserved=reserved,
        remaining=remaining,
        line_type=line_type,
        line_limit=line_limit,
        line_used=line_used,
        account_limit=account.monthly_quota,
        enishi_sent=int(sent),
        line_error=error,
    )


def _reserved(session: Session, account_id: int, exclude: int | None) -> int:
    """Recipients that running deliveries have planned but not sent, plus those they have
    yet to plan."""
    active = select(
        Delivery.id, Delivery.expected_sends, Delivery.planned_sends, Delivery.planned_at
    ).where(Delivery.account_id == account_id, Delivery.status.in_((SENDING, PAUSED)))
    if exclude is not None:
        active = active.where(Delivery.id != exclude)
    rows = session.execute(active).all()
    if not rows:
        return 0
    waiting = session.scalar(
        select(func.coalesce(func.sum(OutboundRequest.recipient_count), 0)).where(
            OutboundRequest.source == DELIVERY,
            OutboundRequest.source_id.in_([r.id for r in rows]),
            OutboundRequest.recorded.is_(False),
            OutboundRequest.status.in_((PENDING, SENDING)),
        )
    )
    unplanned = sum(
        max(0, (r.expected_sends or 0) - r.planned_sends) for r in rows if r.planned_at is None
    )
    return int(waiting or 0) + unplanned


def refusal(needed: int, quota: QuotaUsage) -> str:
    return (
        f"今月の配信上限を超えます: この配信は{needed:,}通必要ですが、残りは"
        f"{quota.remaining:,}通です / this delivery needs {needed:,} messages but only "
        f"{quota.remaining:,} remain in {quota.month} (limit {quota.limit:,}, used "
        f"{quota.used:,}, held by running deliveries {quota.reserved:,}); choose "
        "quota_mode=partial to send to as many as the quota allows"
    )
