"""What each webhook event type does to friend state.

A handler runs inside the worker's transaction (with the rest of its batch, or in a
savepoint of its own when the batch is redone carefully) and returns None when the event is
done, or the reason it was skipped. Raising fails the attempt (it is retried). Handlers
compare timestamps with what is already stored, so an event that arrives after a later one
was applied (LINE does not guarantee order) is recorded without undoing the newer state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from enishi.db.upsert import insert_ignore
from enishi.deps import AppState
from enishi.events.service import Event as DomainEvent
from enishi.events.service import publish
from enishi.friends.models import BLOCKED, FOLLOWING, UNKNOWN, FollowHistory, Friend
from enishi.friends.service import get_friend, get_or_create_friend, record_activity
from enishi.webhook import postback as grammar


class Event(Protocol):
    """A stored webhook event as handlers read it (a row of webhook_events)."""

    id: int
    account_id: int
    type: str
    line_user_id: str | None
    event_ts: int
    payload: dict[str, Any]
    attempts: int


@dataclass
class Context:
    session: Session
    state: AppState
    # the batch's friends, loaded in one query; and those created by this batch
    friends: dict[tuple[int, str], Friend] = field(default_factory=dict)
    created: set[int] = field(default_factory=set)

    def prefetch(self, events: list[Event]) -> None:
        """Load (and create, for events that will need them) the friends of `events` with
        a few statements instead of several per event."""
        keys = {(e.account_id, e.line_user_id) for e in events if e.line_user_id}
        if not keys:
            return
        self._load(keys)
        missing = {(e.account_id, e.line_user_id) for e in events if needs_friend(e)}
        missing -= set(self.friends)
        if not missing:
            return
        rows = [{"account_id": a, "line_user_id": u, "status": UNKNOWN} for a, u in missing]
        insert_ignore(
            self.session.connection(), Friend.__table__, rows, ("account_id", "line_user_id")
        )
        self._load(missing)
        self.created.update(self.friends[key].id for key in missing if key in self.friends)

    def _load(self, keys: set[tuple[Any, Any]]) -> None:
        query = select(Friend).where(
            Friend.account_id.in_({a for a, _ in keys}),
            Friend.line_user_id.in_({u for _, u in keys}),
        )
        for friend in self.session.scalars(query):
            self.friends[(friend.account_id, friend.line_user_id)] = friend

    def forget(self) -> None:
        """After a rolled-back savepoint: cached friends may be gone or stale."""
        self.friends.clear()
        self.created.clear()


Handler = Callable[[Context, Event, datetime], str | None]


def event_time(timestamp_ms: int) -> datetime:
    return datetime.fromtimestamp(timestamp_ms / 1000, UTC)


def _later(a: datetime | None, b: datetime) -> datetime:
    return b if a is None or b > a else a


def _earlier(a: datetime | None, b: datetime) -> datetime:
    return b if a is None or b < a else a


def _user_source(event: Event) -> str | None:
    """None when the event comes from a 1:1 chat with a valid user ID, else why not."""
    source = event.payload.get("source")
    if not isinstance(source, dict):
        return "no source"
    if source.get("type") != "user":
        return f"{source.get('type')} source: group and room events are not tracked"
    if event.line_user_id is None:
        return "no valid userId in the source"
    return None


def _publish(
    ctx: Context, event: Event, name: str, friend: Friend | None, at: datetime, **data: Any
) -> None:
    """Announce what the event did (docs/events.md); the reply token rides along for the
    subscribers that answer within its minute."""
    token = event.payload.get("replyToken")
    if isinstance(token, str):
        data["reply_token"] = token
    data["webhook_event_id"] = event.id
    if friend is not None:
        data["line_user_id"] = friend.line_user_id
    publish(
        ctx.session,
        DomainEvent(
            name,
            at,
            account_id=event.account_id,
            friend_id=friend.id if friend is not None else None,
            payload=data,
        ),
    )


def _friend(ctx: Context, event: Event) -> Friend:
    assert event.line_user_id is not None
    key = (event.account_id, event.line_user_id)
    friend = ctx.friends.get(key) or get_friend(ctx.session, *key)
    if friend is None:
        friend = get_or_create_friend(ctx.session, *key)
        ctx.created.add(friend.id)
    ctx.friends[key] = friend
    return friend


# --- follow / unfollow ---------------------------------------------------------------------
def _blocked_before(ctx: Context, friend: Friend, at: datetime) -> bool:
    if friend.status == BLOCKED or friend.blocked_at is not None:
        return True
    if friend.id in ctx.created:  # new in this batch: no history before it
        return False
    return (
        ctx.session.scalar(
            select(FollowHistory.id)
            .where(
                FollowHistory.friend_id == friend.id,
                FollowHistory.kind == "block",
                FollowHistory.at <= at,
            )
            .limit(1)
        )
        is not None
    )


def on_follow(ctx: Context, event: Event, at: datetime) -> str | None:
    """A new friend or an unblock. LINE's `isUnblocked` is a hint (not guaranteed): a
    friend enishi has seen blocked is an unblock whatever the flag says."""
    friend = _friend(ctx, event)
    follow = event.payload.get("follow")
    hinted = isinstance(follow, dict) and follow.get("isUnblocked") is True
    kind = "unblock" if hinted or _blocked_before(ctx, friend, at) else "follow"
    if friend.blocked_at is None or friend.blocked_at <= at:  # else a newer block stands
        friend.status = FOLLOWING
        friend.blocked_at = None
    friend.first_followed_at = _earlier(friend.first_followed_at, at)
    friend.last_followed_at = _later(friend.last_followed_at, at)
    ctx.session.add(FollowHistory(friend_id=friend.id, kind=kind, at=at))
    _publish(ctx, event, "friend.followed", friend, at, kind=kind)
    return None


def on_unfollow(ctx: Context, event: Event, at: datetime) -> str | None:
    """Blocked: the friend and their history stay."""
    friend = _friend(ctx, event)
    if friend.last_followed_at is None or friend.last_followed_at <= at:  # else re-followed
        friend.status = BLOCKED
        friend.blocked_at = _later(friend.blocked_at, at)
    ctx.session.add(FollowHistory(friend_id=friend.id, kind="block", at=at))
    _publish(ctx, event, "friend.unfollowed", friend, at)
    return None


# --- what friends send -------------------------------------------------------------------
# LINE's message fields worth keeping per type, stored under snake_case names
MESSAGE_FIELDS: dict[str, tuple[str, ...]] = {
    "text": ("text", "emojis", "mention", "quotedMessageId"),
    "sticker": ("packageId", "stickerId", "stickerResourceType", "keywords", "text"),
    "image": ("contentProvider", "imageSet"),
    "video": ("duration", "contentProvider"),
    "audio": ("duration", "contentProvider"),
    "file": ("fileName", "fileSize"),
    "location": ("title", "address", "latitude", "longitude"),
}


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


def message_data(message: dict[str, Any]) -> dict[str, Any]:
    kind = str(message.get("type", ""))
    data: dict[str, Any] = {"type": kind, "message_id": message.get("id")}
    for name in MESSAGE_FIELDS.get(kind, ()):
        if name in message:
            data[_snake(name)] = message[name]
    return data


def on_message(ctx: Context, event: Event, at: datetime) -> str | None:
    message = event.payload.get("message")
    if not isinstance(message, dict):
        return "message event without a message object"
    friend = _friend(ctx, event)
    data = message_data(message)
    record_activity(ctx.session, friend, "message", at, data)
    friend.last_message_at = _later(friend.last_message_at, at)
    _publish(ctx, event, "friend.message", friend, at, message=data)
    return None


def on_postback(ctx: Context, event: Event, at: datetime) -> str | None:
    """Recorded as it came, then enishi's own grammar (postback.py) applied; problems with
    the grammar are noted on the activity, never fail the event."""
    postback = event.payload.get("postback")
    if not isinstance(postback, dict):
        return "postback event without a postback object"
    friend = _friend(ctx, event)
    data = postback.get("data") if isinstance(postback.get("data"), str) else ""
    params = postback.get("params") if isinstance(postback.get("params"), dict) else {}
    activity = record_activity(
        ctx.session, friend, "postback", at, {"data": data, "params": params}
    )
    if grammar.is_enishi(data):
        ops, problems = grammar.parse(data)
        applied, refused = grammar.apply(ctx.session, friend, ops, at)
        # a new dict, so the change is saved even if the activity was flushed already
        activity.data = {
            **activity.data,
            "enishi": {"applied": applied, "problems": problems + refused},
        }
    _publish(ctx, event, "friend.postback", friend, at, data=data, params=params)
    return None


def on_beacon(ctx: Context, event: Event, at: datetime) -> str | None:
    beacon = event.payload.get("beacon")
    if not isinstance(beacon, dict):
        return "beacon event without a beacon object"
    friend = _friend(ctx, event)
    data = {"hwid": beacon.get("hwid"), "type": beacon.get("type"), "dm": beacon.get("dm")}
    record_activity(ctx.session, friend, "beacon", at, data)
    return None


def on_account_link(ctx: Context, event: Event, at: datetime) -> str | None:
    """LINE sends `failed` without a source: members (subscribed) find the user by nonce."""
    link = event.payload.get("link")
    if not isinstance(link, dict) or not isinstance(link.get("nonce"), str):
        return "accountLink event without link.nonce"
    result = str(link.get("result", ""))
    friend = _friend(ctx, event) if _user_source(event) is None else None
    if friend is None and result == "ok":
        return "accountLink ok without a user source"
    _publish(ctx, event, "line.account_link", friend, at, nonce=link["nonce"], result=result)
    return None


HANDLERS: dict[str, Handler] = {
    "follow": on_follow,
    "unfollow": on_unfollow,
    "message": on_message,
    "postback": on_postback,
    "beacon": on_beacon,
    "accountLink": on_account_link,
}
NEEDS_USER = {"follow", "unfollow", "message", "postback", "beacon"}


def needs_friend(event: Event) -> bool:
    """Whether handling the event will find or create the friend of its source."""
    if event.type not in NEEDS_USER and event.type != "accountLink":
        return False
    return _user_source(event) is None


def handle(ctx: Context, event: Event) -> str | None:
    """Run the event's handler: None when done, or why it was skipped."""
    handler = HANDLERS.get(event.type)
    if handler is None:
        return f"{event.type or 'untyped'} events are stored, not processed"
    if event.type in NEEDS_USER:
        problem = _user_source(event)
        if problem is not None:
            return problem
    return handler(ctx, event, event_time(event.event_ts))
