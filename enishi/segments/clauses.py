"""The clause builders segments compile to: conjuncts with a cost tier, the rollup guards,
"the K-th row exists" counts, and the staged AND (see compiler.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, exists, false, literal_column, not_, select, true

from enishi.friends.models import Friend
from enishi.segments import language as L

CHEAP, LOOKUP, SCAN = 0, 1, 2  # read friends only / a few index lookups / walk a friend's rows
Part = tuple[ColumnElement[bool], int]  # one conjunct and its cost


def in_interval(column, interval: tuple[float, float]) -> ColumnElement[bool]:
    low, high = interval
    parts = []
    if low > float("-inf"):
        parts.append(column >= int(low))
    if high < float("inf"):
        parts.append(column <= int(high))
    return and_(*parts) if parts else true()


def compare(value, interval: tuple[float, float], strict: tuple[Any, Any]):
    low, high = interval
    gt, lt = strict
    parts = []
    if low > float("-inf"):
        parts.append(value > low if gt is not None and low == gt else value >= low)
    if high < float("inf"):
        parts.append(value < high if lt is not None and high == lt else value <= high)
    return and_(*parts) if parts else true()


def staged_and(parts: list[tuple[ColumnElement[bool], int]]) -> ColumnElement[bool]:
    """AND, evaluated tier by tier: friends-only conditions, then lookups, then subqueries.

    `CASE WHEN lookups THEN subqueries ELSE false END` fixes the order on both backends
    (PostgreSQL otherwise orders subplans by estimated cost, which is blind to how few
    friends the lookups leave); every leaf is true or false, so this equals AND."""
    tiers: dict[int, list[ColumnElement[bool]]] = {}
    for clause, cost in parts:
        tiers.setdefault(cost, []).append(clause)
    levels = sorted(tiers)
    clause = and_(*tiers[levels[-1]])
    for level in reversed(levels[:-1]):
        if level == CHEAP:
            clause = and_(*tiers[level], clause)
        else:
            clause = case((and_(*tiers[level]), clause), else_=false())
    return clause


def narrows(node: L.Condition) -> bool:
    """Does this condition keep few friends, judged from the friends row alone (recent
    activity, a minimum count or amount, a recent follow)? Then lookups and subqueries
    next to it run per remaining friend, after it."""
    if isinstance(node, L.AllOf):
        return any(map(narrows, node.items))
    if isinstance(node, L.AnyOf):
        return all(map(narrows, node.items))
    if isinstance(node, L.Clicked | L.Purchased):
        return node.within_days is not None
    if isinstance(node, L.ClickCount | L.PurchaseCount | L.Revenue):
        return node.interval(integer=not isinstance(node, L.Revenue))[0] > 0
    if isinstance(node, L.Bought):
        return node.within_days is not None
    if isinstance(node, L.DeliveryLeaf):
        return bool(node.clicked)
    if isinstance(node, L.FollowedDays):
        return node.interval()[1] != float("inf")
    if isinstance(node, L.FollowedAt):
        return node.from_ is not None
    return False


def since(column, cutoff: datetime) -> ColumnElement[bool]:
    """column >= cutoff, false (never NULL) when the column is empty."""
    return and_(column.is_not(None), column >= cutoff)


def holds(value: float, interval: tuple[float, float], strict: tuple[Any, Any]) -> bool:
    low, high = interval
    gt, lt = strict
    above = value > low if gt is not None and low == gt else value >= low
    below = value < high if lt is not None and high == lt else value <= high
    return above and below


def has_at_least(model, friend_column, filters, k, lifetime, guard) -> list[Part]:
    """The friend has ≥ k matching rows: the k-th one exists (reads at most k entries).

    Checked only for friends whose rollups allow it (lifetime count ≥ k, last time in the
    window): necessary conditions that spare the index walk for everyone else."""
    # selects a constant, so the (friend_id, time) index answers alone (index-only scan)
    rows = select(literal_column("1")).where(friend_column == Friend.id, *filters).limit(1)
    if k > 1:
        rows = rows.offset(k - 1)
    checks = ([] if lifetime is None else [lifetime >= k]) + list(guard)
    return [(check, CHEAP) for check in checks] + [(exists(rows.correlate(Friend)), SCAN)]


def count_between(model, friend_column, filters, interval, lifetime, guard=()) -> list[Part]:
    low, high = interval
    parts: list[Part] = []
    if low >= 1:
        parts += has_at_least(model, friend_column, filters, int(low), lifetime, guard)
    if high < float("inf"):
        more = has_at_least(model, friend_column, filters, int(high) + 1, lifetime, guard)
        parts.append((not_(join_parts(more, False)), SCAN))
    return parts or [(true(), CHEAP)]


def parts_cost(parts: list[Part]) -> int:
    return max((tier for _, tier in parts), default=CHEAP)


def join_parts(parts: list[Part], staged: bool) -> ColumnElement[bool]:
    """The conjuncts ANDed, cheap first (staged: in tiers, see staged_and)."""
    parts = sorted(parts, key=lambda part: part[1])
    if len(parts) == 1:
        return parts[0][0]
    if staged:
        return staged_and(parts)
    return and_(*(clause for clause, _ in parts))
