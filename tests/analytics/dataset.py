"""Test worlds for the analytics: a small one with every number computable by hand (built
through the click endpoint and the conversions API), and a planted fall-off (inserted
directly, then the rollups rebuilt from the rows by the friends service)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from enishi.accounts.service import create_account
from enishi.delivery.models import Delivery
from enishi.friends.models import Friend
from enishi.friends.rollups import rebuild_rollups
from enishi.friends.service import get_or_create_friend
from enishi.tracking.links import create_link
from enishi.tracking.models import Click, Conversion
from enishi.tracking.tokens import tracked_url

# the end of 2025-05-31 in Tokyo: the as-of moment of the analyses
AS_OF = datetime(2025, 5, 31, 15, 0, tzinfo=UTC)
AS_OF_DATE = "2025-05-31"
DAY = timedelta(days=1)


def user(n: int) -> str:
    return f"U{n:032x}"


@dataclass
class SmallWorld:
    account_id: int
    delivery_id: int
    delivery_link: int  # a link of that delivery
    other_link: int  # a link outside any delivery
    friends: dict[str, int] = field(default_factory=dict)  # name -> id


def build_small_world(client: TestClient, api_headers: dict, account_id: int) -> SmallWorld:
    """Friends A..I of the account (docs: tests/analytics/test_clicks.py has the table)."""
    state = client.app.state.enishi
    settings = state.settings
    with state.sessions.begin() as session:
        delivery = Delivery(
            account_id=account_id, name="春の配信", audience={"type": "all"}, arms=[], seed=1
        )
        session.add(delivery)
        session.flush()
        delivery_link = create_link(
            session, account_id, "https://shop.example/d", delivery_id=delivery.id
        )
        other_link = create_link(session, account_id, "https://shop.example/o")
        world = SmallWorld(account_id, delivery.id, delivery_link.id, other_link.id)
        for n, (name, status, followed) in enumerate(
            [
                ("A", "following", AS_OF - 300 * DAY),
                ("B", "following", AS_OF - 300 * DAY),
                ("C", "following", AS_OF - 300 * DAY),
                ("D", "following", AS_OF - 300 * DAY),
                ("E", "following", AS_OF - 300 * DAY),
                ("F", "blocked", AS_OF - 300 * DAY),
                ("G", "following", AS_OF + DAY),
                ("H", "following", AS_OF - 300 * DAY),
                ("I", "following", AS_OF - 300 * DAY),
            ]
        ):
            friend = get_or_create_friend(session, account_id, user(n + 1))
            friend.status, friend.first_followed_at = status, followed
            world.friends[name] = friend.id
    clicks = [  # (friend, link, when)
        ("A", "d", AS_OF - 3 * DAY),
        ("A", "o", AS_OF - 10 * DAY),
        ("B", "o", AS_OF - 7 * DAY),  # exactly 7 days: day 7
        ("C", "d", AS_OF - 7 * DAY - timedelta(seconds=1)),  # day 8
        ("D", "o", AS_OF - 200 * DAY),  # before the 180-day period
        ("F", "d", AS_OF - DAY),  # blocked: not in the population
        ("G", "d", AS_OF - DAY),  # followed after the as-of moment
        ("H", "d", AS_OF + DAY),  # only after the as-of moment: never (as of then)
        ("I", "o", AS_OF - DAY + timedelta(hours=1)),  # day 1
        ("I", "d", AS_OF + 2 * DAY),  # after: not counted, rollup is later than as-of
    ]
    links = {"d": world.delivery_link, "o": world.other_link}
    base = settings.public_base_url
    for name, link, when in clicks:
        url = tracked_url(settings, links[link], world.friends[name])
        response = client.get(
            url.removeprefix(base),
            headers={"x-emulator-sim-time": str(when.timestamp())},
            follow_redirects=False,
        )
        assert response.status_code == 302
    orders = [  # (friend, amount, when)
        ("A", 3000, AS_OF + 5 * DAY),
        ("C", 1000, AS_OF + DAY),
        ("C", 500, AS_OF + 40 * DAY),  # after the 30-day outcome window
        ("D", 2000, AS_OF + 2 * DAY),
        ("E", 800, AS_OF - DAY),  # before the as-of moment
        ("F", 9999, AS_OF + DAY),  # blocked
    ]
    ids = {v: k for k, v in world.friends.items()}
    numbers = {name: n + 1 for n, name in enumerate("ABCDEFGHI")}
    for i, (name, amount, when) in enumerate(orders):
        assert ids[world.friends[name]] == name
        response = client.post(
            "/api/v1/conversions",
            headers=api_headers,
            json={
                "order_id": f"o{i}",
                "line_user_id": user(numbers[name]),
                "amount": amount,
                "occurred_at": when.isoformat(),
            },
        )
        assert response.status_code == 201, response.text
    return world


def build_planted_falloff(
    session: Session,
    box,
    *,
    as_of: datetime = AS_OF,
    bought_after: timedelta = 3 * DAY,
    cut_days: int = 50,
    max_days: int = 120,
    per_day: int = 20,
) -> int:
    """An account whose following friends clicked last 1..max_days days before `as_of`,
    `per_day` friends a day; 6 in 20 of those within `cut_days` bought (`bought_after` the
    as-of moment), 1 in 20 of the others. Plus 300 friends who never clicked, 1 in 20
    buying."""
    account = create_account(
        session,
        box,
        name="落ち込み店",
        channel_id="2000000301",
        channel_secret="s" * 32,
        access_token="t",
    )
    link = create_link(session, account.id, "https://shop.example/p")
    followed = as_of - 400 * DAY
    n = 0
    rows: list[tuple[int | None, int]] = [(day, per_day) for day in range(1, max_days + 1)]
    rows.append((None, 300))
    for day, count in rows:
        buyers = (6 if day is not None and day <= cut_days else 1) * count // 20
        for k in range(count):
            n += 1
            friend = Friend(
                account_id=account.id,
                line_user_id=user(100_000 + n),
                status="following",
                first_followed_at=followed,
            )
            session.add(friend)
            session.flush()
            if day is not None:
                # a half-day inside the day: last click between d − 1 and d days ago
                when = as_of - (day - 1) * DAY - timedelta(hours=12)
                session.add(
                    Click(
                        account_id=account.id, link_id=link.id, friend_id=friend.id, clicked_at=when
                    )
                )
                session.add(
                    Click(
                        account_id=account.id,
                        link_id=link.id,
                        friend_id=friend.id,
                        clicked_at=when - 200 * DAY,
                    )
                )
            if k < buyers:
                session.add(
                    Conversion(
                        account_id=account.id,
                        order_id=f"p{n}",
                        friend_id=friend.id,
                        amount_jpy=1000,
                        occurred_at=as_of + bought_after,
                    )
                )
    session.flush()
    rebuild_rollups(session, account.id)
    return account.id
