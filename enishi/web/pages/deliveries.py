"""配信 Deliveries: the list, compose (a new delivery or a draft) with a LINE-like preview,
the detail page with live progress, pause / resume / cancel, and the report.

Creating, editing, scheduling and controlling go through enishi.delivery's service and
scheduler (the same rules as the REST API); every change is audited."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from enishi.delivery import analysis, scheduler, service
from enishi.delivery.compose import SAMPLE, check_arms
from enishi.delivery.models import DRAFT, PAUSED, SCHEDULED, SENDING, Delivery
from enishi.delivery.progress import counts
from enishi.delivery.schemas import DeliveryCreate
from enishi.delivery.validation import MESSAGES_MAX
from enishi.deps import AppState, app_state, db_session
from enishi.friends.models import AttributeDef
from enishi.kit.errors import ApiError
from enishi.operators.roles import Role
from enishi.segments.models import Segment
from enishi.web.context import AccountPage, account_page
from enishi.web.errors import PageError
from enishi.web.i18n import N_
from enishi.web.pages.deliveries_form import (
    ARMS_IN_FORM,
    ComposeForm,
    add_problems,
    blank_values,
    read_form,
    values_from_delivery,
)
from enishi.web.pages.deliveries_report import holdout_figure, outcome_figure, rates_figure
from enishi.web.render import redirect_to, render

router = APIRouter()

BASE = "/accounts/{account_id}/deliveries"
PAGE_SIZE = 20
CHOICES_MAX = 200  # segments and attributes offered in the form
LIST_FILE_MAX = 20 * 1024 * 1024
RUNNING = (SCHEDULED, SENDING, PAUSED)
STATUS_LABELS = {
    "draft": N_("下書き"),
    "scheduled": N_("予約済み"),
    "sending": N_("配信中"),
    "paused": N_("一時停止中"),
    "done": N_("完了"),
    "cancelled": N_("キャンセル"),
    "failed": N_("失敗"),
}
STATUSES = tuple(STATUS_LABELS)
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
TRACK_LABELS = {
    "friend": N_("計測する（友だちごと・プッシュ配信）"),
    "delivery": N_("計測する（配信ごと・一斉配信）"),
    "off": N_("計測しない"),
}
QUOTA_LABELS = {
    "refuse": N_("配信しない"),
    "partial": N_("上限まで無作為に選んで送る"),
}
# the preview script's words (static/deliveries.js), translated per page
PREVIEW_TEXT = {
    "image": N_("画像"),
    "sticker": N_("スタンプ"),
    "video": N_("動画"),
    "audio": N_("音声"),
    "location": N_("位置情報"),
    "imagemap": N_("イメージマップ"),
    "unknown": N_("プレビューできないメッセージ"),
    "invalid": N_("JSONが正しくありません"),
    "empty": N_("メッセージを入力するとここに表示されます"),
    "arm": N_("パターン"),
    "now": N_("今"),
}
# what "サンプルを入れる" puts into a JSON editor
JSON_SAMPLES = {
    "sticker": {"type": "sticker", "packageId": "446", "stickerId": "1988"},
    "template": {
        "type": "template",
        "altText": "秋のセールのお知らせ",
        "template": {
            "type": "buttons",
            "title": "秋のセール",
            "text": "{{display_name|お客様}}さん、全品20%オフです",
            "actions": [
                {"type": "uri", "label": "セール会場へ", "uri": "https://shop.example/sale"},
                {"type": "message", "label": "あとで見る", "text": "あとで見る"},
            ],
        },
    },
    "flex": {
        "type": "flex",
        "altText": "新商品のご案内",
        "contents": {
            "type": "bubble",
            "body": {
                "type": "box",
                "layout": "vertical",
                "contents": [
                    {"type": "text", "text": "新商品のご案内", "weight": "bold", "size": "xl"},
                    {
                        "type": "text",
                        "text": "{{display_name|お客様}}さんへのおすすめです",
                        "wrap": True,
                        "color": "#666666",
                        "size": "sm",
                    },
                ],
            },
            "footer": {
                "type": "box",
                "layout": "vertical",
                "contents": [
                    {
                        "type": "button",
                        "style": "primary",
                        "action": {
                            "type": "uri",
                            "label": "詳しく見る",
                            "uri": "https://shop.example/new",
                        },
                    },
                ],
            },
        },
    },
    "imagemap": {
        "type": "imagemap",
        "baseUrl": "https://shop.example/imagemap",
        "altText": "キャンペーン",
        "baseSize": {"width": 1040, "height": 1040},
        "actions": [
            {
                "type": "uri",
                "linkUri": "https://shop.example/a",
                "area": {"x": 0, "y": 0, "width": 520, "height": 1040},
            },
            {
                "type": "uri",
                "linkUri": "https://shop.example/b",
                "area": {"x": 520, "y": 0, "width": 520, "height": 1040},
            },
        ],
    },
    "other": {
        "type": "location",
        "title": "本店",
        "address": "東京都渋谷区",
        "latitude": 35.658,
        "longitude": 139.7016,
    },
}


def _tz(page: AccountPage) -> ZoneInfo:
    try:
        return ZoneInfo(page.account.timezone)
    except (KeyError, ValueError):
        return ZoneInfo("Asia/Tokyo")


def _delivery(session: Session, page: AccountPage, delivery_id: int, *, lock: bool = False):
    try:
        return service.get_delivery(session, page.account.id, delivery_id, lock=lock)
    except ApiError:
        raise PageError(404, N_("ページが見つかりません。")) from None


def _common(page: AccountPage) -> dict[str, Any]:
    return {
        "status_labels": STATUS_LABELS,
        "track_labels": TRACK_LABELS,
        "quota_labels": QUOTA_LABELS,
        "tz": _tz(page),
    }


def _preview_config(page: AccountPage, arms: list[dict[str, Any]] | None) -> dict[str, Any]:
    """What static/deliveries.js needs: the account's name, sample values, its words, and
    (on the detail page) the delivery's arms."""
    return {
        "accountName": page.account.name,
        "sample": SAMPLE,
        "text": {key: page.t(text) for key, text in PREVIEW_TEXT.items()},
        "samples": JSON_SAMPLES,
        "arms": arms,
    }


# --- list ------------------------------------------------------------------------------------
@router.get(BASE)
def deliveries_page(
    request: Request,
    before: int | None = None,
    status: str = "",
    page: AccountPage = Depends(account_page(Role.VIEWER)),
    session: Session = Depends(db_session, scope="function"),
) -> HTMLResponse:
    rows = service.list_deliveries(
        session,
        page.account.id,
        status=status if status in STATUSES else None,
        after_id=before,
        limit=PAGE_SIZE,
    )
    items = [(d, counts(session, d)["recipients"] if d.started_at else None) for d in rows]
    older = rows[-1].id if len(rows) == PAGE_SIZE else None
    return render(
        request,
        "deliveries/list.html",
        page,
        {
            **_common(page),
            "items": items,
            "older": older,
            "status": status,
            "statuses": STATUSES,
        },
    )


# --- compose ---------------------------------------------------------------------------------
def _compose(
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
            **_common(page),
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
            "preview_config": _preview_config(page, None),
        },
        status=status,
    )


def _message_problems(session: Session, page: AccountPage, delivery: Delivery) -> ComposeForm:
    """The draft's form with enishi's own message checks (no LINE call) shown."""
    form = ComposeForm(values_from_delivery(delivery, _tz(page)))
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
    return _compose(request, page, session, ComposeForm(values), None)


@router.get(BASE + "/{delivery_id}/edit")
def edit_delivery_page(
    request: Request,
    delivery_id: int,
    page: AccountPage = Depends(account_page(Role.MARKETER)),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    delivery = _delivery(session, page, delivery_id)
    if delivery.status != DRAFT:
        return redirect_to(request, f"/accounts/{page.account.id}/deliveries/{delivery.id}")
    return _compose(request, page, session, _message_problems(session, page, delivery), delivery)


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
    form, body = read_form(fields, _tz(page), file_ids)
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
            form, [(".".join(str(p) for p in e["loc"]) or "form", e["msg"]) for e in error.errors()]
        )
        return None
    *_, problems = service.check_draft(session, page.account.id, draft, delivery)
    if problems:
        add_problems(form, problems)
        return None
    savepoint = session.begin_nested()  # a refused upload leaves the draft as it was
    try:
        if delivery is None:
            delivery = service.create_delivery(session, page.account.id, draft)
            action = "delivery.created"
        else:
            delivery = service.update_draft(session, delivery, draft)
            action = "delivery.updated"
        savepoint.commit()
    except ApiError as error:  # e.g. an uploaded ID that is not a LINE user ID
        savepoint.rollback()
        add_problems(form, [(error.field or "form", error.message)])
        return None
    page.audit(
        session,
        action=action,
        target=f"delivery:{delivery.id}",
        details={"name": delivery.name, "audience": delivery.audience.get("type")},
    )
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
    the threadpool: validating and scheduling call LINE."""
    saved = _save(session, page, form, body, delivery)
    if saved is None:
        return _compose(request, page, session, form, delivery, status=422)
    delivery = saved
    base = f"/accounts/{page.account.id}/deliveries/{delivery.id}"
    if intent == "validate":
        problems, count, usage = scheduler.validate(state, session, delivery, page.account)
        add_problems(form, problems)
        check = {"valid": not problems, "audience_count": count, "quota": usage.as_dict()}
        return _compose(
            request, page, session, form, delivery, status=200 if not problems else 422, check=check
        )
    if intent == "schedule":
        return _schedule(request, page, session, state, delivery, form)
    return redirect_to(request, base + "/edit", notice="saved")


def _schedule(
    request: Request,
    page: AccountPage,
    session: Session,
    state: AppState,
    delivery: Delivery,
    form: ComposeForm,
) -> Response:
    try:
        scheduler.schedule(
            state,
            session,
            delivery,
            page.account,
            send_at=delivery.send_at,
            spread_until=delivery.spread_until,
        )
    except ApiError as error:
        if error.code == "invalid":  # every problem, not just the first
            problems, *_ = scheduler.validate(state, session, delivery, page.account)
            add_problems(form, problems or [(error.field or "form", error.message)])
        else:
            add_problems(form, [(error.field or "form", error.message)])
        return _compose(request, page, session, form, delivery, status=422)
    page.audit(
        session,
        action="delivery.scheduled",
        target=f"delivery:{delivery.id}",
        details={
            "send_at": delivery.send_at.isoformat() if delivery.send_at else None,
            "spread_until": delivery.spread_until.isoformat() if delivery.spread_until else None,
            "audience": delivery.audience.get("type"),
        },
    )
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
    delivery = _delivery(session, page, delivery_id, lock=True)
    if delivery.status != DRAFT:
        raise PageError(409, N_("下書きではない配信は編集できません。"))
    form, body, intent = await _read(request, page)
    return await run_in_threadpool(
        _save_and_go, request, page, session, state, form, body, delivery, intent
    )


# --- detail, progress, control ---------------------------------------------------------------
def _progress(session: Session, delivery: Delivery) -> dict[str, Any]:
    found = counts(session, delivery)
    return {
        "status": delivery.status,
        "recipients": found["recipients"],
        "audience_count": delivery.audience_count,
        "expected_sends": delivery.expected_sends,
        "error": delivery.error,
    }


@router.get(BASE + "/{delivery_id}")
def delivery_page(
    request: Request,
    delivery_id: int,
    page: AccountPage = Depends(account_page(Role.VIEWER)),
    session: Session = Depends(db_session, scope="function"),
) -> HTMLResponse:
    delivery = _delivery(session, page, delivery_id)
    report = charts = None
    if delivery.started_at is not None:
        report = analysis.delivery_report(session, page.account, delivery)
        charts = {
            "outcomes": outcome_figure(report, page.lang),
            "rates": rates_figure(report, page.lang),
            "holdout": holdout_figure(report, page.lang),
        }
    return render(
        request,
        "deliveries/detail.html",
        page,
        {
            **_common(page),
            "delivery": delivery,
            "progress": _progress(session, delivery),
            "report": report,
            "charts": charts,
            "running": delivery.status in RUNNING,
            "preview_config": _preview_config(page, delivery.arms),
        },
    )


@router.get(BASE + "/{delivery_id}/progress")
def delivery_progress(
    delivery_id: int,
    page: AccountPage = Depends(account_page(Role.VIEWER)),
    session: Session = Depends(db_session, scope="function"),
) -> JSONResponse:
    """What the detail page polls while a delivery runs: status and recipient counts."""
    delivery = _delivery(session, page, delivery_id)
    return JSONResponse(_progress(session, delivery), headers={"cache-control": "no-store"})


CONTROLS = {  # the path's verb → (the scheduler's function, the audit action)
    "schedule": (None, "delivery.scheduled"),
    "pause": (scheduler.pause, "delivery.paused"),
    "resume": (scheduler.resume, "delivery.resumed"),
    "cancel": (scheduler.cancel, "delivery.cancelled"),
}


def _control(verb: str):
    function, action = CONTROLS[verb]

    def control(
        request: Request,
        delivery_id: int,
        page: AccountPage = Depends(account_page(Role.MARKETER)),
        session: Session = Depends(db_session, scope="function"),
        state: AppState = Depends(app_state),
    ) -> Response:
        delivery = _delivery(session, page, delivery_id, lock=True)
        if function is None:  # schedule from the detail page: problems go to the form
            return _schedule(
                request, page, session, state, delivery, _message_problems(session, page, delivery)
            )
        try:
            function(session, delivery)
        except ApiError as error:
            raise PageError(
                409,
                N_("この配信は今の状態（{state}）では操作できません。"),
                state=STATUS_LABELS.get(delivery.status, delivery.status),
            ) from error
        page.audit(
            session,
            action=action,
            target=f"delivery:{delivery.id}",
            details={"name": delivery.name},
        )
        return redirect_to(
            request, f"/accounts/{page.account.id}/deliveries/{delivery.id}", notice="saved"
        )

    control.__name__ = f"{verb}_delivery"
    return control


for _verb in CONTROLS:
    router.add_api_route(BASE + "/{delivery_id}/" + _verb, _control(_verb), methods=["POST"])


@router.post(BASE + "/{delivery_id}/delete")
def delete_delivery(
    request: Request,
    delivery_id: int,
    page: AccountPage = Depends(account_page(Role.MARKETER)),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    delivery = _delivery(session, page, delivery_id, lock=True)
    name = delivery.name
    try:
        service.delete_delivery(session, delivery)
    except ApiError as error:
        raise PageError(
            409,
            N_("この配信は今の状態（{state}）では操作できません。"),
            state=STATUS_LABELS.get(delivery.status, delivery.status),
        ) from error
    page.audit(
        session,
        action="delivery.deleted",
        target=f"delivery:{delivery_id}",
        details={"name": name},
    )
    return redirect_to(request, f"/accounts/{page.account.id}/deliveries", notice="saved")
