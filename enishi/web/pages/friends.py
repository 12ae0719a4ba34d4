"""友だち Friends: the searchable list, a friend's page (profile, tags, attributes, notes,
timeline) and its edits. CSV import/export live in friends_csv.py (routed first, so
`/friends/import` is not taken for a friend id)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from enishi.deps import db_session
from enishi.friends import attribute_defs, service
from enishi.friends.models import Friend
from enishi.friends.queries import (
    count_friends,
    filter_query,
    friend_detail,
    search_friends,
)
from enishi.friends.timeline import timeline
from enishi.inflow.models import InflowRoute
from enishi.kit.errors import ApiError
from enishi.operators.roles import Role
from enishi.web.context import AccountPage, account_page
from enishi.web.errors import PageError
from enishi.web.i18n import N_
from enishi.web.localtime import local_time
from enishi.web.pages import friends_csv
from enishi.web.pages.friend_filters import list_filters, tag_names
from enishi.web.pages.friends_problems import describe
from enishi.web.render import redirect_to, render

router = APIRouter()
router.include_router(friends_csv.router)

PAGE_SIZE = 50
TIMELINE_SIZE = 30
BASE = "/accounts/{account_id}/friends"

STATUS_LABELS = {
    "following": N_("友だち登録中"),
    "blocked": N_("ブロック"),
    "unknown": N_("不明"),
}
TIMELINE_LABELS = {
    "follow": N_("友だち追加"),
    "unblock": N_("ブロック解除"),
    "block": N_("ブロック"),
    "message": N_("メッセージ受信"),
    "postback": N_("ポストバック"),
    "tag_added": N_("タグ追加"),
    "tag_removed": N_("タグ削除"),
    "attribute_set": N_("属性変更"),
    "notes_set": N_("メモ変更"),
    "friend_imported": N_("CSVで登録"),
    "click": N_("リンククリック"),
    "conversion": N_("購入"),
    "event": N_("カスタムイベント"),
    "member_linked": N_("会員ID連携"),
    "member_unlinked": N_("会員ID連携解除"),
    "delivered": N_("配信受信"),
}
EDIT_SOURCE = "dashboard"  # the `source` of timeline entries made from this page


def account_routes(session: Session, account_id: int) -> list[InflowRoute]:
    return list(
        session.scalars(
            select(InflowRoute).where(InflowRoute.account_id == account_id).order_by(InflowRoute.id)
        )
    )


@router.get(BASE)
def friends_page(
    request: Request,
    cursor: str | None = None,
    page: AccountPage = Depends(account_page(Role.VIEWER)),
    session: Session = Depends(db_session, scope="function"),
) -> HTMLResponse:
    """One page of friends (keyset by id) and the number matching the filters."""
    filters = list_filters(request)
    try:
        rows, next_cursor = search_friends(session, page.account.id, filters, cursor, PAGE_SIZE)
    except ApiError:  # a cursor that was edited by hand
        raise PageError(400, N_("ページの指定が正しくありません。")) from None
    routes = account_routes(session, page.account.id)
    return render(
        request,
        "friends/list.html",
        page,
        {
            "rows": rows,
            "total": count_friends(session, page.account.id, filters),
            "filters": filters,
            "query": filter_query(filters),
            "next_cursor": next_cursor,
            "first_page": not cursor,
            "tags": tag_names(session, page.account.id),
            "routes": routes,
            "route_names": {route.id: route.name for route in routes},
            "statuses": STATUS_LABELS,
            "when": local_time(page.account.timezone),
        },
    )


def _friend(session: Session, page: AccountPage, friend_id: int) -> Friend:
    return page.owned(session, Friend, friend_id)


def _friend_page(
    request: Request,
    page: AccountPage,
    session: Session,
    friend: Friend,
    *,
    cursor: str | None = None,
    errors: dict[str, tuple[str, dict, str | None]] | None = None,
    values: dict[str, Any] | None = None,
    status: int = 200,
) -> HTMLResponse:
    try:
        items, older = timeline(session, friend, cursor, TIMELINE_SIZE)
    except ApiError:
        raise PageError(400, N_("ページの指定が正しくありません。")) from None
    detail = friend_detail(session, friend)
    return render(
        request,
        "friends/detail.html",
        page,
        {
            "friend": detail,
            "definitions": attribute_defs.list_attribute_defs(session, page.account.id),
            "all_tags": tag_names(session, page.account.id),
            "timeline": items,
            "older": older,
            "newest": cursor is None,
            "statuses": STATUS_LABELS,
            "kinds": TIMELINE_LABELS,
            "errors": errors or {},
            "values": values or {},
            "when": local_time(page.account.timezone),
        },
        status=status,
    )


@router.get(BASE + "/{friend_id}")
def friend_page(
    request: Request,
    friend_id: int,
    before: str | None = None,
    page: AccountPage = Depends(account_page(Role.VIEWER)),
    session: Session = Depends(db_session, scope="function"),
) -> HTMLResponse:
    return _friend_page(request, page, session, _friend(session, page, friend_id), cursor=before)


def _edit(
    request: Request,
    page: AccountPage,
    session: Session,
    friend: Friend,
    values: dict[str, Any],
    **changes: Any,
) -> Response:
    """update_friend (all or nothing, audited by it); a refused value re-renders the page with the
    error next to its field."""
    try:
        with session.begin_nested():
            service.update_friend(session, friend, source=EDIT_SOURCE, actor=page.actor, **changes)
    except ApiError as error:
        field = error.field or ""
        group = "tags" if field.startswith("tags_") else field
        return _friend_page(
            request,
            page,
            session,
            friend,
            errors={group: describe(error.reason, error.params, error.message)},
            values=values,
            status=422,
        )
    return redirect_to(
        request, BASE.format(account_id=page.account.id) + f"/{friend.id}", notice="saved"
    )


@router.post(BASE + "/{friend_id}/tags")
def add_tag(
    request: Request,
    friend_id: int,
    tag: str = Form(""),
    page: AccountPage = Depends(account_page(Role.MARKETER)),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    friend = _friend(session, page, friend_id)
    return _edit(request, page, session, friend, {"tag": tag}, tags_add=[tag])


@router.post(BASE + "/{friend_id}/tags/remove")
def remove_tag(
    request: Request,
    friend_id: int,
    tag: str = Form(""),
    page: AccountPage = Depends(account_page(Role.MARKETER)),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    friend = _friend(session, page, friend_id)
    return _edit(request, page, session, friend, {}, tags_remove=[tag])


@router.post(BASE + "/{friend_id}/attributes")
def save_attributes(
    request: Request,
    friend_id: int,
    key: list[str] = Form([]),
    value: list[str] = Form([]),
    page: AccountPage = Depends(account_page(Role.MARKETER)),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    """The attribute form: pairs of `key` and `value` fields; an empty value clears it."""
    friend = _friend(session, page, friend_id)
    given = {name.strip(): text.strip() for name, text in zip(key, value, strict=False)}
    return _edit(
        request,
        page,
        session,
        friend,
        {f"attributes.{k}": v for k, v in given.items()},
        attributes={name: text or None for name, text in given.items()},
    )


@router.post(BASE + "/{friend_id}/notes")
def save_notes(
    request: Request,
    friend_id: int,
    notes: str = Form(""),
    page: AccountPage = Depends(account_page(Role.MARKETER)),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    friend = _friend(session, page, friend_id)
    return _edit(request, page, session, friend, {"notes": notes}, notes=notes.strip() or None)
