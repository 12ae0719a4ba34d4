"""Time arithmetic in SQL that reads the same on SQLite and PostgreSQL: whole epoch seconds
of a stored time, and the local calendar day of an event in the account's time zone.

Stored times are UTC (`UTCDateTime`); SQLite keeps them as text, PostgreSQL as timestamptz,
so the one dialect-specific piece is `epoch_seconds`. Everything else is integer arithmetic
(`//` on non-negative integers truncates the same way on both).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import BigInteger, case, literal
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

DAY_SECONDS = 86_400


class epoch_seconds(FunctionElement):  # noqa: N801 - reads like the SQL function it is
    """Seconds since 1970-01-01 UTC of a stored time, fractions dropped (floor)."""

    type = BigInteger()
    inherit_cache = True
    name = "epoch_seconds"


@compiles(epoch_seconds, "sqlite")
def _epoch_sqlite(element, compiler, **kw) -> str:
    return f"CAST(strftime('%s', {compiler.process(element.clauses, **kw)}) AS INTEGER)"


@compiles(epoch_seconds, "postgresql")
def _epoch_postgresql(element, compiler, **kw) -> str:
    return f"CAST(floor(EXTRACT(EPOCH FROM {compiler.process(element.clauses, **kw)})) AS BIGINT)"


def to_epoch(moment: datetime) -> int:
    return int(moment.timestamp() // 1)


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    """00:00 of `day` in `zone`, in UTC."""
    return datetime.combine(day, datetime.min.time(), tzinfo=zone).astimezone(UTC)


def _offset(zone: ZoneInfo, moment: datetime) -> int:
    offset = moment.astimezone(zone).utcoffset()
    return int(offset.total_seconds()) if offset is not None else 0


def _transitions(zone: ZoneInfo, start: datetime, end: datetime) -> list[tuple[datetime, int]]:
    """[(instant, offset from then on)] for each UTC-offset change in [start, end): found
    hour by hour, then to the second by bisection (zones change offset on whole seconds)."""
    changes: list[tuple[datetime, int]] = []
    step = timedelta(hours=1)
    moment, offset = start, _offset(zone, start)
    while moment < end:
        following = min(moment + step, end)
        if _offset(zone, following) != offset:
            lo, hi = to_epoch(moment), to_epoch(following)  # offset(lo) old, offset(hi) new
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if _offset(zone, datetime.fromtimestamp(mid, UTC)) == offset:
                    lo = mid
                else:
                    hi = mid
            offset = _offset(zone, following)
            changes.append((datetime.fromtimestamp(hi, UTC), offset))
        moment = following
    return changes


def local_day_index(column, first_day: date, last_day: date, zone: ZoneInfo):
    """SQL for the number of the local calendar day (0 = `first_day`) an event stored in
    `column` falls on, for events in [first_day 00:00, last_day + 1 00:00) local time.

    local seconds = epoch(t) + UTC offset at t; the offset is a constant, or a short CASE
    over the period's daylight-saving changes, so every day is exactly its local day even
    when it has 23 or 25 hours."""
    start = local_midnight(first_day, zone)
    end = local_midnight(last_day + timedelta(days=1), zone)
    base = to_epoch(datetime.combine(first_day, datetime.min.time(), tzinfo=UTC))
    changes = _transitions(zone, start, end)
    offset = literal(_offset(zone, start), BigInteger)
    if changes:
        whens = []
        previous = _offset(zone, start)
        for instant, new in changes:
            whens.append((column < instant, literal(previous, BigInteger)))
            previous = new
        offset = case(*whens, else_=literal(previous, BigInteger))
    return (epoch_seconds(column) + offset - base) // DAY_SECONDS


def day_bounds(first_day: date, last_day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) in UTC of the local days first_day..last_day."""
    return local_midnight(first_day, zone), local_midnight(last_day + timedelta(days=1), zone)
