"""Building report data the way production does: clicks over HTTP on the tracked URLs the
friends received, orders through /api/v1/conversions, and ground truth for the reports."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import httpx
from sqlalchemy import select

from enishi.delivery.models import Delivery, DeliveryRecipient
from enishi.friends.models import FollowHistory
from tests.delivery.conftest import Env

TRACKED = re.compile(r"https?://\S+/c/[A-Za-z0-9_-]+")


def tracked_url(env: Env, user_id: str) -> str:
    """The tracked URL in the (only) message this friend received."""
    (entry,) = env.inbox(user_id)
    return TRACKED.search(entry.messages[0]["text"]).group(0)


def click(url: str, at: datetime | None = None) -> None:
    """Open a tracked URL as a person would (at a simulated time, which enishi trusts in
    tests, like the emulator's virtual friends send it)."""
    headers = {"user-agent": "Mozilla/5.0 (iPhone) Line/13.0"}
    if at is not None:
        headers["x-emulator-sim-time"] = f"{at.timestamp():.6f}"
    response = httpx.get(url, headers=headers, follow_redirects=False, timeout=30)
    assert response.status_code == 302, response.text


def buy(env: Env, orders: list[tuple[str, int, datetime]]) -> None:
    """Report orders (LINE user id, amount, time) through the conversions API."""
    body = {
        "conversions": [
            {
                "order_id": f"T-{user}-{at.timestamp():.0f}-{amount}",
                "line_user_id": user,
                "amount": amount,
                "occurred_at": at.isoformat(),
            }
            for user, amount, at in orders
        ]
    }
    response = env.call("POST", "/conversions/batch", json=body)
    assert response.status_code == 200, response.text
    assert all(r["status"] == "created" for r in response.json()["results"]), response.text


def shift_back(env: Env, delivery_id: int, delta: timedelta) -> datetime:
    """Make a finished delivery look sent `delta` ago (its start and send times); returns
    the new start. Lets a test post orders across a whole attribution window."""
    with env.state.sessions.begin() as session:
        delivery = session.get(Delivery, delivery_id)
        delivery.started_at -= delta
        delivery.finished_at -= delta
        for recipient in session.scalars(
            select(DeliveryRecipient).where(
                DeliveryRecipient.delivery_id == delivery_id, DeliveryRecipient.sent_at.is_not(None)
            )
        ):
            recipient.sent_at -= delta
        return delivery.started_at


def block(env: Env, friend_id: int, at: datetime) -> None:
    """A block in the friend's follow history (as the webhook intake records one)."""
    with env.state.sessions.begin() as session:
        session.add(FollowHistory(friend_id=friend_id, kind="block", at=at))


def report(env: Env, delivery_id: int) -> dict:
    response = env.call("GET", f"/deliveries/{delivery_id}/report")
    assert response.status_code == 200, response.text
    return response.json()


def arm_of(body: dict, name: str) -> dict:
    return next(arm for arm in body["arms"] if arm["name"] == name)
