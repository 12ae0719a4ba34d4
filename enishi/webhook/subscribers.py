"""What the webhook room does on domain events: fetch a new follower's LINE profile right
after the follow commits (LINE is never called inside the transaction)."""

from __future__ import annotations

from enishi.deps import AppState
from enishi.events.registry import Subscriber
from enishi.events.service import Event
from enishi.webhook.processor import fetch_profiles


def fetch_follower_profiles(state: AppState, events: list[Event]) -> None:
    """Fetching a profile twice only rewrites it: safe to re-deliver."""
    fetch_profiles(state, [(e.account_id, e.friend_id, e.payload["line_user_id"]) for e in events])


SUBSCRIBERS = (
    Subscriber(
        "webhook.fetch_follower_profiles",
        ("friend.followed",),
        fetch_follower_profiles,
        "immediate",
    ),
)
