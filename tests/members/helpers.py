"""Small helpers shared by the member-link and inflow-route tests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import httpx

from enishi.friends.models import FOLLOWING
from enishi.friends.service import get_or_create_friend
from enishi.line.signature import verify_signature
from tests.servers import ServerThread

# the same channel as tests/conftest.py's api_account
CHANNEL = {
    "channel_id": "2000000001",
    "channel_secret": "0123456789abcdef0123456789abcdef",
    "access_token": "token-abc",
}


def control(emulator, method: str, path: str, body: dict | None = None) -> dict[str, Any]:
    """The emulator's control API (`/_emulator/channels/{id}/...`)."""
    url = f"{emulator.base_url}/_emulator/channels/{emulator.channel.channel_id}{path}"
    response = httpx.request(method, url, json=body, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def act(emulator, user_id: str, action: str, **fields: Any) -> Any:
    return control(emulator, "POST", f"/friends/{user_id}/actions", {"action": action, **fields})[
        "result"
    ]


def virtual_friends(emulator, *, member: bool | None = None, following: bool = True) -> list:
    """The emulator's virtual friends (its own objects: ground truth)."""
    friends = [f for f in emulator.channel.friends.values() if f.is_friend == following]
    if member is not None:
        friends = [f for f in friends if bool(f.traits.member_id) == member]
    return friends


def signed_events(receiver, secret: str = CHANNEL["channel_secret"]) -> list[dict]:
    """Every event the receiver got, after checking each request's LINE signature."""
    events = []
    for body, headers in receiver.requests:
        assert verify_signature(secret, body, headers.get("x-line-signature"))
        events.extend(json.loads(body)["events"])
    return events


def event_time(event: dict) -> datetime:
    return datetime.fromtimestamp(event["timestamp"] / 1000, UTC)


def following_friend(session, account_id: int, line_user_id: str):
    friend = get_or_create_friend(session, account_id, line_user_id)
    friend.status = FOLLOWING
    session.flush()
    return friend


@contextmanager
def serve(app) -> Iterator[str]:
    """enishi over real HTTP next to the TestClient that already runs its lifespan (so
    this server does not run it a second time): the base URL."""
    thread = ServerThread(app, lifespan="off").begin()
    try:
        yield thread.base_url
    finally:
        thread.stop()
