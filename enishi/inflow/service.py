"""Inflow routes (friend-add source analysis): a route is a URL `/r/{code}` (and its QR
code); its page identifies the LINE user by a verified ID token, records a RouteVisit and
forwards to the add-friend URL; the follow that follows is attributed to the route.
Services never commit."""

from __future__ import annotations

import functools
import io
import logging
import re
import secrets
from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import segno
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from enishi.accounts.models import Account
from enishi.audit.actor import Actor
from enishi.audit.service import record
from enishi.config import Settings
from enishi.db.base import utcnow
from enishi.friends.models import BLOCKED, FOLLOWING, Friend
from enishi.friends.service import LINE_USER_ID, record_activity
from enishi.inflow.models import InflowRoute, RouteVisit
from enishi.kit.errors import ApiError, not_found
from enishi.line.errors import LineError
from enishi.line.gateway import BotInfo, LineGateway

log = logging.getLogger(__name__)

CODE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
VISIT_BEFORE = timedelta(hours=24)  # a follow is attributed to a visit this long before it
VISIT_AFTER = timedelta(minutes=10)  # ... or this long after (server and LINE clocks differ)
QR_SCALE_MAX = 40


# --- routes --------------------------------------------------------------------------------
def route_url(settings: Settings, code: str) -> str:
    return f"{settings.public_base_url.rstrip('/')}/r/{code}"


def liff_url(account: Account, code: str) -> str | None:
    """The route page as a LIFF app: LIFF appends the path to the endpoint URL ({base}/r)."""
    return f"https://liff.line.me/{account.liff_id}/{code}" if account.liff_id else None


def route_by_code(session: Session, code: str) -> InflowRoute | None:
    if not CODE.match(code):
        return None
    return session.scalar(select(InflowRoute).where(InflowRoute.code == code))


def get_route(session: Session, account_id: int, route_id: int) -> InflowRoute:
    route = session.get(InflowRoute, route_id)
    if route is None or route.account_id != account_id:
        raise not_found("route")
    return route


def list_routes(
    session: Session, account_id: int, after_id: int | None, limit: int
) -> list[InflowRoute]:
    query = select(InflowRoute).where(InflowRoute.account_id == account_id)
    if after_id is not None:
        query = query.where(InflowRoute.id > after_id)
    return list(session.scalars(query.order_by(InflowRoute.id).limit(limit)))


def _check_code(session: Session, code: str, route_id: int | None = None) -> str:
    if not CODE.match(code):
        raise ApiError(422, "invalid", "a code is 1-64 of A-Z a-z 0-9 _ -", "code")
    taken = session.scalar(select(InflowRoute.id).where(InflowRoute.code == code))
    if taken is not None and taken != route_id:
        raise ApiError(409, "conflict", f"the code {code!r} is in use already", "code")
    return code


def _new_code(session: Session) -> str:
    for _ in range(10):
        code = secrets.token_urlsafe(6)  # 8 characters, 48 random bits
        if session.scalar(select(InflowRoute.id).where(InflowRoute.code == code)) is None:
            return code
    raise RuntimeError("could not find a free route code")


def _flush_unique(session: Session, route: InflowRoute) -> None:
    try:
        with session.begin_nested():
            session.add(route)
            session.flush()
    except IntegrityError:
        raise ApiError(
            409, "conflict", f"the code {route.code!r} is in use already", "code"
        ) from None


def create_route(
    session: Session, account: Account, name: str, code: str | None = None, *, actor: Actor
) -> InflowRoute:
    name = name.strip()
    if not name or len(name) > 200:
        raise ApiError(422, "invalid", "a route name is 1-200 characters", "name")
    code = _check_code(session, code) if code is not None else _new_code(session)
    route = InflowRoute(account_id=account.id, name=name, code=code, created_at=utcnow())
    _flush_unique(session, route)
    _audit(session, actor, "route.created", route, {"name": route.name, "code": route.code})
    return route


def _audit(session: Session, actor: Actor, action: str, route: InflowRoute, details: dict) -> None:
    record(
        session,
        actor=actor,
        action=action,
        account_id=route.account_id,
        target=f"route:{route.id}",
        details=details,
    )


def update_route(
    session: Session,
    route: InflowRoute,
    name: str | None = None,
    code: str | None = None,
    *,
    actor: Actor,
) -> InflowRoute:
    """Audited with the fields that changed (none changed: no entry)."""
    before = {"name": route.name, "code": route.code}
    if name is not None:
        name = name.strip()
        if not name or len(name) > 200:
            raise ApiError(422, "invalid", "a route name is 1-200 characters", "name")
        route.name = name
    if code is not None and code != route.code:
        route.code = _check_code(session, code, route.id)
    _flush_unique(session, route)
    after = {"name": route.name, "code": route.code}
    changes = {key: [before[key], after[key]] for key in before if before[key] != after[key]}
    if changes:
        _audit(session, actor, "route.updated", route, changes)
    return route


def delete_route(session: Session, route: InflowRoute, *, actor: Actor) -> None:
    """The route and its visits go; its friends stay, with no route."""
    _audit(session, actor, "route.deleted", route, {"name": route.name, "code": route.code})
    session.execute(
        update(Friend).where(Friend.inflow_route_id == route.id).values(inflow_route_id=None)
    )
    session.execute(delete(RouteVisit).where(RouteVisit.route_id == route.id))
    session.delete(route)
    session.flush()


def route_labels(
    session: Session, *, account_id: int, ids: Collection[int] | None = None
) -> dict[int, dict[str, Any]]:
    """The account's routes (those of `ids`, or all) as a friend's detail names them."""
    query = select(InflowRoute.id, InflowRoute.code, InflowRoute.name).where(
        InflowRoute.account_id == account_id
    )
    if ids is not None:
        query = query.where(InflowRoute.id.in_(ids))
    return {
        row.id: {"id": row.id, "code": row.code, "name": row.name} for row in session.execute(query)
    }


def route_counts(
    session: Session, account_id: int, routes: list[InflowRoute]
) -> dict[int, dict[str, int]]:
    """Per route: friends added through it, still following, blocked; visits."""
    ids = [route.id for route in routes]
    counts = {
        route.id: {
            "added": 0,
            "following": 0,
            "blocked": 0,
            "visits": 0,
            "visitors": 0,
            "anonymous_visits": route.anonymous_visits or 0,
        }
        for route in routes
    }
    if not ids:
        return counts
    for route_id, status, n in session.execute(
        select(Friend.inflow_route_id, Friend.status, func.count())
        .where(Friend.account_id == account_id, Friend.inflow_route_id.in_(ids))
        .group_by(Friend.inflow_route_id, Friend.status)
    ):
        counts[route_id]["added"] += n
        if status == FOLLOWING:
            counts[route_id]["following"] += n
        elif status == BLOCKED:
            counts[route_id]["blocked"] += n
    for route_id, visits, visitors in session.execute(
        select(RouteVisit.route_id, func.count(), func.count(RouteVisit.line_user_id.distinct()))
        .where(RouteVisit.route_id.in_(ids))
        .group_by(RouteVisit.route_id)
    ):
        counts[route_id]["visits"], counts[route_id]["visitors"] = visits, visitors
    return counts


def qr_png(url: str, scale: int = 8) -> bytes:
    """The QR code of `url` as a PNG (error correction M, a 4-module quiet zone)."""
    if not 1 <= scale <= QR_SCALE_MAX:
        raise ApiError(400, "invalid", f"scale must be 1-{QR_SCALE_MAX}", "scale")
    return _draw_qr(url, scale)


@functools.lru_cache(maxsize=1024)
def _draw_qr(url: str, scale: int) -> bytes:
    """~10 ms to draw, a few hundred bytes to keep: printed QR codes are fetched often."""
    buffer = io.BytesIO()
    segno.make(url, error="m", micro=False).save(buffer, kind="png", scale=scale, border=4)
    return buffer.getvalue()


# --- the route page ------------------------------------------------------------------------
def bot_info_if_unknown(*, account: Account, line: LineGateway) -> BotInfo | None:
    """LINE's bot info when the account does not know its basic ID yet (asked once, then
    kept by add_friend_url). Doors ask before their transaction writes anything."""
    if account.basic_id:
        return None
    try:
        return line.bot_info()
    except LineError as error:
        if not error.reached:
            raise ApiError(
                502, "line_unreachable", "LINE could not be reached for the bot info"
            ) from None
        raise ApiError(
            502, "line_error", f"LINE answered {error.status} for the bot info: {error.message}"
        ) from None


def add_friend_url(session: Session, *, account: Account, bot: BotInfo | None) -> str:
    """https://line.me/R/ti/p/{basic ID}; `bot` (from bot_info_if_unknown) is kept on the
    account the first time."""
    if not account.basic_id:
        assert bot is not None, "ask bot_info_if_unknown first"
        account.basic_id = bot.basic_id
        account.bot_user_id = account.bot_user_id or bot.user_id
        session.flush()
    return f"https://line.me/R/ti/p/{quote(account.basic_id, safe='@')}"


def verify_visitor(*, account: Account, line: LineGateway, id_token: str) -> str:
    """The LINE user ID an ID token names, verified by LINE Login; only the verified `sub`
    is trusted."""
    client_id = account.login_channel_id or account.channel_id
    try:
        claims: dict[str, Any] = line.verify_id_token(id_token, client_id=client_id)
    except LineError as error:
        if not error.reached:
            raise ApiError(
                502, "line_unreachable", f"LINE could not be reached: {error.message}"
            ) from None
        raise ApiError(
            400,
            "invalid_id_token",
            f"LINE rejected the ID token: {error.message}",
            "id_token",
        ) from None
    sub = claims.get("sub")
    if not isinstance(sub, str) or not LINE_USER_ID.match(sub):
        raise ApiError(400, "invalid_id_token", "the ID token names no LINE user", "id_token")
    return sub


def record_visit(
    session: Session,
    *,
    route: InflowRoute,
    line_user_id: str,
    at: datetime | None = None,
) -> RouteVisit:
    """A verified visit (verify_visitor); nothing is stored when LINE rejects the token."""
    visit = RouteVisit(
        account_id=route.account_id,
        route_id=route.id,
        line_user_id=line_user_id,
        visited_at=at or utcnow(),
    )
    session.add(visit)
    session.flush()
    return visit


def record_anonymous_visit(session: Session, route: InflowRoute) -> None:
    session.execute(
        update(InflowRoute)
        .where(InflowRoute.id == route.id)
        .values(anonymous_visits=InflowRoute.anonymous_visits + 1)
    )


# --- attribution ---------------------------------------------------------------------------
def attribute_route(session: Session, friend: Friend, followed_at: datetime) -> None:
    """On follow: a friend with no route yet gets the route of their latest verified visit
    within 24 h before the follow (or 10 min after, as clocks differ)."""
    if friend.inflow_route_id is not None:
        return
    visit = session.scalar(
        select(RouteVisit)
        .where(
            RouteVisit.account_id == friend.account_id,
            RouteVisit.line_user_id == friend.line_user_id,
            RouteVisit.visited_at >= followed_at - VISIT_BEFORE,
            RouteVisit.visited_at <= followed_at + VISIT_AFTER,
        )
        .order_by(RouteVisit.visited_at.desc(), RouteVisit.id.desc())
        .limit(1)
    )
    if visit is None:
        return
    friend.inflow_route_id = visit.route_id
    record_activity(
        session,
        friend,
        "route_attributed",
        followed_at,
        {"route_id": visit.route_id, "visit_id": visit.id},
    )
