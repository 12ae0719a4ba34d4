"""Putting messages into virtual friends' inboxes, with LINE's billing rules.

Blocked friends and unknown IDs receive nothing and are not counted; reply is free; every
other send counts one message per recipient against the channel's monthly quota.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from enishi.emulator.clock import jst_date, jst_month
from enishi.emulator.errors import MONTHLY_LIMIT, LineError
from enishi.emulator.state import Channel, EmulatorState, InboxEntry

BILLED_KINDS = {"push", "multicast", "broadcast", "narrowcast"}


def reachable(channel: Channel, user_ids: Iterable[str]) -> list[str]:
    """The given users who would actually receive a message: friends who have not blocked."""
    friends = channel.friends
    out = []
    for uid in user_ids:
        friend = friends.get(uid)
        if friend is not None and friend.is_friend:
            out.append(uid)
    return out


def remaining_quota(channel: Channel, now: float) -> int | None:
    if channel.quota_limit is None:
        return None
    return max(0, channel.quota_limit - channel.usage_by_month.get(jst_month(now), 0))


def check_quota(channel: Channel, now: float, recipients: int) -> None:
    remaining = remaining_quota(channel, now)
    if remaining is not None and recipients > remaining:
        raise LineError(429, MONTHLY_LIMIT)


def deliver(
    state: EmulatorState,
    channel: Channel,
    user_ids: list[str],
    messages: list[dict[str, Any]],
    kind: str,
    request_id: str,
    *,
    retry_key: str | None = None,
    custom_aggregation_units: list[str] | None = None,
) -> list[str]:
    """Deliver to the reachable users among `user_ids`; returns the message IDs of the first
    recipient's copy (what push and reply answer with in `sentMessages`).

    The caller has checked the quota; `user_ids` must already be reachable.
    """
    now = state.clock.now()
    inboxes = channel.inboxes
    pending = channel.pending_reactions
    per_recipient = len(messages)
    next_id = state.reserve_message_ids(per_recipient * len(user_ids))
    first_ids = [str(next_id + i) for i in range(per_recipient)] if user_ids else []
    for uid in user_ids:
        entry = InboxEntry(
            request_id, kind, messages, now, next_id, retry_key, custom_aggregation_units
        )
        next_id += per_recipient
        inbox = inboxes.get(uid)
        if inbox is None:
            inboxes[uid] = [entry]
        else:
            inbox.append(entry)
        pending.append((uid, entry))
    n = len(user_ids)
    month = jst_month(now)
    if kind in BILLED_KINDS and n:
        channel.usage_by_month[month] = channel.usage_by_month.get(month, 0) + n
    if custom_aggregation_units and n:
        channel.aggregation_units.setdefault(month, set()).update(custom_aggregation_units)
    if n:
        key = (kind, jst_date(now))
        channel.delivery_counts[key] = channel.delivery_counts.get(key, 0) + n
    return first_ids
