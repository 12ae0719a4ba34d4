"""Members on domain events: LINE's account-link result links (or records the failure
of) the nonce's member ID, in the webhook event's transaction."""

from __future__ import annotations

from sqlalchemy.orm import Session

from enishi.events.registry import Subscriber
from enishi.events.service import Event
from enishi.friends.models import Friend
from enishi.members.service import complete_account_link


def complete_link(session: Session, event: Event) -> None:
    friend = session.get(Friend, event.friend_id) if event.friend_id is not None else None
    payload = event.payload
    complete_account_link(session, friend, payload["nonce"], payload["result"], event.occurred_at)


SUBSCRIBERS = (
    Subscriber("members.complete_link", ("line.account_link",), complete_link, "transaction"),
)
