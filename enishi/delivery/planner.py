"""Turning a delivery into LINE requests (enqueued in the sending outbox), in chunks of
friends.

Starting a delivery counts its audience and checks the monthly quota. Planning then walks
the audience in friend-id order, a chunk per transaction: each chunk assigns its friends
(holdout, arm, quota draw), writes their recipient rows and the requests that reach them —
each with a fresh retry key, stored before anything is sent — and moves the delivery's
cursor, all in one commit. A crash loses at most the chunk in progress, which is planned
again from the cursor; the dispatcher starts on the first chunk while later ones are still
being planned.

Identical payloads go out as multicasts of up to 500 friends; personalized arms (variables,
or per-friend tracked links) as one push per friend.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import nulls_first, or_, select, update
from sqlalchemy.orm import Session

from enishi.accounts.models import Account
from enishi.db.base import utcnow
from enishi.delivery import quota
from enishi.delivery.assignment import Assigner
from enishi.delivery.audience import audience_count, audience_select
from enishi.delivery.bulk import bulk_insert_recipients, fetch_tuples
from enishi.delivery.models import (
    CANCELLED,
    FAILED,
    HELD_OUT,
    HOLDOUT_ARM,
    PAUSED,
    QUEUED,
    SCHEDULED,
    SENDING,
    SKIPPED,
    Delivery,
)
from enishi.deps import AppState
from enishi.friends.models import AttributeDef, Friend, FriendAttribute
from enishi.kit.errors import ApiError
from enishi.line.gateway import LineGateway
from enishi.messages.personalize import FriendContext, MessageTemplate
from enishi.sending.models import DELIVERY
from enishi.sending.runtime import holder_id
from enishi.sending.service import enqueue_many
from enishi.tracking.rewrite import rewrite_message_urls

MULTICAST_MAX = 500
CHUNK_SHARED = 20_000  # friends per planning transaction when payloads are shared
CHUNK_PERSONAL = 5_000  # ... when each friend gets a push of their own
PLAN_LEASE = timedelta(seconds=60)


class PlanConflict(Exception):
    """Another worker took the delivery over; this chunk is rolled back."""


def plan_deliveries(state: AppState) -> int:
    """Worker poller: start one due delivery or plan one chunk of one delivery."""
    holder = holder_id(state)
    delivery_id = _claim(state, holder)
    if delivery_id is None:
        return 0
    with state.sessions() as session:
        status = session.scalar(select(Delivery.status).where(Delivery.id == delivery_id))
    try:
        if status == SCHEDULED:
            start_delivery(state, delivery_id, holder)
            return 1
        return plan_chunk(state, delivery_id, holder)
    except PlanConflict:
        return 0


def _claim(state: AppState, holder: str) -> int | None:
    """A delivery to start or plan, leased to this worker; the least recently served first,
    so a test send is not stuck behind a million-friend delivery."""
    now = utcnow()
    due = or_(
        (Delivery.status == SCHEDULED) & (or_(Delivery.send_at.is_(None), Delivery.send_at <= now)),
        Delivery.status.in_((SENDING, PAUSED, CANCELLED))
        & Delivery.planned_at.is_(None)
        & Delivery.started_at.is_not(None),
    )
    free = or_(
        Delivery.lease_until.is_(None), Delivery.lease_until < now, Delivery.lease_holder == holder
    )
    with state.sessions.begin() as session:
        found = session.scalar(
            select(Delivery.id)
            .where(due, free)
            .order_by(nulls_first(Delivery.lease_until.asc()), Delivery.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        if found is None:
            return None
        session.execute(
            update(Delivery)
            .where(Delivery.id == found)
            .values(lease_holder=holder, lease_until=now + PLAN_LEASE)
        )
    return found


# --- start -----------------------------------------------------------------------------------
def start_delivery(state: AppState, delivery_id: int, holder: str) -> None:
    """Count the audience, check the quota, and move the delivery to `sending` (or refuse)."""
    now = utcnow()
    with state.sessions() as session:
        delivery = session.get(Delivery, delivery_id)
        account = session.get(Account, delivery.account_id)
        assert delivery is not None and account is not None
        values: dict[str, Any] = {
            "started_at": now,
            "plan_cursor": 0,
            "planned_sends": 0,
            "held_out_count": 0,
            "skipped_count": 0,
            "request_seq": 0,
            "lease_until": now + PLAN_LEASE,
        }
        try:
            values.update(
                _sizing(
                    session,
                    line=state.line_for(account),
                    delivery=delivery,
                    account=account,
                    now=now,
                )
            )
            values["status"] = SENDING
        except ApiError as error:
            values.update(
                status=FAILED, error=error.message, error_code=error.reason, finished_at=now
            )
    with state.sessions.begin() as session:
        result = session.execute(
            update(Delivery)
            .where(
                Delivery.id == delivery_id,
                Delivery.status == SCHEDULED,
                Delivery.lease_holder == holder,
            )
            .values(**values)
        )
        if result.rowcount != 1:
            raise PlanConflict


def _sizing(
    session: Session, *, line: LineGateway, delivery: Delivery, account: Account, now: datetime
) -> dict[str, Any]:
    """audience_count, expected_sends/_requests and the quota decision for a delivery (asks
    LINE for the quota: `session` only reads)."""
    count = audience_count(session, delivery, now)
    assigner = assigner_for(delivery)
    friend_test = delivery.audience.get("type") == "friend"
    holdout = 0.0 if friend_test else delivery.holdout_share
    sends = round(count * (1 - holdout))
    ids: list[int] | None = None
    out: dict[str, Any] = {"audience_count": count, "quota_allowed": None, "quota_cutoff": None}
    usage = (
        quota.usage(session, account, line, now=now, exclude_delivery_id=delivery.id)
        if count
        else None
    )
    remaining = usage.remaining if usage is not None else None
    if remaining is not None and holdout > 0 and sends > 0.9 * remaining:
        ids = list(session.scalars(audience_select(session, delivery, now)))
        sends = assigner.count_sendable(ids)
    if remaining is not None and sends > remaining:
        if delivery.quota_mode != "partial":
            raise ApiError(409, "quota_exceeded", quota.refusal(sends, usage))
        if ids is None:
            ids = list(session.scalars(audience_select(session, delivery, now)))
        out["quota_allowed"] = remaining
        out["quota_cutoff"] = assigner.quota_cutoff(ids, remaining)
        sends = remaining
    out["expected_sends"] = sends
    requests = 0
    for arm in delivery.arms:  # an estimate (links are found when planning): for spreading
        template = MessageTemplate(arm["messages"])
        links = (
            delivery.track_links == "friend" and "http" in orjson.dumps(arm["messages"]).decode()
        )
        arm_sends = sends * arm["share"]
        shared = not template.personalized and not links
        requests += math.ceil(arm_sends / MULTICAST_MAX) if shared else math.ceil(arm_sends)
    out["expected_requests"] = max(1, requests)
    return out


def assigner_for(delivery: Delivery) -> Assigner:
    holdout = 0.0 if delivery.audience.get("type") == "friend" else delivery.holdout_share
    return Assigner(
        delivery.seed,
        holdout,
        [a["name"] for a in delivery.arms],
        [a["share"] for a in delivery.arms],
    )


# --- chunks ----------------------------------------------------------------------------------
@dataclass
class _Arm:
    name: str
    template: MessageTemplate
    shared_messages: list[dict] | None  # set when every friend gets the same payload
    per_friend_links: bool | None  # personalized arms: rewrite links (per friend or not)


def _arms(session: Session, delivery: Delivery, settings) -> dict[str, _Arm]:
    out = {}
    for arm in delivery.arms:
        template = MessageTemplate(arm["messages"])
        sample = template.sample() if template.personalized else template.render(FriendContext())
        tracked = sample
        if delivery.track_links != "off":
            tracked = rewrite_message_urls(
                session, delivery.account_id, sample, delivery_id=delivery.id, settings=settings
            )
        has_links = tracked != sample
        links = None if not has_links else delivery.track_links == "friend"
        shared = None
        # per-friend tracking only makes payloads differ when there is a link to track
        if not template.personalized and not links:
            shared = tracked
        out[arm["name"]] = _Arm(arm["name"], template, shared, links)
    return out


def plan_chunk(state: AppState, delivery_id: int, holder: str) -> int:
    """Plan the next chunk of friends; returns the number of friends planned (≥ 1 when
    anything changed)."""
    now = utcnow()
    with state.sessions.begin() as session:
        delivery = session.get(Delivery, delivery_id)
        assert delivery is not None
        if delivery.lease_holder != holder:
            raise PlanConflict
        if delivery.status == CANCELLED:  # nothing more will be sent: stop planning
            delivery.planned_at = now
            return 1
        arms = _arms(session, delivery, state.settings)
        personal = any(a.shared_messages is None for a in arms.values())
        size = CHUNK_PERSONAL if personal else CHUNK_SHARED
        columns = [Friend.id, Friend.line_user_id, Friend.display_name, Friend.member_id]
        cursor = delivery.plan_cursor or 0
        query = audience_select(session, delivery, delivery.started_at, *columns)
        rows = fetch_tuples(session, query.where(Friend.id > cursor).limit(size))
        last = len(rows) < size
        shared = {a.name for a in arms.values() if a.shared_messages is not None}
        plan = _assign(delivery, rows, last, shared)
        if plan.rows:
            attrs = _attributes(session, delivery.account_id, arms, plan)
            _write(session, delivery, arms, plan, attrs, state.settings)
        result = session.execute(
            update(Delivery)
            .where(
                Delivery.id == delivery_id,
                Delivery.lease_holder == holder,
                Delivery.plan_cursor == delivery.plan_cursor,
            )
            .values(
                plan_cursor=plan.cursor if plan.rows else cursor,
                planned_sends=Delivery.planned_sends + plan.sends,
                held_out_count=Delivery.held_out_count + plan.count(HELD_OUT),
                skipped_count=Delivery.skipped_count + plan.count(SKIPPED),
                request_seq=Delivery.request_seq + plan.requests,
                planned_at=now if last else None,
                lease_until=now + PLAN_LEASE,
            )
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            raise PlanConflict
        return max(1, len(plan.rows))


@dataclass
class _Plan:
    rows: list[Any]  # the friends planned in this chunk
    arm_of: dict[int, str]
    status_of: dict[int, str]
    cursor: int
    sends: int = 0
    requests: int = 0

    def count(self, status: str) -> int:
        if len(self.status_of) == len(self.rows):
            return Counter(self.status_of.values())[status]
        return sum(1 for row in self.rows if self.status_of[row[0]] == status)


def _assign(delivery: Delivery, rows: list[Any], last: bool, shared: set[str]) -> _Plan:
    assigner = assigner_for(delivery)
    forced = delivery.audience.get("arm") if delivery.audience.get("type") == "friend" else None
    if forced not in {a["name"] for a in delivery.arms}:
        forced = None
    allowed, cutoff = delivery.quota_allowed, delivery.quota_cutoff
    arm_of: dict[int, str] = {}
    status_of: dict[int, str] = {}
    sends = delivery.planned_sends
    pick, draw = assigner.arm, assigner.quota_draw
    if assigner.trivial and allowed is None:  # one arm, no holdout, no quota: everyone
        ids = [row[0] for row in rows]
        arm_of = dict.fromkeys(ids, forced or delivery.arms[0]["name"])
        status_of = dict.fromkeys(ids, QUEUED)
        rows_to_assign: list[Any] = []
    else:
        rows_to_assign = rows
    for row in rows_to_assign:
        friend_id = row[0]
        arm = forced or pick(friend_id)
        status = QUEUED
        if arm == HOLDOUT_ARM:
            status = HELD_OUT
        elif allowed is not None and (
            sends >= allowed or (cutoff is not None and draw(friend_id) >= cutoff)
        ):
            status = SKIPPED
        if status == QUEUED:
            sends += 1
        arm_of[friend_id], status_of[friend_id] = arm, status
    plan = _Plan(rows, arm_of, status_of, rows[-1][0] if rows else 0)
    if not last and rows and shared:
        _cut_partial_multicasts(plan, shared)
    plan.sends = plan.count(QUEUED)
    return plan


def _cut_partial_multicasts(plan: _Plan, shared: set[str]) -> None:
    """End the chunk where every shared arm's multicasts are full (500), so a million
    friends take 2,000 requests, not one short request per chunk per arm; the friends
    after the cut are planned with the next chunk."""
    rows = plan.rows
    while rows:
        counts: dict[str, int] = defaultdict(int)
        if (
            len(rows) == len(plan.rows)
            and len(set(plan.arm_of.values())) == 1
            and plan.count(QUEUED) == len(rows)
        ):
            counts[rows[0] and plan.arm_of[rows[0][0]]] = len(rows)  # everyone, one arm
        else:
            for row in rows:
                if plan.status_of[row[0]] == QUEUED:
                    counts[plan.arm_of[row[0]]] += 1
        cut = None
        for arm, count in counts.items():
            extra = count % MULTICAST_MAX
            if not extra or arm not in shared:
                continue
            seen = 0
            for index, row in enumerate(rows):  # the first friend of the short request
                if plan.status_of[row[0]] == QUEUED and plan.arm_of[row[0]] == arm:
                    seen += 1
                    if seen == count - extra + 1:
                        cut = index if cut is None else min(cut, index)
                        break
        if cut is None:
            break
        rows = rows[:cut]
    if rows:
        plan.rows, plan.cursor = rows, rows[-1][0]


def _attributes(
    session: Session, account_id: int, arms: dict[str, _Arm], plan: _Plan
) -> dict[int, dict[str, Any]]:
    keys = sorted({k for a in arms.values() for k in a.template.attr_keys})
    if not keys:
        return {}
    ids = [r[0] for r in plan.rows if plan.status_of[r[0]] == QUEUED]
    out: dict[int, dict[str, Any]] = defaultdict(dict)
    for start in range(0, len(ids), 1000):
        rows = session.execute(
            select(
                FriendAttribute.friend_id,
                AttributeDef.key,
                AttributeDef.type,
                FriendAttribute.value_text,
                FriendAttribute.value_number,
                FriendAttribute.value_date,
            )
            .join(AttributeDef, AttributeDef.id == FriendAttribute.attribute_def_id)
            .where(
                AttributeDef.account_id == account_id,
                AttributeDef.key.in_(keys),
                FriendAttribute.friend_id.in_(ids[start : start + 1000]),
            )
        )
        for fid, key, kind, text, number, day in rows:
            out[fid][key] = (
                number if kind == "number" else day.isoformat() if kind == "date" and day else text
            )
    return out


def _write(
    session: Session,
    delivery: Delivery,
    arms: dict[str, _Arm],
    plan: _Plan,
    attrs: dict[int, dict[str, Any]],
    settings,
) -> None:
    """Insert this chunk's requests (retry keys included) and recipient rows."""
    start = delivery.started_at or utcnow()
    window = (delivery.spread_until - start).total_seconds() if delivery.spread_until else 0
    expected = max(1, delivery.expected_requests or 1)
    seq = delivery.request_seq
    requests: list[dict[str, Any]] = []
    owners: list[list[int]] = []  # friend ids reached by each request
    extra = {"notificationDisabled": True} if delivery.notification_disabled else {}

    def add(kind: str, to: Any, messages: list[dict], friends: list[int]) -> None:
        nonlocal seq
        offset = window * min(1.0, seq / expected) if window > 0 else 0.0
        requests.append(
            {
                "account_id": delivery.account_id,
                "kind": kind,
                "source": DELIVERY,
                "source_id": delivery.id,
                "payload": {"to": to, "messages": messages, **extra},
                "recipient_count": len(friends),
                "friend_lo": min(friends),
                "friend_hi": max(friends),
                "due_at": start + timedelta(seconds=offset),
            }
        )
        owners.append(friends)
        seq += 1

    queued: dict[str, list[Any]] = defaultdict(list)  # by arm, in friend order
    status_of, arm_of = plan.status_of, plan.arm_of
    for row in plan.rows:
        if status_of[row[0]] == QUEUED:
            queued[arm_of[row[0]]].append(row)
    for name, rows in queued.items():
        arm = arms[name]
        if arm.shared_messages is not None:
            for at in range(0, len(rows), MULTICAST_MAX):
                part = rows[at : at + MULTICAST_MAX]
                add("multicast", [r[1] for r in part], arm.shared_messages, [r[0] for r in part])
            continue
        for row in rows:
            messages = arm.template.render(FriendContext(row[2], row[3], attrs.get(row[0], {})))
            if arm.per_friend_links is not None:
                messages = rewrite_message_urls(
                    session,
                    delivery.account_id,
                    messages,
                    delivery_id=delivery.id,
                    friend_id=row[0] if arm.per_friend_links else None,
                    settings=settings,
                )
            add("push", row[1], messages, [row[0]])
    plan.requests = len(requests)

    delivery_id = delivery.id
    recipients: list[tuple] = []
    if requests:
        ids = enqueue_many(session, requests=requests)
        for request_id, friends in zip(ids, owners, strict=True):
            arm = arm_of[friends[0]]
            recipients += [(delivery_id, f, arm, QUEUED, request_id, None) for f in friends]
    recipients += [
        (
            delivery_id,
            row[0],
            arm_of[row[0]],
            status_of[row[0]],
            None,
            "quota" if status_of[row[0]] == SKIPPED else None,
        )
        for row in plan.rows
        if status_of[row[0]] != QUEUED
    ]
    bulk_insert_recipients(session, recipients)
