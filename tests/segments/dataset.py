"""A small random world (fixed seed) stored in the database and kept in plain Python too, so
each segment can be evaluated both ways: compiled SQL vs `reference.evaluate`."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from enishi.accounts.service import create_account
from enishi.delivery.models import Delivery, DeliveryRecipient
from enishi.friends.models import AttributeDef, Friend, FriendAttribute, FriendTag, Tag
from enishi.inflow.models import InflowRoute
from enishi.tracking.models import Click, Conversion, ConversionItem, CustomEvent, Link

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
TZ = "Asia/Tokyo"
GENDERS = ["female", "male", "other"]
PREFS = ["東京都", "大阪府", "福岡県"]
SKUS = ["TEA-01", "TEA-02", "CUP-01", "BAG-01"]
BOUNDARY_DAYS = (2, 7, 30, 50, 90)  # some rows sit exactly on these cut-offs


@dataclass
class World:
    account_id: int
    other_account_id: int
    friends: dict[int, dict[str, Any]] = field(default_factory=dict)  # id -> row (+ attrs, tags)
    clicks: list[dict[str, Any]] = field(default_factory=list)
    conversions: list[dict[str, Any]] = field(default_factory=list)  # with "skus"
    events: list[dict[str, Any]] = field(default_factory=list)
    recipients: list[dict[str, Any]] = field(default_factory=list)
    attribute_defs: dict[str, dict[str, Any]] = field(default_factory=dict)
    tags: dict[str, int] = field(default_factory=dict)
    routes: dict[str, int] = field(default_factory=dict)
    deliveries: list[int] = field(default_factory=list)
    links: dict[int, int | None] = field(default_factory=dict)  # link id -> delivery id


def _delivery(session, account_id: int, name: str) -> int:
    delivery = Delivery(
        account_id=account_id, name=name, audience={"type": "all"}, arms=[], seed=1, created_at=NOW
    )
    session.add(delivery)
    session.flush()
    return delivery.id


def _at(rng: random.Random, max_days: float) -> datetime:
    """A time in the last `max_days`, sometimes exactly on a cut-off."""
    if rng.random() < 0.08:
        return NOW - timedelta(days=rng.choice(BOUNDARY_DAYS))
    return NOW - timedelta(seconds=rng.randrange(int(max_days * 86400)))


def build_world(session, box, seed: int = 11, n_friends: int = 220) -> World:
    rng = random.Random(seed)
    account = create_account(
        session,
        box,
        name="セグメント店",
        channel_id="2000000101",
        channel_secret="s" * 32,
        access_token="t",
        timezone=TZ,
    )
    other = create_account(
        session,
        box,
        name="他店",
        channel_id="2000000102",
        channel_secret="s" * 32,
        access_token="t",
    )
    world = World(account.id, other.id)
    for key, kind, choices in (
        ("age", "number", None),
        ("gender", "choice", GENDERS),
        ("birthday", "date", None),
        ("pref", "text", None),
    ):
        definition = AttributeDef(
            account_id=account.id, key=key, label=key, type=kind, choices=choices
        )
        session.add(definition)
        session.flush()
        world.attribute_defs[key] = {"id": definition.id, "type": kind, "choices": choices}
    for name in ("VIP", "セール好き", "新規"):
        tag = Tag(account_id=account.id, name=name)
        session.add(tag)
        session.flush()
        world.tags[name] = tag.id
    for code in ("shop_qr", "instagram", "flyer"):
        route = InflowRoute(account_id=account.id, code=code, name=code)
        session.add(route)
        session.flush()
        world.routes[code] = route.id
    for i in range(3):
        world.deliveries.append(_delivery(session, account.id, f"d{i}"))
    for i in range(7):
        delivery_id = world.deliveries[i % 3] if i < 6 else None
        link = Link(account_id=account.id, url=f"https://shop.example/{i}", delivery_id=delivery_id)
        session.add(link)
        session.flush()
        world.links[link.id] = delivery_id

    for n in range(n_friends):
        _friend(session, world, rng, account.id, n)
    # another account's friends, clicks and purchases must never leak in
    for n in range(20):
        friend = Friend(
            account_id=other.id,
            line_user_id=f"U{(10_000 + n):032x}",
            status="following",
            first_followed_at=NOW - timedelta(days=10),
            last_click_at=NOW,
            click_count=5,
            purchase_count=5,
            revenue_jpy=10**6,
            last_purchase_at=NOW,
            member_id=f"X{n}",
        )
        session.add(friend)
    # anonymous clicks and unattributed purchases belong to no friend
    first_link = next(iter(world.links))
    session.add(
        Click(
            account_id=account.id,
            link_id=first_link,
            friend_id=None,
            clicked_at=NOW - timedelta(days=1),
        )
    )
    session.add(
        Conversion(
            account_id=account.id,
            order_id="anon",
            amount_jpy=99_999,
            occurred_at=NOW - timedelta(days=1),
        )
    )
    session.flush()
    return world


def _friend(session, world: World, rng: random.Random, account_id: int, n: int) -> None:
    status = rng.choices(["following", "blocked", "unknown"], [0.75, 0.18, 0.07])[0]
    followed = None if status == "unknown" and rng.random() < 0.5 else _at(rng, 400)
    row = {
        "status": status,
        "first_followed_at": followed,
        "inflow_route_id": rng.choice([None, *world.routes.values()]),
        "member_id": f"M{n:05d}" if rng.random() < 0.3 else None,
    }
    friend = Friend(account_id=account_id, line_user_id=f"U{n:032x}", **row)
    session.add(friend)
    session.flush()
    fid = friend.id
    row.update(attrs={}, tags=set())
    for key, spec in world.attribute_defs.items():
        if rng.random() < 0.3:
            continue
        value: Any
        if spec["type"] == "number":
            value = float(rng.choice([18, 20, 25, 29, 30, 35, 39, 40, 55, 70]))
            columns = {"value_number": value}
        elif spec["type"] == "date":
            value = date(1960, 1, 1) + timedelta(days=rng.randrange(20000))
            columns = {"value_date": value}
        else:
            value = rng.choice(GENDERS if spec["type"] == "choice" else PREFS)
            columns = {"value_text": value}
        row["attrs"][key] = value
        session.add(FriendAttribute(friend_id=fid, attribute_def_id=spec["id"], **columns))
    for name, tag_id in world.tags.items():
        if rng.random() < 0.3:
            row["tags"].add(name)
            session.add(FriendTag(friend_id=fid, tag_id=tag_id))
    clicks = []
    for _ in range(rng.choice([0, 0, 1, 2, 3, 5, 8, 12])):
        link_id = rng.choice(list(world.links))
        click = {
            "friend_id": fid,
            "link_id": link_id,
            "delivery_id": world.links[link_id],
            "clicked_at": _at(rng, 200),
        }
        clicks.append(click)
        session.add(Click(account_id=account_id, **click))
    conversions = []
    for j in range(rng.choice([0, 0, 0, 1, 1, 2, 3, 5])):
        skus = rng.sample(SKUS, rng.randint(1, 2))
        amount = rng.choice([500, 1200, 3000, 5000, 9800, 15000])
        conversion = Conversion(
            account_id=account_id,
            order_id=f"o{fid}-{j}",
            friend_id=fid,
            amount_jpy=amount,
            occurred_at=_at(rng, 365),
        )
        session.add(conversion)
        session.flush()
        for sku in skus:
            session.add(
                ConversionItem(
                    conversion_id=conversion.id, sku=sku, unit_price_jpy=amount, quantity=1
                )
            )
        conversions.append(
            {
                "friend_id": fid,
                "amount_jpy": amount,
                "occurred_at": conversion.occurred_at,
                "skus": set(skus),
            }
        )
    for j in range(rng.choice([0, 0, 1, 2, 3])):
        event = {
            "friend_id": fid,
            "name": rng.choice(["cart_abandoned", "page_view"]),
            "occurred_at": _at(rng, 6),
        }
        world.events.append(event)
        session.add(
            CustomEvent(account_id=account_id, event_id=f"e{fid}-{j}", properties={}, **event)
        )
    for delivery_id in world.deliveries:
        if rng.random() < 0.4:
            recipient = {
                "delivery_id": delivery_id,
                "friend_id": fid,
                "status": rng.choice(["sent", "sent", "failed", "held_out"]),
            }
            world.recipients.append(recipient)
            session.add(DeliveryRecipient(arm="a", **recipient))
    # rollups, as the click and conversion writers keep them
    friend.last_click_at = max((c["clicked_at"] for c in clicks), default=None)
    friend.click_count = len(clicks)
    friend.last_purchase_at = max((c["occurred_at"] for c in conversions), default=None)
    friend.purchase_count = len(conversions)
    friend.revenue_jpy = sum(c["amount_jpy"] for c in conversions)
    world.clicks.extend(clicks)
    world.conversions.extend(conversions)
    world.friends[fid] = row
