"""Who listens to which domain event. Filled by the composition layer (enishi/wiring.py)
from each domain's `subscribers.py`, so the publisher never imports its listeners.

Three ways to listen:
- `transaction`: run inside publish(), in the publisher's transaction — for state that must
  change with the event or not at all (a follow's inflow route; an account link's member).
- `immediate`: run right after the publishing transaction commits, in the same process,
  outside any transaction — for what cannot wait for a poller (a reply token lives about a
  minute; a new follower's profile). The poller is the fallback when that fails.
- `queued`: run by the worker's events poller, in a transaction that also records the
  delivery, so work in the database happens once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

Mode = Literal["transaction", "immediate", "queued"]


@dataclass(frozen=True)
class Subscriber:
    name: str  # unique and stable: deliveries are recorded under it
    events: tuple[str, ...]
    # transaction, queued: (session, Event); immediate: (app state, [Event, ...])
    handler: Callable[[Any, Any], None]
    mode: Mode = "queued"


_subscribers: dict[str, Subscriber] = {}


def subscribe(subscriber: Subscriber) -> None:
    """Register a subscriber; registering the same one again changes nothing."""
    known = _subscribers.get(subscriber.name)
    if known is not None and known != subscriber:
        raise ValueError(f"another subscriber is registered as {subscriber.name!r}")
    _subscribers[subscriber.name] = subscriber


def unsubscribe(name: str) -> None:
    _subscribers.pop(name, None)


def subscribers_of(event_name: str, *modes: Mode) -> list[Subscriber]:
    return [
        s
        for s in _subscribers.values()
        if event_name in s.events and (not modes or s.mode in modes)
    ]
