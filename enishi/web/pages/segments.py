"""セグメント Segments: the list, the builder (static/segments.js) with its live count and
sample (a JSON endpoint over segments.service.preview), save, duplicate, delete.

The builder edits the definition JSON in the form's `definition` field, which is also the
raw JSON editor, so the page works as a plain form too. Every change is audited."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Body, Depends, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from enishi.delivery.models import Delivery
from enishi.deps import db_session
from enishi.friends.attribute_defs import list_attribute_defs
from enishi.inflow.models import InflowRoute
from enishi.kit.errors import ApiError
from enishi.operators.roles import Role
from enishi.segments import service
from enishi.segments.language import SegmentInvalid
from enishi.segments.models import Segment
from enishi.web.context import AccountPage, account_page
from enishi.web.i18n import N_
from enishi.web.localtime import local_time
from enishi.web.pages.friend_filters import tag_names
from enishi.web.render import redirect_to, render

router = APIRouter()

BASE = "/accounts/{account_id}/segments"
PAGE_SIZE = 50
DELIVERY_CHOICES = 200  # the newest deliveries offered by name; older ones by number
NEW_DEFINITION = {"version": 1, "where": {"all": []}}

# The builder's words, translated on the server and handed to the script as JSON.
BUILDER_TEXT = {
    "all": N_("すべての条件を満たす（AND）"),
    "any": N_("いずれかの条件を満たす（OR）"),
    "not": N_("満たさない（NOT）"),
    "add_condition": N_("＋ 条件を追加"),
    "add_group": N_("＋ グループを追加"),
    "remove": N_("削除"),
    "choose": N_("条件を選ぶ…"),
    "empty_group": N_("条件なし：フォロー中のすべての友だち"),
    "status": N_("状態"),
    "followed_days": N_("友だち期間（日数）"),
    "followed_at": N_("友だち追加日"),
    "inflow_route": N_("流入経路"),
    "member_linked": N_("会員ID連携"),
    "attribute": N_("属性"),
    "tags": N_("タグ"),
    "clicked": N_("クリック（最終クリック）"),
    "click_count": N_("クリック回数"),
    "purchased": N_("購入（最終購入）"),
    "purchase_count": N_("購入回数"),
    "revenue": N_("購入金額（円）"),
    "bought": N_("商品（SKU）を購入"),
    "event": N_("カスタムイベント"),
    "delivery": N_("配信の受信・クリック"),
    "sample": N_("ランダム抽出"),
    "raw": N_("JSONで編集してください"),
    "following": N_("友だち登録中"),
    "blocked": N_("ブロック"),
    "unknown": N_("不明"),
    "eq": N_("＝"),
    "ne": N_("≠"),
    "gt": N_("より大きい"),
    "gte": N_("以上"),
    "lt": N_("未満"),
    "lte": N_("以下"),
    "in": N_("いずれか"),
    "between": N_("の範囲"),
    "is_empty": N_("未設定"),
    "not_empty": N_("設定あり"),
    "add_compare": N_("＋ 比較を追加"),
    "from": N_("から"),
    "to": N_("まで"),
    "days": N_("日"),
    "hours": N_("時間"),
    "within_days": N_("直近N日以内にあり"),
    "not_within_days": N_("直近N日以内になし（一度もない人を含む）"),
    "window": N_("期間（直近N日、空欄は全期間）"),
    "route_one": N_("この経路"),
    "route_many": N_("いずれかの経路"),
    "route_none": N_("経路なし"),
    "linked": N_("連携済み"),
    "not_linked": N_("未連携"),
    "tags_any": N_("いずれかを持つ"),
    "tags_all": N_("すべて持つ"),
    "tags_none": N_("どれも持たない"),
    "add": N_("追加"),
    "delivery_id": N_("対象の配信"),
    "link_id": N_("リンクID"),
    "any_delivery": N_("すべての配信"),
    "received": N_("受信"),
    "clicked_flag": N_("クリックした"),
    "either": N_("問わない"),
    "yes": N_("はい"),
    "no": N_("いいえ"),
    "event_name": N_("イベント名"),
    "min_count": N_("回以上"),
    "no_purchase_since": N_("その後購入なし"),
    "percent": N_("割合（%）"),
    "seed": N_("シード"),
    "skus": N_("SKU"),
    "count": N_("{count}人"),
    "counting": N_("集計中…"),
    "invalid": N_("条件にエラーがあります"),
    "sample_title": N_("該当する友だち（新しい順に最大20人）"),
    "no_match": N_("該当する友だちはいません。"),
    "json_invalid": N_("JSONの形式が正しくありません"),
    "apply_json": N_("JSONをビルダーに反映"),
    "network": N_("件数を取得できませんでした"),
    "name": N_("表示名"),
    "followed": N_("友だち追加日"),
    "clicks": N_("クリック"),
    "purchases": N_("購入"),
}
# Error codes of the segment language → what the marketer is told (the detail follows).
ERROR_TEXT = {
    "missing": N_("必須です"),
    "unknown_condition": N_("未知の条件です"),
    "not_a_condition": N_("条件の形が正しくありません"),
    "extra_forbidden": N_("不明な項目です"),
    "value_error": N_("値が正しくありません"),
    "int_type": N_("整数を入力してください"),
    "float_type": N_("数値を入力してください"),
    "bool_type": N_("true か false にしてください"),
    "string_type": N_("文字列にしてください"),
    "list_type": N_("リストにしてください"),
    "literal_error": N_("選べない値です"),
    "greater_than_equal": N_("値が小さすぎます"),
    "less_than_equal": N_("値が大きすぎます"),
    "unknown_attribute": N_("定義されていない属性です"),
    "type_mismatch": N_("属性の型に合いません"),
    "invalid_choice": N_("選択肢にない値です"),
    "invalid_operator": N_("この属性には使えない比較です"),
    "unknown_tag": N_("存在しないタグです"),
    "unknown_inflow_route": N_("存在しない流入経路です"),
    "unknown_delivery": N_("存在しない配信です"),
    "unknown_link": N_("存在しないリンクです"),
    "too_deep": N_("入れ子が深すぎます"),
    "too_large": N_("条件が多すぎます"),
    "unsupported_version": N_("対応していないバージョンです"),
}


def _catalogue(session: Session, page: AccountPage) -> dict[str, Any]:
    """What the builder offers: the account's attributes, tags, routes and deliveries."""
    account_id = page.account.id
    deliveries = session.execute(
        select(Delivery.id, Delivery.name)
        .where(Delivery.account_id == account_id)
        .order_by(Delivery.id.desc())
        .limit(DELIVERY_CHOICES)
    )
    routes = session.scalars(
        select(InflowRoute).where(InflowRoute.account_id == account_id).order_by(InflowRoute.id)
    )
    return {
        "attributes": [
            {"key": d.key, "label": d.label, "type": d.type, "choices": d.choices or []}
            for d in list_attribute_defs(session, account_id)
        ],
        "tags": tag_names(session, account_id),
        "routes": [{"id": r.id, "code": r.code, "name": r.name} for r in routes],
        "deliveries": [{"id": d.id, "name": d.name} for d in deliveries],
        "text": {key: page.t(text) for key, text in BUILDER_TEXT.items()},
        "errors": {code: page.t(text) for code, text in ERROR_TEXT.items()},
        "preview_url": BASE.format(account_id=account_id) + "/preview",
        "friend_url": f"/accounts/{account_id}/friends/",
    }


def _error_list(page: AccountPage, errors: list[Any]) -> list[dict[str, str]]:
    return [
        {
            "path": e.path,
            "code": e.code,
            "message": e.message,
            "label": page.t(ERROR_TEXT.get(e.code, N_("値が正しくありません"))),
        }
        for e in errors
    ]


def _builder(
    request: Request,
    page: AccountPage,
    session: Session,
    *,
    segment: Segment | None,
    name: str,
    definition_text: str,
    errors: list[dict[str, str]] | None = None,
    name_error: str | None = None,
    json_error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "segments/builder.html",
        page,
        {
            "segment": segment,
            "name": name,
            "definition_text": definition_text,
            "errors": errors or [],
            "name_error": name_error,
            "json_error": json_error,
            "catalogue": _catalogue(session, page),
            "editable": page.can(Role.MARKETER),
            "when": local_time(page.account.timezone),
        },
        status=status,
    )


def _pretty(definition: Any) -> str:
    return json.dumps(definition, ensure_ascii=False, indent=2)


def _parse_json(text: str) -> tuple[Any, str | None]:
    try:
        return json.loads(text), None
    except ValueError as error:
        return None, str(error)


@router.get(BASE)
def segments_page(
    request: Request,
    after: int | None = None,
    page: AccountPage = Depends(account_page(Role.VIEWER)),
    session: Session = Depends(db_session, scope="function"),
) -> HTMLResponse:
    items = service.list_segments(session, page.account.id, after_id=after, limit=PAGE_SIZE + 1)
    more = len(items) > PAGE_SIZE
    items = items[:PAGE_SIZE]
    return render(
        request,
        "segments/list.html",
        page,
        {
            "segments": items,
            "next_after": items[-1].id if more else None,
            "first_page": after is None,
            "when": local_time(page.account.timezone),
        },
    )


@router.get(BASE + "/new")
def new_segment(
    request: Request,
    name: str = "",
    definition: str = "",
    page: AccountPage = Depends(account_page(Role.MARKETER)),
    session: Session = Depends(db_session, scope="function"),
) -> HTMLResponse:
    """The builder, empty or prefilled (`?name=&definition=<JSON>`, e.g. from click analysis)."""
    parsed, _problem = _parse_json(definition) if definition else (NEW_DEFINITION, None)
    text = _pretty(parsed) if parsed is not None else definition
    return _builder(request, page, session, segment=None, name=name[:200], definition_text=text)


def _save(
    request: Request,
    page: AccountPage,
    session: Session,
    segment: Segment | None,
    name: str,
    definition: str,
) -> Response:
    """Create (segment None) or update; errors re-render the builder beside their nodes."""
    parsed, problem = _parse_json(definition)
    if problem is not None:
        return _builder(
            request,
            page,
            session,
            segment=segment,
            name=name,
            definition_text=definition,
            status=422,
            json_error=page.t(N_("JSONの形式が正しくありません")) + f": {problem}",
        )
    try:
        with session.begin_nested():
            if segment is None:
                saved = service.create_segment(
                    session, page.account.id, name, parsed, actor=page.actor
                )
            else:
                saved = service.update_segment(
                    session, segment, name=name, definition=parsed, actor=page.actor
                )
    except SegmentInvalid as invalid:
        return _builder(
            request,
            page,
            session,
            segment=segment,
            name=name,
            definition_text=definition,
            errors=_error_list(page, invalid.errors),
            status=422,
        )
    except ApiError as refused:  # the name: empty, too long, or taken
        message = (
            N_("この名前のセグメントはすでにあります。")
            if refused.status == 409
            else N_("セグメント名を1〜200文字で入力してください。")
        )
        return _builder(
            request,
            page,
            session,
            segment=segment,
            name=name,
            definition_text=definition,
            name_error=page.t(message),
            status=422,
        )
    return redirect_to(
        request, BASE.format(account_id=page.account.id) + f"/{saved.id}", notice="saved"
    )


@router.post(BASE)
def create_segment(
    request: Request,
    name: str = Form(""),
    definition: str = Form(""),
    page: AccountPage = Depends(account_page(Role.MARKETER)),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    return _save(request, page, session, None, name, definition)


@router.post(BASE + "/preview")
def preview(
    payload: dict[str, Any] = Body(...),
    page: AccountPage = Depends(account_page(Role.VIEWER)),
    session: Session = Depends(db_session, scope="function"),
) -> JSONResponse:
    """The builder's live count: `{"definition"}` → `{"ok", "count", "sample"}` or
    `{"ok": false, "errors": [{path, code, message, label}]}` (200 either way)."""
    try:
        result = service.preview(session, page.account.id, payload.get("definition"))
    except SegmentInvalid as invalid:
        return JSONResponse(
            {"ok": False, "errors": _error_list(page, invalid.errors)},
            headers={"cache-control": "no-store"},
        )
    when = local_time(page.account.timezone)
    sample = [
        {
            "id": friend.id,
            "display_name": friend.display_name or "",
            "status": friend.status,
            "first_followed_at": when(friend.first_followed_at),
            "last_click_at": when(friend.last_click_at),
            "click_count": friend.click_count,
            "purchase_count": friend.purchase_count,
            "revenue_jpy": friend.revenue_jpy,
        }
        for friend in result.sample
    ]
    return JSONResponse(
        {
            "ok": True,
            "count": result.count,
            "sample": sample,
            "count_text": page.t(N_("{count}人"), count=f"{result.count:,}"),
        },
        headers={"cache-control": "no-store"},
    )


def _segment(session: Session, page: AccountPage, segment_id: int) -> Segment:
    return page.owned(session, Segment, segment_id)


@router.get(BASE + "/{segment_id}")
def segment_page(
    request: Request,
    segment_id: int,
    page: AccountPage = Depends(account_page(Role.VIEWER)),
    session: Session = Depends(db_session, scope="function"),
) -> HTMLResponse:
    segment = _segment(session, page, segment_id)
    return _builder(
        request,
        page,
        session,
        segment=segment,
        name=segment.name,
        definition_text=_pretty(segment.definition),
    )


@router.post(BASE + "/{segment_id}")
def update_segment(
    request: Request,
    segment_id: int,
    name: str = Form(""),
    definition: str = Form(""),
    page: AccountPage = Depends(account_page(Role.MARKETER)),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    return _save(request, page, session, _segment(session, page, segment_id), name, definition)


@router.post(BASE + "/{segment_id}/duplicate")
def duplicate_segment(
    request: Request,
    segment_id: int,
    page: AccountPage = Depends(account_page(Role.MARKETER)),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    """A copy named "<name> のコピー"; the builder opens on it."""
    original = _segment(session, page, segment_id)
    copy = service.duplicate_segment(session, original, actor=page.actor)
    return redirect_to(
        request, BASE.format(account_id=page.account.id) + f"/{copy.id}", notice="saved"
    )


@router.post(BASE + "/{segment_id}/delete")
def delete_segment(
    request: Request,
    segment_id: int,
    page: AccountPage = Depends(account_page(Role.MARKETER)),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    segment = _segment(session, page, segment_id)
    service.delete_segment(session, segment, actor=page.actor)
    return redirect_to(request, BASE.format(account_id=page.account.id), notice="deleted")
