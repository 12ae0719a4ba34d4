"""Click recency / frequency analysis (seed 000, docs/analytics.md): for friends following
the account, how long ago each last clicked and how often they clicked in a look-back
period, and how many of them bought in an outcome window — per day, per bucket, with the
point where the purchase rate falls off.

One set-based query per report (recency, frequency), the same SQL on SQLite and PostgreSQL:
a per-friend row (last click or capped click count, and revenue in the outcome window)
materialized once, then grouped by days since the last click or by clicks. The friend
rollups do most of the work: a friend whose `last_click_at` is at or before the as-of
moment needs no click lookup for recency, and only friends with a click since the period
start have their period's clicks counted (at most `cap` index entries each). With a
delivery or link filter, that delivery's (or link's) clicks are aggregated per friend
through their own index instead. The reports as JSON: click_reports.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, literal, select, text
from sqlalchemy.orm import Session

from enishi.accounts.models import Account
from enishi.analytics.click_segments import (
    ClickFilter,
    frequency_definition,
    never_definition,
    recency_definition,
)
from enishi.analytics.falloff import EMPTY, Cut, Tally, best_cut, total
from enishi.analytics.sqltime import DAY_SECONDS, epoch_seconds, local_midnight, to_epoch
from enishi.db.base import utcnow
from enishi.delivery.models import Delivery
from enishi.friends.models import FOLLOWING, Friend
from enishi.kit.errors import ApiError
from enishi.segments.language import MAX_DAYS
from enishi.tracking.models import Click, Conversion, Link

Outcome = Literal["after", "period"]
DEFAULT_EDGES = (1, 2, 3, 5, 10)


@dataclass(frozen=True)
class ClickAnalysisParams:
    as_of: datetime  # the moment of the analysis: aware, whole seconds
    lookback_days: int = 90
    bucket_days: int = 7
    frequency_edges: tuple[int, ...] = DEFAULT_EDGES  # bucket starts; the last one is "N+"
    outcome: Outcome = "after"
    outcome_days: int = 30
    min_group: int = 100
    click_filter: ClickFilter = field(default_factory=ClickFilter)

    @property
    def since(self) -> datetime:
        return self.as_of - timedelta(days=self.lookback_days)

    @property
    def cap(self) -> int:
        return self.frequency_edges[-1]

    def outcome_window(self) -> tuple[datetime, datetime]:
        """after: purchases in (as_of, as_of + outcome_days]; period: in [since, as_of], the
        same closed window as the clicks."""
        if self.outcome == "after":
            return self.as_of, self.as_of + timedelta(days=self.outcome_days)
        return self.since, self.as_of


def _invalid(message: str, field_name: str) -> ApiError:
    return ApiError(422, "invalid", message, field_name)


def as_of_moment(
    account: Account,
    as_of: date | datetime | None,
    outcome: Outcome,
    outcome_days: int,
    *,
    now: datetime | None = None,
) -> datetime:
    """A date is the end of that day in the account's time zone (its next midnight); a
    date-time is taken as is (to the second). By default: the end of the day `outcome_days`
    ago when the outcome is the days after (so that window is complete), else the end of
    yesterday."""
    zone = ZoneInfo(account.timezone)
    if isinstance(as_of, datetime):
        if as_of.tzinfo is None:
            raise _invalid("as_of needs a UTC offset, e.g. 2025-06-01T00:00:00+09:00", "as_of")
        return as_of.astimezone(UTC).replace(microsecond=0)
    if as_of is None:
        today = (now or utcnow()).astimezone(zone).date()
        as_of = today - timedelta(days=outcome_days if outcome == "after" else 0)
        return local_midnight(as_of, zone)
    return local_midnight(as_of + timedelta(days=1), zone)


def check_params(params: ClickAnalysisParams) -> None:
    if not 1 <= params.lookback_days <= MAX_DAYS:
        raise _invalid(f"lookback_days is 1..{MAX_DAYS}", "lookback_days")
    if not 1 <= params.bucket_days <= params.lookback_days:
        raise _invalid("bucket_days is 1..lookback_days", "bucket_days")
    if not 1 <= params.outcome_days <= MAX_DAYS:
        raise _invalid(f"outcome_days is 1..{MAX_DAYS}", "outcome_days")
    if params.min_group < 1:
        raise _invalid("min_group is 1 or more", "min_group")
    edges = params.frequency_edges
    if not edges or edges[0] < 1 or list(edges) != sorted(set(edges)) or edges[-1] > 1000:
        raise _invalid(
            "frequency_edges are increasing whole numbers from 1 to 1000, e.g. 1,2,3,5,10,20",
            "frequency_edges",
        )


def _check_filter(session: Session, account_id: int, flt: ClickFilter) -> None:
    for model, value, name in (
        (Delivery, flt.delivery_id, "delivery_id"),
        (Link, flt.link_id, "link_id"),
    ):
        if value is None:
            continue
        row = session.get(model, value)
        if row is None or row.account_id != account_id:
            raise ApiError(404, "not_found", f"{name.split('_')[0]} not found", name)


# --- the query ---------------------------------------------------------------------------------
def _revenue(params: ClickAnalysisParams):
    """The friend's revenue in the outcome window, NULL when they bought nothing there (so
    one subquery tells both): over the (friend_id, occurred_at) index, and only for friends
    whose last purchase is not before the window (the rollup) — far cheaper than grouping
    the window's conversions when it holds many."""
    start, end = params.outcome_window()
    after_start = (
        Conversion.occurred_at > start
        if params.outcome == "after"
        else Conversion.occurred_at >= start
    )
    total = select(func.sum(Conversion.amount_jpy)).where(
        Conversion.friend_id == Friend.id, after_start, Conversion.occurred_at <= end
    )
    return case((Friend.last_purchase_at >= start, total.scalar_subquery()), else_=None)


def _last_click(params: ClickAnalysisParams):
    """The last click at or before as-of: the rollup when it is not later, else one
    backward step in the (friend_id, clicked_at) index (max() would walk every click)."""
    before = (
        select(Click.clicked_at)
        .where(Click.friend_id == Friend.id, Click.clicked_at <= params.as_of)
        .order_by(Click.clicked_at.desc())
        .limit(1)
    )
    return case(
        (Friend.last_click_at <= params.as_of, Friend.last_click_at),
        (Friend.last_click_at > params.as_of, before.scalar_subquery()),
        else_=None,
    )


def _period_clicks(params: ClickAnalysisParams):
    """Clicks in the period, capped: at most `cap` index entries per friend, and only for
    friends whose last click is not before the period (the rollup)."""
    window = (
        select(literal(1).label("one"))
        .where(
            Click.friend_id == Friend.id,
            Click.clicked_at >= params.since,
            Click.clicked_at <= params.as_of,
        )
        .correlate(Friend)
        .limit(params.cap)
        .subquery()
    )
    counted = select(func.count()).select_from(window).correlate(Friend).scalar_subquery()
    return case((Friend.last_click_at >= params.since, counted), else_=0)


def _filtered_clicks(account_id: int, params: ClickAnalysisParams):
    """The filtered clicks aggregated per friend through the delivery / link index (a
    delivery's clicks are few next to the account's): (subquery, last click, capped
    count)."""
    flt = params.click_filter
    conditions = [Click.account_id == account_id, Click.friend_id.is_not(None)]
    if flt.delivery_id is not None:
        conditions.append(Click.delivery_id == flt.delivery_id)
    if flt.link_id is not None:
        conditions.append(Click.link_id == flt.link_id)
    per_friend = (
        select(
            Click.friend_id.label("friend_id"),
            func.max(Click.clicked_at).label("last"),
            func.sum(case((Click.clicked_at >= params.since, 1), else_=0)).label("n"),
        )
        .where(*conditions, Click.clicked_at <= params.as_of)
        .group_by(Click.friend_id)
        .subquery("filtered_clicks")
    )
    clicks = case(
        (per_friend.c.n.is_(None), 0),
        (per_friend.c.n > params.cap, params.cap),
        else_=per_friend.c.n,
    )
    return per_friend, per_friend.c.last, clicks


def _grouped(
    session: Session, account_id: int, params: ClickAnalysisParams, kind: str
) -> list[Any]:
    """Rows of (position, friends, purchasers, revenue): for `recency` the position is the
    days since the last click (None: never, lookback + 1: before the period), for
    `frequency` the clicks in the period, capped."""
    flt = params.click_filter
    source = Friend.__table__
    if flt.delivery_id is None and flt.link_id is None:
        value = _last_click(params) if kind == "recency" else _period_clicks(params)
    else:
        joined, last, clicks = _filtered_clicks(account_id, params)
        source = source.outerjoin(joined, joined.c.friend_id == Friend.id)
        value = last if kind == "recency" else clicks
    if kind == "recency":
        value = epoch_seconds(value)
    per_friend = (
        select(value.label("value"), _revenue(params).label("revenue"))
        .select_from(source)
        .where(
            Friend.account_id == account_id,
            Friend.status == FOLLOWING,
            func.coalesce(Friend.first_followed_at, Friend.created_at) <= params.as_of,
        )
        .cte("per_friend")
        .prefix_with("MATERIALIZED")  # each friend's subqueries run once
    )
    position = per_friend.c.value
    if kind == "recency":
        as_of_s, since_s = to_epoch(params.as_of), to_epoch(params.since)
        position = case(
            (per_friend.c.value.is_(None), None),
            (per_friend.c.value < since_s, params.lookback_days + 1),
            else_=(as_of_s - per_friend.c.value + (DAY_SECONDS - 1)) // DAY_SECONDS,
        )
    position = position.label("position")
    query = select(
        position,
        func.count().label("friends"),
        func.count(per_friend.c.revenue).label("purchasers"),
        func.sum(per_friend.c.revenue).label("revenue"),
    ).group_by(position)
    if session.get_bind().dialect.name == "postgresql":
        # JIT compiling this query costs more than running it (as for segment counts)
        session.execute(text("SET LOCAL jit = off"))
    return list(session.execute(query).all())


# --- the report ----------------------------------------------------------------------------------
@dataclass
class Bucket:
    key: str
    label: str
    low: int | None  # days or clicks, inclusive
    high: int | None  # None: open-ended
    tally: Tally
    definition: dict[str, Any]

    def as_dict(self, population: int) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "min": self.low,
            "max": self.high,
            "friends": self.tally.friends,
            "share": self.tally.friends / population if population else None,
            "purchasers": self.tally.purchasers,
            "purchase_rate": self.tally.rate,
            "revenue_jpy": self.tally.revenue_jpy,
            "revenue_per_friend": self.tally.revenue_per_friend,
            "segment_definition": self.definition,
        }


@dataclass
class ClickAnalysis:
    params: ClickAnalysisParams
    timezone: str
    per_day: list[Tally]  # index d = last click d days before as-of, d = 0..lookback
    older: Tally  # last click before the period
    never: Tally  # no click at or before as-of
    per_count: list[Tally]  # index k = k clicks in the period, k = 0..cap (cap = "cap+")
    kinds: tuple[str, ...] = ("recency", "frequency")

    @property
    def population(self) -> Tally:
        if "recency" in self.kinds:
            return total(self.per_day) + self.older + self.never
        return total(self.per_count)

    def recency_buckets(self) -> list[Bucket]:
        p, flt = self.params, self.params.click_filter
        out = []
        low = 0
        while low <= p.lookback_days:
            high = min(p.bucket_days if low == 0 else low + p.bucket_days - 1, p.lookback_days)
            out.append(
                Bucket(
                    f"{low}-{high}",
                    f"{low}〜{high}日",
                    low,
                    high,
                    total(self.per_day[low : high + 1]),
                    recency_definition(low, high, flt),
                )
            )
            low = high + 1
        older_from = p.lookback_days + 1
        out.append(
            Bucket(
                "older",
                f"{older_from}日以上（期間内クリックなし）",
                older_from,
                None,
                self.older,
                recency_definition(older_from, None, flt, include_never=False),
            )
        )
        out.append(Bucket("never", "クリックなし", None, None, self.never, never_definition(flt)))
        return out

    def frequency_buckets(self) -> list[Bucket]:
        p, flt = self.params, self.params.click_filter
        starts = [0, *p.frequency_edges]
        out = []
        for index, low in enumerate(starts):
            high = starts[index + 1] - 1 if index + 1 < len(starts) else None
            stop = (high if high is not None else p.cap) + 1
            label = (
                f"{low}回"
                if high == low
                else f"{low}回以上"
                if high is None
                else f"{low}〜{high}回"
            )
            out.append(
                Bucket(
                    str(low) if high == low else f"{low}-{high if high is not None else ''}",
                    label,
                    low,
                    high,
                    total(self.per_count[low:stop]),
                    frequency_definition(low, high, p.lookback_days, flt),
                )
            )
        return out

    def recency_falloff(self) -> Cut | None:
        return best_cut(self.per_day, self.params.min_group, inside_low=True)

    def frequency_threshold(self) -> Cut | None:
        return best_cut(self.per_count, self.params.min_group, inside_low=False)


def analyse_clicks(
    session: Session,
    account: Account,
    params: ClickAnalysisParams,
    kinds: tuple[str, ...] = ("recency", "frequency"),
) -> ClickAnalysis:
    """Run the analysis: one query per kind (recency, frequency) asked for; the other's
    totals stay empty. Never writes."""
    check_params(params)
    _check_filter(session, account.id, params.click_filter)
    lookback, cap = params.lookback_days, params.cap
    per_day = [EMPTY] * (lookback + 1)
    per_count = [EMPTY] * (cap + 1)
    older = never = EMPTY
    for kind in kinds:
        for position, friends, purchasers, revenue in _grouped(session, account.id, params, kind):
            tally = Tally(int(friends), int(purchasers or 0), int(revenue or 0))
            if kind == "frequency":
                per_count[int(position)] = tally
            elif position is None:
                never = tally
            elif position > lookback:
                older = tally
            else:
                per_day[int(position)] = tally
    return ClickAnalysis(params, account.timezone, per_day, older, never, per_count, kinds)
