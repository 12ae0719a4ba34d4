"""/api/v1/routes: inflow routes with their friend counts and QR codes."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Response
from sqlalchemy.orm import Session

from enishi.accounts.auth import current_account, current_actor
from enishi.accounts.models import Account
from enishi.audit.actor import Actor
from enishi.deps import AppState, app_state, db_session
from enishi.inflow.models import InflowRoute
from enishi.inflow.schemas import RouteCounts, RouteIn, RouteOut, RoutePatch
from enishi.inflow.service import (
    create_route,
    delete_route,
    get_route,
    liff_url,
    list_routes,
    qr_png,
    route_counts,
    route_url,
    update_route,
)
from enishi.kit.errors import ApiError
from enishi.kit.pagination import Page, check_limit, decode_cursor, encode_cursor

router = APIRouter(prefix="/routes", tags=["routes"])


def _out(state: AppState, account: Account, route: InflowRoute, counts: dict) -> RouteOut:
    url = route_url(state.settings, route.code)
    return RouteOut(
        id=route.id,
        name=route.name,
        code=route.code,
        url=url,
        qr_url=f"{url}/qr.png",
        liff_url=liff_url(account, route.code),
        created_at=route.created_at,
        counts=RouteCounts(**counts),
    )


def _one(session: Session, state: AppState, account: Account, route: InflowRoute) -> RouteOut:
    return _out(state, account, route, route_counts(session, account.id, [route])[route.id])


@router.post("", response_model=RouteOut, status_code=201)
def new_route(
    body: RouteIn,
    account: Account = Depends(current_account),
    actor: Actor = Depends(current_actor),
    state: AppState = Depends(app_state),
    session: Session = Depends(db_session, scope="function"),
) -> RouteOut:
    """A route: its page is `{public_base_url}/r/{code}`; print `qr_url` on flyers."""
    route = create_route(session, account, body.name, body.code, actor=actor)
    return _one(session, state, account, route)


@router.get("", response_model=Page[RouteOut])
def routes(
    cursor: str | None = None,
    limit: int = Query(100),
    account: Account = Depends(current_account),
    state: AppState = Depends(app_state),
    session: Session = Depends(db_session, scope="function"),
) -> Page[RouteOut]:
    after = decode_cursor(cursor)
    if after is not None and not isinstance(after, int):
        raise ApiError(400, "invalid_cursor", "the cursor is not valid", "cursor")
    page = list_routes(session, account.id, after, check_limit(limit) + 1)
    more = len(page) > limit
    page = page[:limit]
    counts = route_counts(session, account.id, page)
    return Page[RouteOut](
        items=[_out(state, account, route, counts[route.id]) for route in page],
        next_cursor=encode_cursor(page[-1].id) if more else None,
    )


@router.get("/{route_id}", response_model=RouteOut)
def one_route(
    route_id: int,
    account: Account = Depends(current_account),
    state: AppState = Depends(app_state),
    session: Session = Depends(db_session, scope="function"),
) -> RouteOut:
    return _one(session, state, account, get_route(session, account.id, route_id))


@router.patch("/{route_id}", response_model=RouteOut)
def patch_route(
    route_id: int,
    body: RoutePatch,
    account: Account = Depends(current_account),
    actor: Actor = Depends(current_actor),
    state: AppState = Depends(app_state),
    session: Session = Depends(db_session, scope="function"),
) -> RouteOut:
    route = get_route(session, account.id, route_id)
    update_route(session, route, name=body.name, code=body.code, actor=actor)
    return _one(session, state, account, route)


@router.delete("/{route_id}", status_code=204)
def remove_route(
    route_id: int,
    account: Account = Depends(current_account),
    actor: Actor = Depends(current_actor),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    """Deletes the route and its visits; its friends keep everything but the route."""
    delete_route(session, get_route(session, account.id, route_id), actor=actor)
    return Response(status_code=204)


@router.get(
    "/{route_id}/qr.png", response_class=Response, responses={200: {"content": {"image/png": {}}}}
)
def route_qr(
    route_id: int,
    scale: int = Query(8),
    account: Account = Depends(current_account),
    state: AppState = Depends(app_state),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    route = get_route(session, account.id, route_id)
    png = qr_png(route_url(state.settings, route.code), scale)
    return Response(
        png,
        media_type="image/png",
        headers={"content-disposition": f'inline; filename="route-{route.code}.png"'},
    )
