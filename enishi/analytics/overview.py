"""The account overview (docs/analytics.md): friends, blocks, member links, messages, clicks,
purchases and ROAS over a period, as daily series in the account's time zone.

Each series is one grouped query by local day (sqltime.local_day_index: exact across
daylight-saving changes). Counts that are states rather than events — friends following,
member IDs linked — are walked back from today's exact count through the recorded changes:
following at the end of day d = following now − the net follows/blocks after d.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, or_, select, text
from sqlalchemy.orm import Session

from enishi.accounts.models import Account
from enishi.analytics.sqltime import day_bounds, local_day_index, local_midnight
from enishi.db.base import utcnow
from enishi.delivery.quota import QuotaUsage
from enishi.friends.models import FOLLOWING, FollowHistory, Friend
from enishi.kit.errors import ApiError
from enishi.members.models import MemberLink
from enishi.sending.models import OutboundRequest
from enishi.sending.quota import LINE_MONTH_ZONE, billed_recipients, billed_where, messages_sent
from enishi.tracking.models import Click, Conversion

MAX_PERIOD_DAYS = 366
FOLLOWS = ("follow", "unblock")


def period_days(
    account: Account, first: date | None, last: date | None, *, now: datetime | None = None
) -> tuple[date, date]:
    """The period's first and last local day; by default the 30 days ending today."""
    today = (now or utcnow()).astimezone(ZoneInfo(account.timezone)).date()
    last = last or today
    first = first or last - timedelta(days=29)
    if first > last:
        raise ApiError(422, "invalid", "from is after to", "from")
    if (last - first).days + 1 > MAX_PERIOD_DAYS:
        raise ApiError(422, "invalid", f"a period is at most {MAX_PERIOD_DAYS} days", "from")
    return first, last


class _Days:
    """Local day numbering of a period: 0..n-1, and n for "after the period"."""

    def __init__(self, first: date, last: date, zone: ZoneInfo) -> None:
        self.first, self.last, self.zone = first, last, zone
        self.n = (last - first).days + 1
        self.start, self.end = day_bounds(first, last, zone)

    def key(self, column):
        """The day number of `column` for times at or after the period start."""
        return case(
            (column >= self.end, self.n),
            else_=local_day_index(column, self.first, self.last, self.zone),
        )

    def bounds(self) -> list[tuple[datetime, datetime | None]]:
        """[start, end) of each day in UTC, then [end, ∞) for "after the period"."""
        starts = [local_midnight(self.first + timedelta(days=d), self.zone) for d in range(self.n)]
        return [*zip(starts, [*starts[1:], self.end], strict=True), (self.end, None)]

    def series(self, rows: Iterable[Any], index: int = 1) -> tuple[list[int], int]:
        """(per day, after the period) of column `index` of (day, value…) rows."""
        out, after = [0] * self.n, 0
        for row in rows:
            value = int(row[index] or 0)
            if row[0] == self.n:
                after += value
            else:
                out[int(row[0])] += value
        return out, after


def _follow_changes(session: Session, account_id: int, days: _Days):
    """Per day: new friends, re-follows, blocks; and the net change after the period. A
    history row changes the state only when it differs from the friend's previous row (a
    second follow in a row changes nothing)."""
    h = FollowHistory
    previous = func.lag(h.kind).over(partition_by=h.friend_id, order_by=(h.at, h.id))
    recent = select(h.friend_id).where(h.at >= days.start)
    events = (
        select(h.at.label("at"), h.kind.label("kind"), previous.label("previous"))
        .join(Friend, Friend.id == h.friend_id)
        .where(Friend.account_id == account_id, h.friend_id.in_(recent))
        .subquery()
    )
    was_following = or_(events.c.previous.is_(None), events.c.previous.in_(FOLLOWS))
    comes = and_(
        events.c.kind.in_(FOLLOWS),
        or_(events.c.previous.is_(None), events.c.previous == "block"),
    )
    new = and_(events.c.kind == "follow", events.c.previous.is_(None))
    goes = and_(events.c.kind == "block", was_following)
    day = days.key(events.c.at)
    rows = session.execute(
        select(
            day,
            func.sum(case((new, 1), else_=0)),
            func.sum(case((and_(comes, ~new), 1), else_=0)),
            func.sum(case((goes, 1), else_=0)),
        )
        .where(events.c.at >= days.start)
        .group_by(day)
    ).all()
    new_friends, new_after = days.series(rows, 1)
    refollows, refollows_after = days.series(rows, 2)
    blocks, blocks_after = days.series(rows, 3)
    return new_friends, refollows, blocks, new_after + refollows_after - blocks_after


def _walk_back(now_value: int, net: list[int], net_after: int) -> tuple[list[int], int]:
    """(value at the end of each day, value at the period start) from today's value."""
    ends = [0] * len(net)
    value = now_value - net_after
    for d in range(len(net) - 1, -1, -1):
        ends[d] = value
        value -= net[d]
    return ends, value


def _counts(session: Session, days: _Days, column, *where) -> tuple[list[int], int]:
    """Rows per day, and after the period: one statement of a count per day over [day
    start, next day start) — an index-only range each — instead of computing a day number
    for every row and sorting them."""
    bounds = days.bounds()
    counts = []
    for low, high in bounds:
        window = [column >= low] if high is None else [column >= low, column < high]
        counts.append(select(func.count()).where(*where, *window).scalar_subquery())
    row = [int(v or 0) for v in session.execute(select(*counts)).one()]
    return row[:-1], row[-1]


def _sums(session: Session, days: _Days, column, values: list[Any], *where) -> list[list[int]]:
    """Per value, its total per day: one pass over the period's rows (they are read for
    the amounts anyway), grouped by local day."""
    day = days.key(column)
    rows = session.execute(
        select(day, *values).where(column >= days.start, *where).group_by(day)
    ).all()
    return [days.series(rows, i + 1)[0] for i in range(len(values))]


def _months(session: Session, account: Account, days: _Days) -> list[dict[str, Any]]:
    """Messages enishi sent in each LINE billing month (Japan time) the period touches."""
    out = []
    month = days.start.astimezone(LINE_MONTH_ZONE).date().replace(day=1)
    while True:
        start = datetime.combine(month, datetime.min.time(), tzinfo=LINE_MONTH_ZONE)
        following = (month + timedelta(days=32)).replace(day=1)
        end = datetime.combine(following, datetime.min.time(), tzinfo=LINE_MONTH_ZONE)
        if start >= days.end:
            break
        sent = messages_sent(
            session,
            account_id=account.id,
            since=start.astimezone(UTC),
            until=end.astimezone(UTC),
        )
        out.append(
            {
                "month": month.strftime("%Y-%m"),
                "sent": sent,
                "limit": account.monthly_quota,
            }
        )
        month = following
    return out


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def overview(
    session: Session,
    account: Account,
    first: date,
    last: date,
    *,
    quota: QuotaUsage | None = None,
) -> dict[str, Any]:
    """The overview of `account` for the local days first..last. Never writes."""
    days = _Days(first, last, ZoneInfo(account.timezone))
    aid = account.id
    if session.get_bind().dialect.name == "postgresql":
        # JIT compiling a statement of many small subqueries costs seconds; they run in less
        session.execute(text("SET LOCAL jit = off"))

    new_friends, refollows, blocks, net_after = _follow_changes(session, aid, days)
    following_now = (
        session.scalar(
            select(func.count()).where(Friend.account_id == aid, Friend.status == FOLLOWING)
        )
        or 0
    )
    net = [new_friends[d] + refollows[d] - blocks[d] for d in range(days.n)]
    following, following_start = _walk_back(following_now, net, net_after)

    links, links_after = _counts(session, days, MemberLink.linked_at, MemberLink.account_id == aid)
    unlinks, unlinks_after = _counts(
        session, days, MemberLink.unlinked_at, MemberLink.account_id == aid
    )
    linked_now = (
        session.scalar(
            select(func.count()).where(
                MemberLink.account_id == aid, MemberLink.unlinked_at.is_(None)
            )
        )
        or 0
    )
    linked, _ = _walk_back(
        linked_now, [links[d] - unlinks[d] for d in range(days.n)], links_after - unlinks_after
    )

    (sent,) = _sums(session, days, OutboundRequest.sent_at, [billed_recipients], *billed_where(aid))
    clicks, _ = _counts(session, days, Click.clicked_at, Click.account_id == aid)
    attributed = case(
        (Conversion.attributed_delivery_id.is_not(None), Conversion.amount_jpy), else_=0
    )
    conversions, revenue, attributed_revenue = _sums(
        session,
        days,
        Conversion.occurred_at,
        [func.count(), func.sum(Conversion.amount_jpy), func.sum(attributed)],
        Conversion.account_id == aid,
    )

    cost_per_message = float(account.cost_per_message_jpy or Decimal(0))
    daily = []
    for d in range(days.n):
        before = following[d - 1] if d else following_start
        cost = sent[d] * cost_per_message
        daily.append(
            {
                "date": days.first + timedelta(days=d),
                "following": following[d],
                "new_friends": new_friends[d],
                "refollows": refollows[d],
                "blocks": blocks[d],
                "block_rate": _ratio(blocks[d], before + new_friends[d] + refollows[d]),
                "member_links": links[d],
                "linked": linked[d],
                "linked_share": _ratio(linked[d], following[d]),
                "messages_sent": sent[d],
                "cost_jpy": cost,
                "clicks": clicks[d],
                "conversions": conversions[d],
                "revenue_jpy": revenue[d],
                "attributed_revenue_jpy": attributed_revenue[d],
                "roas": _ratio(attributed_revenue[d], cost),
            }
        )
    total_cost = sum(sent) * cost_per_message
    reach = following_start + sum(new_friends) + sum(refollows)
    totals = {
        "following_start": following_start,
        "following_end": following[-1],
        "new_friends": sum(new_friends),
        "refollows": sum(refollows),
        "blocks": sum(blocks),
        "block_rate": _ratio(sum(blocks), reach),
        "member_links": sum(links),
        "linked_end": linked[-1],
        "linked_share_end": _ratio(linked[-1], following[-1]),
        "messages_sent": sum(sent),
        "cost_jpy": total_cost,
        "clicks": sum(clicks),
        "conversions": sum(conversions),
        "revenue_jpy": sum(revenue),
        "attributed_revenue_jpy": sum(attributed_revenue),
        "roas": _ratio(sum(attributed_revenue), total_cost),
    }
    return {
        "account_id": aid,
        "timezone": account.timezone,
        "from": days.first,
        "to": days.last,
        "cost_per_message_jpy": cost_per_message,
        "totals": totals,
        "daily": daily,
        "months": _months(session, account, days),
        "quota": quota.as_dict() if quota is not None else None,
    }
