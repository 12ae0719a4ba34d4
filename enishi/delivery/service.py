"""Deliveries: create (a draft), read with progress, list, recipients, delete a draft.
Services never commit; the caller's transaction does."""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import and_, case, delete, select
from sqlalchemy.orm import Session

from enishi.audit.actor import Actor
from enishi.audit.service import record
from enishi.db.base import utcnow
from enishi.delivery.audience import add_list, check_audience
from enishi.delivery.compose import normalize_arms
from enishi.delivery.models import (
    CANCELLED,
    DRAFT,
    QUEUED,
    SENT,
    Delivery,
    DeliveryListMember,
    DeliveryRecipient,
)
from enishi.delivery.outbound import requests_of
from enishi.delivery.progress import counts
from enishi.delivery.scheduler import check_timing, problems_error
from enishi.delivery.schemas import DeliveryCreate, DeliveryOut, Progress, RecipientOut
from enishi.friends.models import Friend
from enishi.kit.errors import ApiError, not_found
from enishi.messages.validation import Problem, Problems
from enishi.sending.models import TERMINAL, OutboundRequest

RECIPIENT_STATUSES = (QUEUED, SENT, "failed", CANCELLED, "held_out", "skipped")


def _keeps_list(delivery: Delivery | None, raw: Any) -> bool:
    """An edit of a list draft that gives no new IDs keeps the list uploaded so far."""
    return (
        delivery is not None
        and delivery.audience.get("type") == "list"
        and isinstance(raw, dict)
        and raw.get("type") == "list"
        and not (raw.get("line_user_ids") or raw.get("member_ids"))
    )


def check_draft(
    session: Session, account_id: int, body: DeliveryCreate, delivery: Delivery | None = None
) -> tuple[list[dict[str, Any]], dict[str, Any], Problems]:
    """A draft's arms and audience as they would be stored, and every problem with its
    arms, audience and timing (messages are checked by validate and schedule). `delivery`:
    the draft being edited, if any."""
    if (body.arms is None) == (body.messages is None):
        return (
            [],
            {},
            [Problem("arms", "give either messages (one arm) or arms", "arms_or_messages")],
        )
    raw_arms = (
        [a.model_dump() for a in body.arms]
        if body.arms is not None
        else [{"name": "A", "share": 1.0, "messages": body.messages}]
    )
    arms, problems = normalize_arms(raw_arms)
    if _keeps_list(delivery, body.audience):
        audience, audience_problems = delivery.audience, []
    else:
        audience, audience_problems = check_audience(session, account_id, body.audience)
    problems += audience_problems + check_timing(body.send_at, body.spread_until, utcnow())
    return arms, audience, problems


def _checked(
    session: Session, account_id: int, body: DeliveryCreate, delivery: Delivery | None = None
) -> tuple[list, dict]:
    arms, audience, problems = check_draft(session, account_id, body, delivery)
    if problems:
        raise problems_error(problems)
    return arms, audience


def create_delivery(
    session: Session, account_id: int, body: DeliveryCreate, *, actor: Actor
) -> Delivery:
    """A draft. Arms, audience and timing are checked now; messages are checked in full
    (with LINE) by validate and schedule."""
    arms, audience = _checked(session, account_id, body)
    delivery = Delivery(
        account_id=account_id,
        name=body.name,
        status=DRAFT,
        audience=audience,
        arms=arms,
        holdout_share=body.holdout_share,
        seed=body.seed if body.seed is not None else secrets.randbelow(2**62),
        send_at=body.send_at,
        spread_until=body.spread_until,
        quota_mode=body.quota_mode,
        track_links=body.track_links,
        notification_disabled=body.notification_disabled,
        planned_sends=0,
        request_seq=0,
        held_out_count=0,
        skipped_count=0,
    )
    session.add(delivery)
    session.flush()
    if audience["type"] == "list":
        id_type = audience["id_type"]
        add_list(session, delivery, id_type, body.audience.get(f"{id_type}s") or [])
    _audit_draft(session, actor, "delivery.created", delivery)
    return delivery


def _audit_draft(session: Session, actor: Actor, action: str, delivery: Delivery) -> None:
    record(
        session,
        actor=actor,
        action=action,
        account_id=delivery.account_id,
        target=f"delivery:{delivery.id}",
        details={"name": delivery.name, "audience": delivery.audience.get("type")},
    )


def update_draft(
    session: Session, delivery: Delivery, body: DeliveryCreate, *, actor: Actor
) -> Delivery:
    """Replace a draft's content (the dashboard's edit). A list audience given without IDs
    keeps the list uploaded so far; given with IDs, it replaces it."""
    if delivery.status != DRAFT:
        raise ApiError(409, "not_draft", "only a draft can be edited", "status")
    keeps_list = _keeps_list(delivery, body.audience)
    arms, audience = _checked(session, delivery.account_id, body, delivery)
    if not keeps_list and delivery.audience.get("type") == "list":
        session.execute(
            delete(DeliveryListMember).where(DeliveryListMember.delivery_id == delivery.id)
        )
    delivery.name = body.name
    delivery.audience = audience
    delivery.arms = arms
    delivery.holdout_share = body.holdout_share
    if body.seed is not None:
        delivery.seed = body.seed
    delivery.send_at = body.send_at
    delivery.spread_until = body.spread_until
    delivery.quota_mode = body.quota_mode
    delivery.track_links = body.track_links
    delivery.notification_disabled = body.notification_disabled
    if audience["type"] == "list" and not keeps_list:
        id_type = audience["id_type"]
        add_list(session, delivery, id_type, body.audience.get(f"{id_type}s") or [])
    _audit_draft(session, actor, "delivery.updated", delivery)
    return delivery


def get_delivery(
    session: Session, account_id: int, delivery_id: int, *, lock: bool = False
) -> Delivery:
    query = select(Delivery).where(Delivery.id == delivery_id, Delivery.account_id == account_id)
    if lock:
        query = query.with_for_update()
    delivery = session.scalar(query)
    if delivery is None:
        raise not_found("delivery")
    return delivery


def upload_list(session: Session, delivery: Delivery, id_type: str, ids: list[Any]) -> dict:
    if delivery.status != DRAFT or delivery.audience.get("type") != "list":
        raise ApiError(
            409,
            "not_list_draft",
            "IDs can be added to a draft whose audience is a list",
            "audience",
        )
    if delivery.audience.get("id_type") not in (None, id_type):
        raise ApiError(
            422, "invalid", f"this list holds {delivery.audience['id_type']}s", "id_type"
        )
    return add_list(session, delivery, id_type, ids)


def delete_delivery(session: Session, delivery: Delivery, *, actor: Actor) -> None:
    """Delete a draft or a cancelled delivery that never sent, with its rows."""
    if delivery.status not in (DRAFT, CANCELLED) or delivery.started_at is not None:
        raise ApiError(
            409,
            "not_deletable",
            "only drafts, and cancelled deliveries that never started, can be deleted",
            "status",
        )
    for model in (DeliveryRecipient, DeliveryListMember):
        session.execute(delete(model).where(model.delivery_id == delivery.id))
    session.execute(delete(OutboundRequest).where(requests_of(delivery.id)))
    record(
        session,
        actor=actor,
        action="delivery.deleted",
        account_id=delivery.account_id,
        target=f"delivery:{delivery.id}",
        details={"name": delivery.name},
    )
    session.delete(delivery)


def delivery_out(
    session: Session, delivery: Delivery, *, with_progress: bool = True
) -> DeliveryOut:
    out = DeliveryOut.model_validate(delivery, from_attributes=True)
    if with_progress:
        found = counts(session, delivery)
        out.progress = Progress(**found["recipients"])
        out.requests = found["requests"]
    return out


def list_deliveries(
    session: Session, account_id: int, *, status: str | None, after_id: int | None, limit: int
) -> list[Delivery]:
    query = select(Delivery).where(Delivery.account_id == account_id)
    if status:
        query = query.where(Delivery.status == status)
    if after_id is not None:
        query = query.where(Delivery.id < after_id)
    return list(session.scalars(query.order_by(Delivery.id.desc()).limit(limit)))


def recipients(
    session: Session, delivery: Delivery, *, status: str | None, after_id: int | None, limit: int
) -> list[tuple[int, RecipientOut]]:
    """(friend id, recipient) in friend order; a queued recipient shows its request's
    outcome."""
    p, r = DeliveryRecipient.__table__, OutboundRequest.__table__
    queued = p.c.status == QUEUED
    # a queued recipient's outcome is its request's, once that is final
    effective = case((and_(queued, r.c.status.in_(TERMINAL)), r.c.status), else_=p.c.status)
    if status is not None and status not in RECIPIENT_STATUSES:
        raise ApiError(
            422, "invalid", f"status must be one of {', '.join(RECIPIENT_STATUSES)}", "status"
        )
    query = (
        select(
            p.c.friend_id,
            Friend.line_user_id,
            p.c.arm,
            effective.label("status"),
            case((queued, r.c.sent_at), else_=p.c.sent_at).label("sent_at"),
            case((queued, r.c.line_request_id), else_=p.c.line_request_id).label("line_request_id"),
            case((queued, r.c.error), else_=p.c.error).label("error"),
        )
        .select_from(
            p.outerjoin(r, r.c.id == p.c.request_id).outerjoin(Friend, Friend.id == p.c.friend_id)
        )
        .where(p.c.delivery_id == delivery.id)
    )
    if status is not None:
        query = query.where(effective == status)
    if after_id is not None:
        query = query.where(p.c.friend_id > after_id)
    rows = session.execute(query.order_by(p.c.friend_id).limit(limit)).all()
    return [
        (
            row.friend_id,
            RecipientOut(
                friend_id=row.friend_id,
                line_user_id=row.line_user_id,
                arm=row.arm,
                status=row.status,
                sent_at=row.sent_at,
                line_request_id=row.line_request_id,
                error=row.error,
            ),
        )
        for row in rows
    ]
