"""/api/v1/deliveries and /api/v1/quota."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Response
from sqlalchemy.orm import Session

from enishi.accounts.auth import current_account, current_actor
from enishi.accounts.models import Account
from enishi.audit.actor import Actor
from enishi.delivery import analysis, quota, scheduler, service
from enishi.delivery.schemas import (
    DeliveryCreate,
    DeliveryOut,
    DeliveryPage,
    DeliveryReport,
    GroupComparison,
    ListUpload,
    ListUploadOut,
    Problem,
    QuotaOut,
    RecipientPage,
    ScheduleIn,
    ValidationOut,
)
from enishi.deps import AppState, app_state, db_session
from enishi.kit.errors import ApiError
from enishi.kit.pagination import check_limit, decode_cursor, encode_cursor

router = APIRouter(tags=["deliveries"])


def _cursor(cursor: str | None) -> int | None:
    value = decode_cursor(cursor)
    if value is not None and not isinstance(value, int):
        raise ApiError(400, "invalid_cursor", "the cursor is not valid", "cursor")
    return value


@router.post("/deliveries", response_model=DeliveryOut, status_code=201)
def create(
    body: DeliveryCreate,
    account: Account = Depends(current_account),
    actor: Actor = Depends(current_actor),
    session: Session = Depends(db_session, scope="function"),
) -> DeliveryOut:
    """Create a draft delivery (配信の下書き)."""
    delivery = service.create_delivery(session, account.id, body, actor=actor)
    return service.delivery_out(session, delivery, with_progress=False)


@router.get("/deliveries", response_model=DeliveryPage)
def list_(
    status: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
    account: Account = Depends(current_account),
    session: Session = Depends(db_session, scope="function"),
) -> DeliveryPage:
    rows = service.list_deliveries(
        session, account.id, status=status, after_id=_cursor(cursor), limit=check_limit(limit)
    )
    items = [service.delivery_out(session, d, with_progress=False) for d in rows]
    next_cursor = encode_cursor(rows[-1].id) if len(rows) == limit else None
    return DeliveryPage(items=items, next_cursor=next_cursor)


@router.get("/deliveries/compare", response_model=GroupComparison)
def compare(
    a: int = Query(..., description="Delivery id of group a"),
    b: int = Query(..., description="Delivery id of group b (may equal a, with arms)"),
    a_arm: str | None = Query(None, description="An arm of a; every arm when omitted"),
    b_arm: str | None = Query(None, description="An arm of b; every arm when omitted"),
    account: Account = Depends(current_account),
    session: Session = Depends(db_session, scope="function"),
) -> GroupComparison:
    """Two groups side by side (配信・アームの比較): CTR, CVR and revenue per sent recipient
    (click-attributed), the difference a − b with its 95% interval and significance."""
    return analysis.compare(session, account, a, b, a_arm, b_arm)


@router.get("/deliveries/{delivery_id}", response_model=DeliveryOut)
def get(
    delivery_id: int,
    account: Account = Depends(current_account),
    session: Session = Depends(db_session, scope="function"),
) -> DeliveryOut:
    """A delivery with its progress: recipients by outcome, requests by status."""
    return service.delivery_out(session, service.get_delivery(session, account.id, delivery_id))


@router.delete("/deliveries/{delivery_id}", status_code=204)
def delete(
    delivery_id: int,
    account: Account = Depends(current_account),
    actor: Actor = Depends(current_actor),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    delivery = service.get_delivery(session, account.id, delivery_id)
    service.delete_delivery(session, delivery, actor=actor)
    return Response(status_code=204)


@router.post("/deliveries/{delivery_id}/list", response_model=ListUploadOut)
def add_to_list(
    delivery_id: int,
    body: ListUpload,
    account: Account = Depends(current_account),
    session: Session = Depends(db_session, scope="function"),
) -> ListUploadOut:
    """Add LINE user IDs or member IDs to a draft's uploaded list (in several calls if big)."""
    if (body.line_user_ids is None) == (body.member_ids is None):
        raise ApiError(422, "invalid", "give line_user_ids or member_ids", "line_user_ids")
    id_type = "line_user_id" if body.line_user_ids is not None else "member_id"
    ids = body.line_user_ids if body.line_user_ids is not None else body.member_ids
    delivery = service.get_delivery(session, account.id, delivery_id, lock=True)
    return ListUploadOut(**service.upload_list(session, delivery, id_type, ids or []))


@router.post("/deliveries/{delivery_id}/validate", response_model=ValidationOut)
def validate(
    delivery_id: int,
    account: Account = Depends(current_account),
    session: Session = Depends(db_session, scope="function"),
    state: AppState = Depends(app_state),
) -> ValidationOut:
    """Every problem with the messages (enishi's checks, then LINE's validate endpoint),
    the audience size now and the month's quota."""
    delivery = service.get_delivery(session, account.id, delivery_id)
    problems, count, usage = scheduler.validate(
        session, line=state.line_for(account), delivery=delivery, account=account
    )
    return ValidationOut(
        valid=not problems,
        audience_count=count,
        errors=[Problem(field=p.path, message=p.message) for p in problems],
        quota=QuotaOut(**usage.as_dict()),
    )


@router.post("/deliveries/{delivery_id}/schedule", response_model=DeliveryOut)
def schedule(
    delivery_id: int,
    body: ScheduleIn | None = None,
    account: Account = Depends(current_account),
    actor: Actor = Depends(current_actor),
    session: Session = Depends(db_session, scope="function"),
    state: AppState = Depends(app_state),
) -> DeliveryOut:
    """Validate and schedule: now, at `send_at`, or spread until `spread_until`."""
    delivery = service.get_delivery(session, account.id, delivery_id, lock=True)
    body = body or ScheduleIn()
    scheduler.schedule(
        session,
        line=state.line_for(account),
        delivery=delivery,
        account=account,
        send_at=body.send_at or delivery.send_at,
        spread_until=body.spread_until or delivery.spread_until,
        actor=actor,
    )
    return service.delivery_out(session, delivery, with_progress=False)


def _control(verb: str, change):
    """POST /deliveries/{id}/<verb>: the scheduler's `change` on the locked delivery."""

    def control(
        delivery_id: int,
        account: Account = Depends(current_account),
        actor: Actor = Depends(current_actor),
        session: Session = Depends(db_session, scope="function"),
    ) -> DeliveryOut:
        delivery = service.get_delivery(session, account.id, delivery_id, lock=True)
        change(session, delivery, actor=actor)
        return service.delivery_out(session, delivery)

    control.__name__ = verb  # the OpenAPI operation's name, as a def of that name gives
    return control


for _verb, _change in (
    ("pause", scheduler.pause),
    ("resume", scheduler.resume),
    ("cancel", scheduler.cancel),
):
    router.add_api_route(
        f"/deliveries/{{delivery_id}}/{_verb}",
        _control(_verb, _change),
        methods=["POST"],
        response_model=DeliveryOut,
    )


@router.get("/deliveries/{delivery_id}/recipients", response_model=RecipientPage)
def recipients(
    delivery_id: int,
    status: str | None = None,
    cursor: str | None = None,
    limit: int = Query(100),
    account: Account = Depends(current_account),
    session: Session = Depends(db_session, scope="function"),
) -> RecipientPage:
    """Each friend of the delivery: arm (or holdout), outcome, sent time, LINE request id."""
    delivery = service.get_delivery(session, account.id, delivery_id)
    rows = service.recipients(
        session, delivery, status=status, after_id=_cursor(cursor), limit=check_limit(limit)
    )
    next_cursor = encode_cursor(rows[-1][0]) if len(rows) == limit else None
    return RecipientPage(items=[r for _, r in rows], next_cursor=next_cursor)


@router.get("/deliveries/{delivery_id}/report", response_model=DeliveryReport)
def report(
    delivery_id: int,
    account: Account = Depends(current_account),
    session: Session = Depends(db_session, scope="function"),
) -> DeliveryReport:
    """What the delivery did (配信レポート): per arm and in total — sent, failed by reason,
    clicks, click-attributed conversions, revenue, cost, ROAS, blocks within 48 h — and the
    holdout comparison: incremental conversions and revenue with 95% intervals."""
    delivery = service.get_delivery(session, account.id, delivery_id)
    return analysis.delivery_report(session, account, delivery)


@router.get("/quota", response_model=QuotaOut, tags=["quota"])
def get_quota(
    account: Account = Depends(current_account),
    session: Session = Depends(db_session, scope="function"),
    state: AppState = Depends(app_state),
) -> QuotaOut:
    """This month's message quota: LINE's figures, the account's plan, what enishi sent,
    what running deliveries still hold, what remains (今月の配信数)."""
    usage = quota.usage(session, account, state.line_for(account))
    return QuotaOut(**usage.as_dict())
