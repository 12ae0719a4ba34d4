"""The account's webhook inbox over REST, for debugging: what LINE sent and what became
of it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from enishi.accounts.auth import current_account
from enishi.accounts.models import Account
from enishi.deps import db_session
from enishi.kit.errors import ApiError
from enishi.kit.pagination import Page, check_limit, decode_cursor, encode_cursor
from enishi.webhook.handlers import event_time
from enishi.webhook.models import DONE, FAILED, PENDING, SKIPPED, WebhookEvent

router = APIRouter(tags=["webhook events"])
STATUSES = (PENDING, DONE, SKIPPED, FAILED)


class WebhookEventOut(BaseModel):
    id: int
    webhook_event_id: str
    type: str
    line_user_id: str | None
    event_at: datetime
    is_redelivery: bool
    status: str
    attempts: int
    error: str | None
    received_at: datetime
    processed_at: datetime | None
    retry_at: datetime | None
    payload: dict[str, Any]


class WebhookStats(BaseModel):
    total: int
    by_status: dict[str, int]
    by_type: dict[str, dict[str, int]]  # type -> status -> count
    oldest_pending_at: datetime | None


def _out(event: WebhookEvent) -> WebhookEventOut:
    return WebhookEventOut(
        id=event.id,
        webhook_event_id=event.webhook_event_id,
        type=event.type,
        line_user_id=event.line_user_id,
        event_at=event_time(event.event_ts),
        is_redelivery=event.is_redelivery,
        status=event.status,
        attempts=event.attempts,
        error=event.error,
        received_at=event.received_at,
        processed_at=event.processed_at,
        retry_at=event.retry_at,
        payload=event.payload,
    )


@router.get("/webhook-events", response_model=Page[WebhookEventOut])
def list_webhook_events(
    status: str | None = Query(None, description="pending | done | skipped | failed"),
    type: str | None = Query(None, description="LINE event type, e.g. follow, message"),
    cursor: str | None = None,
    limit: int = 50,
    account: Account = Depends(current_account),
    session: Session = Depends(db_session, scope="function"),
) -> Page[WebhookEventOut]:
    """The account's webhook events, newest first / Webhookイベント一覧（新しい順）."""
    check_limit(limit)
    if status is not None and status not in STATUSES:
        raise ApiError(400, "invalid", f"status must be one of {list(STATUSES)}", "status")
    query = select(WebhookEvent).where(WebhookEvent.account_id == account.id)
    if status is not None:
        query = query.where(WebhookEvent.status == status)
    if type is not None:
        query = query.where(WebhookEvent.type == type)
    after = decode_cursor(cursor)
    if after is not None:
        if not isinstance(after, int) or isinstance(after, bool):
            raise ApiError(400, "invalid_cursor", "the cursor is not valid", "cursor")
        query = query.where(WebhookEvent.id < after)
    events = list(session.scalars(query.order_by(WebhookEvent.id.desc()).limit(limit + 1)))
    more = len(events) > limit
    events = events[:limit]
    return Page[WebhookEventOut](
        items=[_out(e) for e in events],
        next_cursor=encode_cursor(events[-1].id) if more else None,
    )


@router.get("/webhook-events/stats", response_model=WebhookStats)
def webhook_event_stats(
    account: Account = Depends(current_account),
    session: Session = Depends(db_session, scope="function"),
) -> WebhookStats:
    """Counts by status and type / ステータス別・種類別の件数."""
    rows = session.execute(
        select(WebhookEvent.type, WebhookEvent.status, func.count())
        .where(WebhookEvent.account_id == account.id)
        .group_by(WebhookEvent.type, WebhookEvent.status)
    ).all()
    by_status = dict.fromkeys(STATUSES, 0)
    by_type: dict[str, dict[str, int]] = {}
    for event_type, status, count in rows:
        by_status[status] = by_status.get(status, 0) + count
        by_type.setdefault(event_type, {})[status] = count
    oldest = session.scalar(
        select(func.min(WebhookEvent.event_ts)).where(
            WebhookEvent.account_id == account.id, WebhookEvent.status == PENDING
        )
    )
    return WebhookStats(
        total=sum(by_status.values()),
        by_status=by_status,
        by_type=by_type,
        oldest_pending_at=event_time(oldest) if oldest is not None else None,
    )
