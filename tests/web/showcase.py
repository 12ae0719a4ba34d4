"""A month of plausible history for one account, inserted directly (follows, blocks,
member-ID links, deliveries, clicks, purchases), so the overview has something to draw in
the browser test and its screenshot. Deterministic (a seeded random)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from enishi.accounts.models import Account
from enishi.delivery.models import Delivery
from enishi.friends.models import FollowHistory, Friend
from enishi.friends.rollups import rebuild_rollups
from enishi.members.models import MemberLink
from enishi.sending.models import OutboundRequest
from enishi.tracking.models import Click, Conversion, Link


def build_showcase(session: Session, account_id: int, now: datetime, friends: int = 1500) -> None:
    rng = random.Random(7)
    account = session.get(Account, account_id)
    account.monthly_quota, account.cost_per_message_jpy = 30_000, 3
    people: list[tuple[Friend, datetime, datetime | None]] = []
    for n in range(friends):
        followed = now - timedelta(days=120 * rng.random() ** 1.6)
        blocked = followed + timedelta(days=rng.uniform(0.1, 40)) if rng.random() < 0.12 else None
        blocked = blocked if blocked is not None and blocked < now else None
        friend = Friend(
            account_id=account_id,
            line_user_id=f"U{0xABC000 + n:032x}",
            status="blocked" if blocked else "following",
            first_followed_at=followed,
            blocked_at=blocked,
        )
        people.append((friend, followed, blocked))
    session.add_all([friend for friend, _, _ in people])
    session.flush()
    for friend, followed, blocked in people:
        session.add(FollowHistory(friend_id=friend.id, kind="follow", at=followed))
        if blocked:
            session.add(FollowHistory(friend_id=friend.id, kind="block", at=blocked))
        if rng.random() < 0.3:
            session.add(
                MemberLink(
                    account_id=account_id,
                    friend_id=friend.id,
                    member_id=f"M{friend.id}",
                    method="account_link",
                    linked_at=followed + timedelta(hours=rng.uniform(1, 200)),
                )
            )
    delivery = Delivery(
        account_id=account_id, name="週末セール", audience={"type": "all"}, arms=[], seed=1
    )
    session.add(delivery)
    session.flush()
    link = Link(account_id=account_id, url="https://shop.example/sale", delivery_id=delivery.id)
    session.add(link)
    session.flush()
    order = 0
    for days_ago in (27, 23, 20, 16, 13, 9, 6, 2):
        sent_at = now - timedelta(days=days_ago, hours=rng.uniform(0, 6))
        reached = [
            f
            for f, followed, blocked in people
            if followed < sent_at and (blocked is None or blocked > sent_at)
        ]
        session.add(
            OutboundRequest(
                source="delivery",
                source_id=delivery.id,
                account_id=account_id,
                kind="multicast",
                retry_key=f"showcase-{days_ago}",
                payload={},
                recipient_count=len(reached),
                friend_lo=1,
                friend_hi=2,
                status="sent",
                sent_at=sent_at,
            )
        )
        for friend in reached:
            if rng.random() < 0.09:
                clicked = sent_at + timedelta(hours=rng.expovariate(1 / 8))
                if clicked >= now:
                    continue
                session.add(
                    Click(
                        account_id=account_id,
                        link_id=link.id,
                        friend_id=friend.id,
                        delivery_id=delivery.id,
                        clicked_at=clicked,
                    )
                )
                bought = clicked + timedelta(hours=rng.uniform(0.1, 20))
                if rng.random() < 0.2 and bought < now:
                    order += 1
                    session.add(
                        Conversion(
                            account_id=account_id,
                            order_id=f"s{order}",
                            friend_id=friend.id,
                            amount_jpy=rng.choice([1980, 2980, 4980, 7800]),
                            occurred_at=bought,
                            attributed_delivery_id=delivery.id,
                        )
                    )
    session.flush()
    rebuild_rollups(session, account_id)
