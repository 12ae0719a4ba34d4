"""配信の作成 Compose: a new delivery or a draft, saved, checked with LINE, or scheduled from
the form; its problems shown beside the fields they concern. The form ↔ delivery body is
deliveries_form.py's."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from enishi.delivery import scheduler, service
from enishi.delivery.compose import check_arms
from enishi.delivery.models import DRAFT, Delivery
from enishi.delivery.schemas import DeliveryCreate
from enishi.deps import AppState, app_state, db_session
from enishi.friends.models import AttributeDef
from enishi.kit.errors import ApiError
from enishi.messages.personalize import SAMPLE
from enishi.messages.validation import MESSAGES_MAX, Problem
from enishi.operators.roles import Role
from enishi.segments.models import Segment
from enishi.web.context import AccountPage, account_page
from enishi.web.errors import PageError
from enishi.web.i18n import N_
from enishi.web.pages.deliveries_common import (
    BASE,
    QUOTA_LABELS,
    TRACK_LABELS,
    account_zone,
    find_delivery,
    label_context,
)
from enishi.web.pages.deliveries_form import (
    ARMS_IN_FORM,
    ComposeForm,
    add_problems,
    blank_values,
    read_form,
    values_from_delivery,
)
from enishi.web.pages.deliveries_preview import preview_config
from enishi.web.render import redirect_to, render

router = APIRouter()

CHOICES_MAX = 200  # segments and attributes offered in the form
LIST_FILE_MAX = 20 * 1024 * 1024
MESSAGE_TYPES = [
    ("text", N_("テキスト")),
    ("image", N_("画像")),
    ("sticker", N_("スタンプ（JSON）")),
    ("template", N_("テンプレート: ボタン・確認・カルーセル（JSON）")),
    ("flex", N_("Flex Message（JSON）")),
    ("imagemap", N_("イメージマップ（JSON）")),
    ("other", N_("その他のメッセージ（JSON）")),
]
AUDIENCE_TYPES = [
    ("all", N_("友だち全員")),
    ("segment", N_("セグメント")),
    ("list", N_("IDリストをアップロード")),
    ("friend", N_("テスト送信（1人）")),
]
TIMINGS = [
    ("now", N_("今すぐ")),
    ("at", N_("日時を指定")),
    ("spread", N_("時間帯に分散")),
]


def compose_page(
    request: Request,
    page: AccountPage,
    session: Session,
    form: ComposeForm,
    delivery: Delivery | None,
    *,
    status: int = 200,
    check: dict[str, Any] | None = None,
) -> HTMLResponse:
    segments = session.execute(
        select(Segment.id, Segment.name)
        .where(Segment.account_id == page.account.id)
        .order_by(Segment.name)
        .limit(CHOICES_MAX)
    ).all()
    attributes = session.execute(
        select(AttributeDef.key, AttributeDef.label)
        .where(AttributeDef.account_id == page.account.id)
        .order_by(AttributeDef.key)
        .limit(CHOICES_MAX)
    ).all()
    return render(
        request,
        "deliveries/compose.html",
        page,
        {
            **label_context(page),
            "form": form,
            "values": form.values,
            "errors": form.errors,
            "delivery": delivery,
            "segments": segments,
            "attributes": attributes,
            "sample": SAMPLE,
            "check": check,
            "message_types": MESSAGE_TYPES,
            "audience_types": AUDIENCE_TYPES,
            "timings": TIMINGS,
            "track_options": list(TRACK_LABELS.items()),
            "quota_options": list(QUOTA_LABELS.items()),
            "arms_in_form": ARMS_IN_FORM,
            "messages_max": MESSAGES_MAX,
            "preview_config": preview_config(page, None),
        },
        status=status,
    )


def draft_form(session: Session, page: AccountPage, delivery: Delivery) -> ComposeForm:
    """The draft's form with enishi's own message checks (no LINE call) shown."""
    form = ComposeForm(values_from_delivery(delivery, account_zone(page)))
    form.slots = {
        i: list(range(len(arm.get("messages") or []))) for i, arm in enumerate(delivery.arms)
    }
    add_problems(form, check_arms(session, page.account.id, delivery.arms, delivery.track_links))
    return form


@router.get(BASE + "/new")
def new_delivery_page(
    request: Request,
    segment_id: int | None = None,
    page: AccountPage = Depends(account_page(Role.MARKETER)),
    session: Session = Depends(db_session, scope="function"),
) -> HTMLResponse:
    """A blank draft; `?segment_id=` (from the segments and click-analysis pages) starts it
    addressed to that segment."""
    values = blank_values()
    if segment_id is not None:
        values.update(audience_type="segment", segment_id=str(segment_id))
    return compose_page(request, page, session, ComposeForm(values), None)


@router.get(BASE + "/{delivery_id}/edit")
def edit_delivery_page(
    request: Request,
    delivery_id: int,
    page: AccountPage = Depends(account_page(Role.MARKETER)),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    delivery = find_delivery(session, page, delivery_id)
    if delivery.status != DRAFT:
        return redirect_to(request, f"/accounts/{page.account.id}/deliveries/{delivery.id}")
    return compose_page(request, page, session, draft_form(session, page, delivery), delivery)


async def _read(request: Request, page: AccountPage) -> tuple[ComposeForm, dict[str, Any], str]:
    raw = await request.form()
    upload = raw.get("list_file")
    file_ids: list[str] = []
    if isinstance(upload, UploadFile) and upload.filename:
        content = (await upload.read(LIST_FILE_MAX + 1))[:LIST_FILE_MAX]
        text = content.decode("utf-8-sig", errors="replace")
        file_ids = [line.split(",")[0].strip().strip('"') for line in text.splitlines()]
        file_ids = [i for i in file_ids if i and i.lower() not in ("line_user_id", "member_id")]
    fields = {k: v for k, v in raw.items() if isinstance(v, str)}
    form, body = read_form(fields, account_zone(page), file_ids)
    return form, body, str(raw.get("intent", "save"))


def _save(
    session: Session,
    page: AccountPage,
    form: ComposeForm,
    body: dict[str, Any],
    delivery: Delivery | None,
) -> Delivery | None:
    """Create or update the draft; None (with the errors in `form`) when it is invalid."""
    if form.errors:
        return None
    try:
        draft = DeliveryCreate(**body)
    except ValidationError as error:
        add_problems(
            form,
            [
                Problem(".".join(str(p) for p in e["loc"]) or "form", e["msg"], e["type"])
                for e in error.errors()
            ],
        )
        return None
    *_, problems = service.check_draft(session, page.account.id, draft, delivery)
    if problems:
        add_problems(form, problems)
        return None
    savepoint = session.begin_nested()  # a refused upload leaves the draft as it was
    try:
        if delivery is None:
            delivery = service.create_delivery(session, page.account.id, draft, actor=page.actor)
        else:
            delivery = service.update_draft(session, delivery, draft, actor=page.actor)
        savepoint.commit()
    except ApiError as error:  # e.g. an uploaded ID that is not a LINE user ID
        savepoint.rollback()
        add_problems(form, [Problem.of(error)])
        return None
    return delivery


def _save_and_go(
    request: Request,
    page: AccountPage,
    session: Session,
    state: AppState,
    form: ComposeForm,
    body: dict[str, Any],
    delivery: Delivery | None,
    intent: str,
) -> Response:
    """Save the draft, then validate it (with LINE), schedule it, or go back to it. Runs in
    the threadpool: validating and scheduling call LINE, after the saved draft is committed
    (a slow LINE answer must not hold the write lock)."""
    saved = _save(session, page, form, body, delivery)
    if saved is None:
        return compose_page(request, page, session, form, delivery, status=422)
    delivery = saved
    session.commit()
    base = f"/accounts/{page.account.id}/deliveries/{delivery.id}"
    if intent == "validate":
        problems, count, usage = scheduler.validate(
            session, line=state.line_for(page.account), delivery=delivery, account=page.account
        )
        add_problems(form, problems)
        check = {"valid": not problems, "audience_count": count, "quota": usage.as_dict()}
        return compose_page(
            request, page, session, form, delivery, status=200 if not problems else 422, check=check
        )
    if intent == "schedule":
        return schedule_draft(request, page, session, state, delivery, form)
    return redirect_to(request, base + "/edit", notice="saved")


def schedule_draft(
    request: Request,
    page: AccountPage,
    session: Session,
    state: AppState,
    delivery: Delivery,
    form: ComposeForm,
) -> Response:
    line = state.line_for(page.account)
    try:
        scheduler.schedule(
            session,
            line=line,
            delivery=delivery,
            account=page.account,
            send_at=delivery.send_at,
            spread_until=delivery.spread_until,
            actor=page.actor,
        )
    except ApiError as error:
        if error.code == "invalid":  # every problem, not just the first
            problems, *_ = scheduler.validate(
                session, line=line, delivery=delivery, account=page.account
            )
            add_problems(form, problems or [Problem.of(error)])
        else:
            add_problems(form, [Problem.of(error)])
        return compose_page(request, page, session, form, delivery, status=422)
    return redirect_to(
        request, f"/accounts/{page.account.id}/deliveries/{delivery.id}", notice="saved"
    )


@router.post(BASE)
async def create_delivery(
    request: Request,
    page: AccountPage = Depends(account_page(Role.MARKETER)),
    session: Session = Depends(db_session, scope="function"),
    state: AppState = Depends(app_state),
) -> Response:
    form, body, intent = await _read(request, page)
    return await run_in_threadpool(
        _save_and_go, request, page, session, state, form, body, None, intent
    )


@router.post(BASE + "/{delivery_id}")
async def update_delivery(
    request: Request,
    delivery_id: int,
    page: AccountPage = Depends(account_page(Role.MARKETER)),
    session: Session = Depends(db_session, scope="function"),
    state: AppState = Depends(app_state),
) -> Response:
    delivery = find_delivery(session, page, delivery_id, lock=True)
    if delivery.status != DRAFT:
        raise PageError(409, N_("下書きではない配信は編集できません。"))
    form, body, intent = await _read(request, page)
    return await run_in_threadpool(
        _save_and_go, request, page, session, state, form, body, delivery, intent
    )
