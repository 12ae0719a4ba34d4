"""Inflow on domain events: a follow is attributed to the route the friend came through,
in the follow's transaction (the friend row changes with the follow or not at all)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from enishi.events.registry import Subscriber
from enishi.events.service import Event
from enishi.friends.models import Friend
from enishi.inflow.service import attribute_route


def attribute_follow(session: Session, event: Event) -> None:
    friend = session.get(Friend, event.friend_id)
    if friend is not None:
        attribute_route(session, friend, event.occurred_at)


SUBSCRIBERS = (
    Subscriber("inflow.attribute_follow", ("friend.followed",), attribute_follow, "transaction"),
)
