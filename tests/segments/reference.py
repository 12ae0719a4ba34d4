"""The segment language evaluated in plain Python over a World, straight from the documented
meaning of each condition (docs/segments.md) — raw clicks and conversions, not rollups."""

from __future__ import annotations

import hashlib
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from tests.segments.dataset import TZ, World

P = 2_147_483_647


def audience(world: World, definition: dict, now: datetime) -> set[int]:
    """Following friends of the world's account that meet the definition."""
    return {
        fid
        for fid, row in world.friends.items()
        if row["status"] == "following" and holds(world, definition["where"], fid, now)
    }


def holds(world: World, cond: dict, fid: int, now: datetime) -> bool:
    ((key, body),) = cond.items()
    if key == "all":
        return all(holds(world, c, fid, now) for c in body)
    if key == "any":
        return any(holds(world, c, fid, now) for c in body)
    if key == "not":
        return not holds(world, body, fid, now)
    return LEAVES[key](world, body, fid, now, world.friends[fid])


def _compare(value, body, ops=("eq", "gt", "gte", "lt", "lte")) -> bool:
    checks = {
        "eq": lambda v: value == v,
        "gt": lambda v: value > v,
        "gte": lambda v: value >= v,
        "lt": lambda v: value < v,
        "lte": lambda v: value <= v,
    }
    return all(checks[op](body[op]) for op in ops if op in body)


def _days(body) -> timedelta:
    return timedelta(
        days=body.get("within_days") or body.get("not_within_days") or 0,
        hours=body.get("within_hours") or 0,
    )


def status(world, body, fid, now, row):
    return row["status"] in ([body] if isinstance(body, str) else body)


def followed_days(world, body, fid, now, row):
    if row["first_followed_at"] is None:
        return False
    whole_days = (now - row["first_followed_at"]) // timedelta(days=1)
    return _compare(whole_days, body)


def _instant(text: str, end: bool) -> tuple[datetime, bool]:
    if len(text) == 10:
        day = date.fromisoformat(text) + timedelta(days=1 if end else 0)
        return datetime.combine(day, time.min, tzinfo=ZoneInfo(TZ)), True
    return datetime.fromisoformat(text), False


def followed_at(world, body, fid, now, row):
    at = row["first_followed_at"]
    if at is None:
        return False
    if "from" in body and at < _instant(body["from"], False)[0]:
        return False
    if "to" in body:
        end, whole_day = _instant(body["to"], True)
        if at >= end if whole_day else at > end:
            return False
    return True


def inflow_route(world, body, fid, now, row):
    route = row["inflow_route_id"]
    if body.get("none"):
        return route is None
    if "id" in body:
        return route == body["id"]
    codes = [body["code"]] if "code" in body else body["codes"]
    return route is not None and route in {world.routes[c] for c in codes}


def member_linked(world, body, fid, now, row):
    return (row["member_id"] is not None) == body


def attribute(world, body, fid, now, row):
    key = body["key"]
    value = row["attrs"].get(key)
    if "is_empty" in body:
        return (value is None) == body["is_empty"]
    if value is None:
        return False
    kind = world.attribute_defs[key]["type"]

    def cast(v):
        return date.fromisoformat(v) if kind == "date" else float(v) if kind == "number" else v

    ok = True
    for op, arg in body.items():
        if op == "key":
            continue
        if op == "in":
            ok &= value in [cast(v) for v in arg]
        elif op == "between":
            ok &= cast(arg[0]) <= value <= cast(arg[1])
        elif op == "ne":
            ok &= value != cast(arg)
        else:
            ok &= _compare(value, {op: cast(arg)}, (op,))
    return ok


def tags(world, body, fid, now, row):
    have = row["tags"]
    return (
        ("any" not in body or bool(have & set(body["any"])))
        and ("all" not in body or set(body["all"]) <= have)
        and ("none" not in body or not have & set(body["none"]))
    )


def _clicks(world, fid, body, since=None):
    return [
        c
        for c in world.clicks
        if c["friend_id"] == fid
        and ("delivery_id" not in body or c["delivery_id"] == body["delivery_id"])
        and ("link_id" not in body or c["link_id"] == body["link_id"])
        and (since is None or c["clicked_at"] >= since)
    ]


def clicked(world, body, fid, now, row):
    recent = bool(_clicks(world, fid, body, now - _days(body)))
    return recent if "within_days" in body else not recent


def click_count(world, body, fid, now, row):
    since = now - _days(body) if "within_days" in body else None
    return _compare(len(_clicks(world, fid, body, since)), body)


def _buys(world, fid, body, now):
    windowed = "within_days" in body or "not_within_days" in body
    return [
        c
        for c in world.conversions
        if c["friend_id"] == fid and (not windowed or c["occurred_at"] >= now - _days(body))
    ]


def purchased(world, body, fid, now, row):
    recent = bool(_buys(world, fid, body, now))
    return recent if "within_days" in body else not recent


def purchase_count(world, body, fid, now, row):
    return _compare(len(_buys(world, fid, body, now)), body)


def revenue(world, body, fid, now, row):
    return _compare(sum(c["amount_jpy"] for c in _buys(world, fid, body, now)), body)


def bought(world, body, fid, now, row):
    wanted = {body["sku"]} if "sku" in body else set(body["skus"])
    return any(c["skus"] & wanted for c in _buys(world, fid, body, now))


def event(world, body, fid, now, row):
    since = now - _days(body)
    times = [
        e["occurred_at"]
        for e in world.events
        if e["friend_id"] == fid and e["name"] == body["name"] and e["occurred_at"] >= since
    ]
    if len(times) < body.get("min_count", 1):
        return False
    if body.get("no_purchase_since"):
        latest = max(times)
        return not any(
            c["occurred_at"] > latest for c in world.conversions if c["friend_id"] == fid
        )
    return True


def delivery(world, body, fid, now, row):
    ok = True
    if "received" in body:
        got = any(
            r["friend_id"] == fid and r["delivery_id"] == body["id"] and r["status"] == "sent"
            for r in world.recipients
        )
        ok &= got == body["received"]
    if "clicked" in body:
        hit = any(c["friend_id"] == fid and c["delivery_id"] == body["id"] for c in world.clicks)
        ok &= hit == body["clicked"]
    return ok


def sample_bucket(friend_id: int, seed: int) -> int:
    """The documented hash: keys from BLAKE2b, then integer arithmetic modulo 2^31 - 1."""
    digest = hashlib.blake2b(f"enishi-sample:{seed}".encode(), digest_size=40).digest()
    a, b, c, d, e = (
        1 + int.from_bytes(digest[i * 8 : (i + 1) * 8], "big") % (P - 1) for i in range(5)
    )
    x1 = (friend_id % P * a + b) % P
    x2 = (x1 * x1 % P * c % P + x1 * d % P + e) % P
    return x2 % 10000


def sample(world, body, fid, now, row):
    return sample_bucket(fid, body["seed"]) < round(body["percent"] * 100)


LEAVES = {
    name: fn
    for name, fn in globals().items()
    if name
    in (
        "status",
        "followed_days",
        "followed_at",
        "inflow_route",
        "member_linked",
        "attribute",
        "tags",
        "clicked",
        "click_count",
        "purchased",
        "purchase_count",
        "revenue",
        "bought",
        "event",
        "delivery",
        "sample",
    )
}
