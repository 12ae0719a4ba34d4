"""What a delivery did, per arm and for its holdout: set-based queries that aggregate in
the database (a handful of statements, whatever the audience size) into `Tally`s.

Two ways of crediting conversions are tallied side by side:
- **click-based**: conversions whose `attributed_delivery_id` is this delivery (the
  friend's latest click within the account's attribution window was on its links);
- **window-based** (for the holdout comparison): every conversion of an assigned friend in
  the attribution window after the send, clicked or not; arms and holdout alike.

See docs/deliveries.md, "Reports", for every figure.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import (
    Float,
    Interval,
    and_,
    bindparam,
    cast,
    distinct,
    func,
    literal_column,
    select,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from enishi.accounts.models import Account
from enishi.db.base import UTCDateTime
from enishi.delivery.models import (
    CANCELLED,
    FAILED,
    HELD_OUT,
    HOLDOUT_ARM,
    QUEUED,
    SENT,
    SKIPPED,
    Delivery,
    DeliveryRecipient,
)
from enishi.delivery.stats import Sample
from enishi.friends.models import FollowHistory
from enishi.sending.models import TERMINAL, OutboundRequest
from enishi.tracking.models import Click, Conversion

BLOCK_HOURS = 48
_P = DeliveryRecipient.__table__
_R = OutboundRequest.__table__
_C = Conversion.__table__
_K = Click.__table__
_H = FollowHistory.__table__


@dataclass
class Tally:
    """Everything counted for one arm (or the holdout)."""

    name: str
    targeted: int = 0  # recipient rows: everyone assigned to it
    queued: int = 0
    sent: int = 0
    failed: int = 0
    cancelled: int = 0
    skipped: int = 0  # over the monthly quota (partial mode)
    held_out: int = 0
    failed_by_reason: Counter[str] = field(default_factory=Counter)
    clicks: int = 0  # clicks by its friends on the delivery's links
    unique_clicks: int = 0  # friends who clicked
    blocks: int = 0  # friends who blocked within 48 h of the send
    # click-based attribution: orders, friends who bought, revenue (Σ and Σ² per friend)
    conversions: int = 0
    revenue: Sample = field(default_factory=lambda: Sample(0, 0, 0.0))
    # window-based: the friends compared (assigned, not skipped) and their orders
    window_conversions: int = 0
    window_revenue: Sample = field(default_factory=lambda: Sample(0, 0, 0.0))

    @property
    def converters(self) -> int:
        return self.revenue.n

    @property
    def window_friends(self) -> int:
        """Who the holdout comparison counts: assigned and not skipped for the quota (a
        random draw of its own), whether sent, failed or cancelled (intent to treat)."""
        return self.targeted - self.skipped

    @property
    def window_converters(self) -> int:
        return self.window_revenue.n

    def add(self, other: Tally) -> None:
        for name in (
            "targeted",
            "queued",
            "sent",
            "failed",
            "cancelled",
            "skipped",
            "held_out",
            "clicks",
            "unique_clicks",
            "blocks",
            "conversions",
            "window_conversions",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.failed_by_reason.update(other.failed_by_reason)
        self.revenue = _plus(self.revenue, other.revenue)
        self.window_revenue = _plus(self.window_revenue, other.window_revenue)


def _plus(a: Sample, b: Sample) -> Sample:
    return Sample(a.n + b.n, a.total + b.total, a.total_sq + b.total_sq)


@dataclass
class DeliveryTallies:
    delivery: Delivery
    arms: dict[str, Tally]  # in the delivery's arm order
    holdout: Tally
    anonymous_clicks: int  # friend-less (multicast-token) clicks: no arm can be known
    # click-attributed conversions of friends who are not recipients (normally none)
    unassigned: Tally
    window_start: datetime | None
    window_end: datetime | None

    def total(self) -> Tally:
        """All arms together (the holdout and unassigned conversions apart)."""
        total = Tally("total")
        for tally in self.arms.values():
            total.add(tally)
        return total


def window(delivery: Delivery, account: Account) -> tuple[datetime | None, datetime | None]:
    """[send, send + attribution window): the send is the delivery's start, floored to the
    second because shops report order times to the second."""
    if delivery.started_at is None:
        return None, None
    start = delivery.started_at.replace(microsecond=0)
    return start, start + timedelta(days=account.attribution_window_days)


def tally(session: Session, account: Account, delivery: Delivery) -> DeliveryTallies:
    """Count everything about one delivery in six aggregate queries."""
    names = [arm["name"] for arm in delivery.arms]
    groups: dict[str, Tally] = {name: Tally(name) for name in names}
    groups[HOLDOUT_ARM] = Tally(HOLDOUT_ARM)
    unassigned = Tally("unassigned")

    def group(arm: str | None) -> Tally:
        if arm is None:
            return unassigned
        if arm not in groups:  # an arm renamed after sending: keep its figures anyway
            groups[arm] = Tally(arm)
        return groups[arm]

    _count_outcomes(session, delivery.id, group)
    anonymous = _count_clicks(session, delivery.id, group)
    _count_attributed(session, delivery.id, group)
    start, end = window(delivery, account)
    if start is not None and end is not None:
        _count_in_window(session, account.id, delivery.id, start, end, group)
        _count_blocks(session, delivery, group)
    holdout = groups.pop(HOLDOUT_ARM)
    return DeliveryTallies(
        delivery=delivery,
        arms=groups,
        holdout=holdout,
        anonymous_clicks=anonymous,
        unassigned=unassigned,
        window_start=start,
        window_end=end,
    )


def _count_outcomes(session: Session, delivery_id: int, group) -> None:
    """Recipients by arm and outcome, then the few failed or not-yet-recorded ones in detail:
    failure reasons, and for a recipient still `queued` its request's final outcome
    (recorded onto recipients later), so the figures are exact while sending. Two narrow
    passes sort far less than one grouping by every detail (a million rows on SQLite)."""
    for arm, status, n in session.execute(
        select(_P.c.arm, _P.c.status, func.count())
        .where(_P.c.delivery_id == delivery_id)
        .group_by(_P.c.arm, _P.c.status)
    ):
        tally = group(arm)
        tally.targeted += n
        if status in (SENT, FAILED, CANCELLED, SKIPPED, HELD_OUT):
            setattr(tally, status, getattr(tally, status) + n)
    detail = (
        select(_P.c.arm, _P.c.status, _P.c.error, _P.c.request_id, func.count().label("n"))
        .where(_P.c.delivery_id == delivery_id, _P.c.status.in_((FAILED, QUEUED)))
        .group_by(_P.c.arm, _P.c.status, _P.c.error, _P.c.request_id)
        .subquery()
    )
    rows = session.execute(
        select(
            detail, _R.c.status.label("request_status"), _R.c.error.label("request_error")
        ).select_from(detail.outerjoin(_R, _R.c.id == detail.c.request_id))
    )
    for arm, status, error, _, n, request_status, request_error in rows:
        tally = group(arm)
        if status == QUEUED:
            if request_status in TERMINAL:
                status, error = request_status, request_error
            setattr(tally, status, getattr(tally, status) + n)  # queued, sent, failed, cancelled
        if status == FAILED:
            tally.failed_by_reason[error or "unknown"] += n


def _count_clicks(session: Session, delivery_id: int, group) -> int:
    """Clicks on the delivery's links by arm; returns the friend-less ones."""
    rows = session.execute(
        select(
            _P.c.arm,
            func.count(_K.c.friend_id),
            func.count(distinct(_K.c.friend_id)),
            func.count() - func.count(_K.c.friend_id),
        )
        .select_from(
            _K.outerjoin(
                _P, and_(_P.c.delivery_id == delivery_id, _P.c.friend_id == _K.c.friend_id)
            )
        )
        .where(_K.c.delivery_id == delivery_id)
        .group_by(_P.c.arm)
    )
    anonymous = 0
    for arm, clicks, unique, friendless in rows:
        tally = group(arm)
        tally.clicks += clicks
        tally.unique_clicks += unique
        anonymous += friendless
    return anonymous


def _revenue_by_arm(
    session: Session, delivery_id: int, *conditions: ColumnElement[bool], inner: bool = False
):
    """(arm, buyers, orders, Σ revenue, Σ revenue²) over friends, from the conversions that
    meet `conditions` joined to the delivery's recipients (outer join: an arm of None is a
    buyer outside the audience). Grouping per (arm, friend) rather than per friend keeps
    SQLite from walking the whole conversions table in friend order to group it."""
    on = and_(_P.c.delivery_id == delivery_id, _P.c.friend_id == _C.c.friend_id)
    joined = _C.join(_P, on) if inner else _C.outerjoin(_P, on)
    per_friend = (
        select(
            _P.c.arm.label("arm"),
            func.count().label("orders"),
            func.sum(_C.c.amount_jpy).label("revenue"),
        )
        .select_from(joined)
        .where(*conditions)
        .group_by(_P.c.arm, _C.c.friend_id)
        .subquery()
    )
    revenue_sq = cast(per_friend.c.revenue, Float) * cast(per_friend.c.revenue, Float)
    return session.execute(
        select(
            per_friend.c.arm,
            func.count(),
            func.sum(per_friend.c.orders),
            func.sum(per_friend.c.revenue),
            func.sum(revenue_sq),
        ).group_by(per_friend.c.arm)
    )


def _count_attributed(session: Session, delivery_id: int, group) -> None:
    """Click-attributed conversions by the arm of the friend who bought."""
    for arm, friends, orders, revenue, revenue_sq in _revenue_by_arm(
        session, delivery_id, _C.c.attributed_delivery_id == delivery_id
    ):
        tally = group(arm)
        tally.conversions += int(orders)
        tally.revenue = _plus(tally.revenue, Sample(friends, int(revenue), float(revenue_sq)))


def _count_in_window(
    session: Session, account_id: int, delivery_id: int, start: datetime, end: datetime, group
) -> None:
    """Every conversion of an assigned friend (not skipped) in [start, end), by arm."""
    for arm, friends, orders, revenue, revenue_sq in _revenue_by_arm(
        session,
        delivery_id,
        _C.c.account_id == account_id,
        _C.c.occurred_at >= start,
        _C.c.occurred_at < end,
        _P.c.status != SKIPPED,
        inner=True,
    ):
        tally = group(arm)
        tally.window_conversions += int(orders)
        tally.window_revenue = _plus(
            tally.window_revenue, Sample(friends, int(revenue), float(revenue_sq))
        )


def _plus_hours(session: Session, moment: ColumnElement, hours: int) -> ColumnElement:
    """`moment` + hours in SQL. SQLite keeps times as 'YYYY-MM-DD HH:MM:SS.ffffff' text, so
    its result (to the millisecond) compares with stored times as text."""
    if session.get_bind().dialect.name == "postgresql":
        return moment + literal_column(f"INTERVAL '{int(hours)} hours'", type_=Interval)
    return func.strftime("%Y-%m-%d %H:%M:%f", moment, f"+{int(hours)} hours")


def _count_blocks(session: Session, delivery: Delivery, group) -> None:
    """Friends who blocked within 48 h after their message was sent (held-out friends:
    after the delivery started — the baseline), from the follow history, by arm. Counted
    over recorded outcomes, so final once the delivery is done."""
    started = func.coalesce(
        _P.c.sent_at, bindparam("delivery_started", delivery.started_at, type_=UTCDateTime())
    )
    rows = session.execute(
        select(_P.c.arm, func.count(distinct(_P.c.friend_id)))
        .select_from(_P.join(_H, _H.c.friend_id == _P.c.friend_id))
        .where(
            _P.c.delivery_id == delivery.id,
            _P.c.status.in_((SENT, HELD_OUT)),
            _H.c.kind == "block",
            _H.c.at >= delivery.started_at,
            _H.c.at >= started,
            _H.c.at < _plus_hours(session, started, BLOCK_HOURS),
        )
        .group_by(_P.c.arm)
    )
    for arm, blocks in rows:
        group(arm).blocks += blocks
