"""流入経路 Inflow routes: each route with its QR code, URL and the friends it brought
(added / still following / blocked); marketers create and edit routes (audited)."""

from __future__ import annotations

import math
from typing import Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from enishi.deps import AppState, app_state, db_session
from enishi.inflow.models import InflowRoute
from enishi.inflow.service import (
    create_route,
    get_route,
    liff_url,
    route_counts,
    route_url,
    update_route,
)
from enishi.kit.errors import ApiError
from enishi.operators.roles import Role
from enishi.web.context import AccountPage, account_page
from enishi.web.errors import PageError
from enishi.web.i18n import N_
from enishi.web.render import redirect_to, render

router = APIRouter()

BASE = "/accounts/{account_id}/routes"
PAGE_SIZE = 20
QR_PREVIEW_SCALE = 3
QR_PRINT_SCALE = 12

FIELD_ERRORS = {
    ("name", 422): N_("経路名を1〜200文字で入力してください。"),
    ("code", 422): N_("コードは半角英数字・_・- の1〜64文字で入力してください。"),
    ("code", 409): N_("このコードはすでに使われています。"),
}


def page_number(raw: str | None) -> int:
    """`?page=` as a positive number; anything else is the first page."""
    return int(raw) if raw and raw.isdigit() and int(raw) > 0 else 1


def _route_rows(
    session: Session, state: AppState, page: AccountPage, number: int
) -> tuple[list[dict[str, Any]], int, int]:
    """One page of routes (newest first) with their counts, the page count and the total."""
    account = page.account
    total = (
        session.scalar(
            select(func.count())
            .select_from(InflowRoute)
            .where(InflowRoute.account_id == account.id)
        )
        or 0
    )
    pages = max(1, math.ceil(total / PAGE_SIZE))
    number = min(number, pages)
    routes = list(
        session.scalars(
            select(InflowRoute)
            .where(InflowRoute.account_id == account.id)
            .order_by(InflowRoute.id.desc())
            .limit(PAGE_SIZE)
            .offset((number - 1) * PAGE_SIZE)
        )
    )
    counts = route_counts(session, account.id, routes)
    rows = []
    for route in routes:
        c = counts[route.id]
        rows.append(
            {
                "route": route,
                "url": route_url(state.settings, route.code),
                "liff_url": liff_url(account, route.code),
                "qr_path": f"/r/{route.code}/qr.png",
                "counts": c,
                "block_rate": c["blocked"] / c["added"] if c["added"] else None,
            }
        )
    return rows, pages, total


def _list_page(
    request: Request,
    page: AccountPage,
    session: Session,
    state: AppState,
    *,
    number: int = 1,
    form: dict[str, Any] | None = None,
    status: int = 200,
) -> HTMLResponse:
    rows, pages, total = _route_rows(session, state, page, number)
    return render(
        request,
        "routes/list.html",
        page,
        {
            "rows": rows,
            "total": total,
            "page_number": min(number, pages),
            "pages": pages,
            "qr_preview_scale": QR_PREVIEW_SCALE,
            "qr_print_scale": QR_PRINT_SCALE,
            "form": form or {},
        },
        status=status,
    )


@router.get(BASE)
def routes_page(
    request: Request,
    number: str | None = Query(None, alias="page"),
    page: AccountPage = Depends(account_page(Role.VIEWER)),
    state: AppState = Depends(app_state),
    session: Session = Depends(db_session, scope="function"),
) -> HTMLResponse:
    return _list_page(request, page, session, state, number=page_number(number))


def _field_error(error: ApiError) -> dict[str, str]:
    field = error.field or "name"
    return {field: FIELD_ERRORS.get((field, error.status), N_("入力が正しくありません。"))}


@router.post(BASE)
def new_route(
    request: Request,
    name: str = Form(""),
    code: str = Form(""),
    page: AccountPage = Depends(account_page(Role.MARKETER)),
    state: AppState = Depends(app_state),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    code = code.strip()
    try:
        create_route(session, page.account, name, code or None, actor=page.actor)
    except ApiError as error:
        session.rollback()
        form = {"target": "new", "name": name, "code": code, "errors": _field_error(error)}
        return _list_page(request, page, session, state, form=form, status=422)
    return redirect_to(request, BASE.format(account_id=page.account.id), notice="saved")


@router.post(BASE + "/{route_id}")
def edit_route(
    request: Request,
    route_id: int,
    name: str = Form(""),
    code: str = Form(""),
    return_page: str = Form("1"),
    page: AccountPage = Depends(account_page(Role.MARKETER)),
    state: AppState = Depends(app_state),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    try:
        route = get_route(session, page.account.id, route_id)
    except ApiError:
        raise PageError(404, N_("ページが見つかりません。")) from None
    try:
        update_route(session, route, name=name, code=code.strip() or route.code, actor=page.actor)
    except ApiError as error:
        session.rollback()
        form = {"target": route_id, "name": name, "code": code, "errors": _field_error(error)}
        number = page_number(return_page)
        return _list_page(request, page, session, state, number=number, form=form, status=422)
    path = BASE.format(account_id=page.account.id)
    number = page_number(return_page)
    return redirect_to(request, f"{path}?page={number}" if number > 1 else path, notice="saved")
