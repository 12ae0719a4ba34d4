"""Segment conditions on tracking's tables: clicks, purchases and custom events
(registered in enishi/wiring.py; the language is in enishi/segments/language.py)."""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, exists, func, not_, or_, select

from enishi.friends.models import Friend
from enishi.segments import language as L
from enishi.segments.clauses import (
    CHEAP,
    SCAN,
    compare,
    count_between,
    holds,
    in_interval,
    join_parts,
    since,
)
from enishi.tracking.models import Click, Conversion, ConversionItem, CustomEvent, Link


# --- clicks --------------------------------------------------------------------------
def _click_filters(compiler, node, path: str) -> list[ColumnElement[bool]] | None:
    filters = []
    if node.delivery_id is not None:
        compiler.owned_reference("delivery", node.delivery_id, f"{path}.delivery_id")
        filters.append(Click.delivery_id == node.delivery_id)
    if node.link_id is not None:
        compiler.owned(Link, node.link_id, f"{path}.link_id", "link")
        filters.append(Click.link_id == node.link_id)
    return filters


def clicked(compiler, node: L.Clicked, path: str):
    filters = _click_filters(compiler, node, path)
    days = node.within_days or node.not_within_days
    cutoff = compiler.cutoff(days)
    recent = since(Friend.last_click_at, cutoff)
    if not filters:
        return (recent if node.within_days else not_(recent)), CHEAP
    # the rollup is a necessary condition: only recent clickers are looked up
    rows = exists().where(Click.friend_id == Friend.id, Click.clicked_at >= cutoff, *filters)
    if node.within_days:
        return [(recent, CHEAP), (rows, SCAN)]
    return not_(and_(recent, rows)), SCAN


def click_count(compiler, node: L.ClickCount, path: str):
    filters = _click_filters(compiler, node, path)
    guard = []
    if node.within_days is not None:
        cutoff = compiler.cutoff(node.within_days)
        filters.append(Click.clicked_at >= cutoff)
        guard.append(since(Friend.last_click_at, cutoff))
    if not filters:
        return in_interval(Friend.click_count, node.interval()), CHEAP
    return count_between(
        Click, Click.friend_id, filters, node.interval(), Friend.click_count, guard
    )


# --- purchases -----------------------------------------------------------------------
def purchased(compiler, node: L.Purchased, path: str):
    clause = since(
        Friend.last_purchase_at, compiler.cutoff(node.within_days or node.not_within_days)
    )
    return (clause if node.within_days else not_(clause)), CHEAP


def purchase_count(compiler, node: L.PurchaseCount, path: str):
    if node.within_days is None:
        return in_interval(Friend.purchase_count, node.interval()), CHEAP
    cutoff = compiler.cutoff(node.within_days)
    return count_between(
        Conversion,
        Conversion.friend_id,
        [Conversion.occurred_at >= cutoff],
        node.interval(),
        Friend.purchase_count,
        [since(Friend.last_purchase_at, cutoff)],
    )


def revenue(compiler, node: L.Revenue, path: str):
    interval = node.interval(integer=False)
    strict = (node.gt, node.lt)
    if node.within_days is None:
        return compare(Friend.revenue_jpy, interval, strict), CHEAP
    cutoff = compiler.cutoff(node.within_days)
    total = (
        select(func.sum(Conversion.amount_jpy))
        .where(Conversion.friend_id == Friend.id, Conversion.occurred_at >= cutoff)
        .scalar_subquery()
    )
    # amounts are ≥ 0: no purchase in the window (by the rollup) means a total of 0, and
    # the window's total never exceeds the lifetime revenue
    recent = since(Friend.last_purchase_at, cutoff)
    lifetime = compare(Friend.revenue_jpy, (interval[0], float("inf")), strict)
    summed = compare(func.coalesce(total, 0), interval, strict)
    if holds(0, interval, strict):
        return or_(not_(recent), and_(lifetime, summed)), SCAN
    return [(recent, CHEAP), (lifetime, CHEAP), (summed, SCAN)]


def bought(compiler, node: L.Bought, path: str):
    filters = [
        Conversion.friend_id == Friend.id,
        ConversionItem.conversion_id == Conversion.id,
        ConversionItem.sku.in_(node.sku_list),
    ]
    guard = Friend.purchase_count >= 1
    if node.within_days is not None:
        cutoff = compiler.cutoff(node.within_days)
        filters.append(Conversion.occurred_at >= cutoff)
        guard = since(Friend.last_purchase_at, cutoff)
    return [(guard, CHEAP), (exists().where(*filters), SCAN)]


# --- events and deliveries -----------------------------------------------------------
def event(compiler, node: L.Event, path: str):
    cutoff = compiler.cutoff(node.within_days, node.within_hours)
    filters = [CustomEvent.name == node.name, CustomEvent.occurred_at >= cutoff]
    clause = join_parts(
        count_between(
            CustomEvent, CustomEvent.friend_id, filters, (node.min_count, float("inf")), None
        ),
        False,
    )
    if node.no_purchase_since:
        # an event in the window with no purchase after it ⇔ none after the latest one
        no_purchase = or_(
            Friend.last_purchase_at.is_(None),
            Friend.last_purchase_at <= CustomEvent.occurred_at,
        )
        since = exists().where(CustomEvent.friend_id == Friend.id, *filters, no_purchase)
        clause = since if node.min_count == 1 else and_(clause, since)
    return clause, SCAN


CONDITIONS = {
    "clicked": clicked,
    "click_count": click_count,
    "purchased": purchased,
    "purchase_count": purchase_count,
    "revenue": revenue,
    "bought": bought,
    "event": event,
}
