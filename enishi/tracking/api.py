"""/api/v1 links, conversions and custom events (API key)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import TypeAdapter, ValidationError
from sqlalchemy.orm import Session

from enishi.accounts.auth import current_account
from enishi.accounts.models import Account
from enishi.deps import AppState, app_state, db_session
from enishi.friends.service import get_friend
from enishi.kit.errors import ApiError, not_found
from enishi.kit.pagination import check_limit, decode_cursor, encode_cursor
from enishi.tracking import conversions as conv
from enishi.tracking import events as ev
from enishi.tracking.links import click_counts, create_link, get_link, list_links
from enishi.tracking.models import Conversion, ConversionItem, CustomEvent, Link
from enishi.tracking.schemas import (
    ClickCounts,
    ConversionBatchIn,
    ConversionBatchItem,
    ConversionBatchOut,
    ConversionIn,
    ConversionItemOut,
    ConversionOut,
    ConversionPage,
    ConversionResult,
    ErrorDetail,
    EventBatchIn,
    EventBatchItem,
    EventBatchOut,
    EventIn,
    EventOut,
    EventPage,
    EventResult,
    LinkDetail,
    LinkIn,
    LinkOut,
    LinkPage,
    TrackedUrlOut,
)
from enishi.tracking.tokens import tracked_url

router = APIRouter(tags=["tracking"])

_conversion_in = TypeAdapter(ConversionIn)
_event_in = TypeAdapter(EventIn)


def _cursor_id(cursor: str | None) -> int | None:
    value = decode_cursor(cursor)
    if value is not None and (type(value) is not int or value < 1):
        raise ApiError(400, "invalid_cursor", "the cursor is not valid", "cursor")
    return value


def _error(error: ApiError) -> ErrorDetail:
    return ErrorDetail(code=error.code, message=error.message, field=error.field)


def _parse_error(exc: ValidationError) -> ErrorDetail:
    first = exc.errors()[0]
    field = ".".join(str(part) for part in first.get("loc", ()))
    return ErrorDetail(code="invalid", message=first.get("msg", "invalid"), field=field or None)


def _split_batch(
    raws: list[Any], adapter: TypeAdapter[Any], id_field: str
) -> tuple[list[tuple[int, Any]], dict[int, tuple[str | None, ErrorDetail]]]:
    """Validate each entry of a batch on its own, so one bad entry does not sink the rest:
    (valid entries with their index, errors by index with the entry's own id if it had one)."""
    valid: list[tuple[int, Any]] = []
    invalid: dict[int, tuple[str | None, ErrorDetail]] = {}
    for index, raw in enumerate(raws):
        try:
            valid.append((index, adapter.validate_python(raw)))
        except ValidationError as exc:
            own_id = raw.get(id_field) if isinstance(raw, dict) else None
            invalid[index] = (own_id if isinstance(own_id, str) else None, _parse_error(exc))
    return valid, invalid


def _tally(results: list[Any]) -> dict[str, int]:
    return {
        "created": sum(r.status == "created" for r in results),
        "duplicates": sum(r.status == "duplicate" for r in results),
        "errors": sum(r.status == "error" for r in results),
    }


# --- links ---------------------------------------------------------------------------------
def _link_out(state: AppState, link: Link) -> LinkOut:
    return LinkOut(
        id=link.id,
        url=link.url,
        delivery_id=link.delivery_id,
        utm=link.utm,
        label=link.label,
        created_at=link.created_at,
        tracked_url=tracked_url(state.settings, link.id),
    )


@router.post("/links", response_model=LinkOut, status_code=201)
def post_link(
    body: LinkIn,
    account: Account = Depends(current_account),
    session: Session = Depends(db_session, scope="function"),
    state: AppState = Depends(app_state),
) -> LinkOut:
    """A tracked link; its `tracked_url` names no friend (per-friend URLs: `tracked-url`)."""
    link = create_link(
        session,
        account.id,
        body.url,
        delivery_id=body.delivery_id,
        utm=body.utm,
        label=body.label,
    )
    return _link_out(state, link)


@router.get("/links", response_model=LinkPage)
def get_links(
    cursor: str | None = None,
    limit: int = 50,
    delivery_id: int | None = None,
    account: Account = Depends(current_account),
    session: Session = Depends(db_session, scope="function"),
    state: AppState = Depends(app_state),
) -> LinkPage:
    """Newest first."""
    links = list_links(
        session,
        account.id,
        before_id=_cursor_id(cursor),
        limit=check_limit(limit),
        delivery_id=delivery_id,
    )
    return LinkPage(
        items=[_link_out(state, link) for link in links],
        next_cursor=encode_cursor(links[-1].id) if len(links) == limit else None,
    )


@router.get("/links/{link_id}", response_model=LinkDetail)
def get_one_link(
    link_id: int,
    account: Account = Depends(current_account),
    session: Session = Depends(db_session, scope="function"),
    state: AppState = Depends(app_state),
) -> LinkDetail:
    link = get_link(session, account.id, link_id)
    if link is None:
        raise not_found("link")
    return LinkDetail(
        **_link_out(state, link).model_dump(), clicks=ClickCounts(**click_counts(session, link.id))
    )


@router.get("/links/{link_id}/tracked-url", response_model=TrackedUrlOut)
def get_tracked_url(
    link_id: int,
    line_user_id: str | None = None,
    account: Account = Depends(current_account),
    session: Session = Depends(db_session, scope="function"),
    state: AppState = Depends(app_state),
) -> TrackedUrlOut:
    """The link's URL for one friend (their clicks count as theirs), or without a friend."""
    link = get_link(session, account.id, link_id)
    if link is None:
        raise not_found("link")
    friend_id = None
    if line_user_id is not None:
        friend = get_friend(session, account.id, line_user_id)
        if friend is None:
            raise ApiError(404, "not_found", "no friend with this LINE user ID", "line_user_id")
        friend_id = friend.id
    return TrackedUrlOut(
        link_id=link.id,
        friend_id=friend_id,
        line_user_id=line_user_id,
        url=tracked_url(state.settings, link.id, friend_id),
    )


# --- conversions ---------------------------------------------------------------------------
def _conversion_out(conversion: Conversion, items: list[ConversionItem]) -> ConversionOut:
    return ConversionOut(
        id=conversion.id,
        order_id=conversion.order_id,
        friend_id=conversion.friend_id,
        line_user_id=conversion.line_user_id,
        member_id=conversion.member_id,
        amount=conversion.amount_jpy,
        occurred_at=conversion.occurred_at,
        received_at=conversion.received_at,
        attributed=conversion.attributed_click_id is not None,
        attributed_click_id=conversion.attributed_click_id,
        attributed_link_id=conversion.attributed_link_id,
        attributed_delivery_id=conversion.attributed_delivery_id,
        items=[
            ConversionItemOut(
                sku=i.sku, name=i.name, unit_price=i.unit_price_jpy, quantity=i.quantity
            )
            for i in items
        ],
    )


@router.post(
    "/conversions",
    response_model=ConversionResult,
    status_code=201,
    responses={
        200: {"description": "a repeat of a stored order (duplicate: true)"},
        409: {"description": "the order_id was reported with other content"},
    },
)
def post_conversion(
    body: ConversionIn,
    response: Response,
    account: Account = Depends(current_account),
    session: Session = Depends(db_session, scope="function"),
) -> ConversionResult:
    """Report an order. Idempotent per order_id: a repeat answers 200 with the stored order
    (`duplicate: true`), a repeat with other content 409. Orders of people enishi does not
    know are stored unattributed and say so."""
    (outcome,) = conv.record_conversions(session, account, [body])
    if outcome.error is not None:
        raise outcome.error
    assert outcome.conversion is not None
    if outcome.status == "duplicate":
        response.status_code = 200
    conversion = outcome.conversion
    return ConversionResult(
        status=outcome.status,
        duplicate=outcome.status == "duplicate",
        friend_found=conversion.friend_id is not None,
        attributed=conversion.attributed_click_id is not None,
        unattributed_reason=conv.unattributed_reason(conversion),
        conversion=_conversion_out(conversion, outcome.items),
    )


@router.post("/conversions/batch", response_model=ConversionBatchOut)
def post_conversions(
    body: ConversionBatchIn,
    account: Account = Depends(current_account),
    session: Session = Depends(db_session, scope="function"),
) -> ConversionBatchOut:
    """Up to 5,000 orders; one result per order. Valid orders are stored even when others
    in the batch fail."""
    valid, invalid = _split_batch(body.conversions, _conversion_in, "order_id")
    results = {
        index: ConversionBatchItem(index=index, status="error", order_id=own_id, error=error)
        for index, (own_id, error) in invalid.items()
    }
    outcomes = conv.record_conversions(session, account, [entry for _, entry in valid])
    for (index, entry), outcome in zip(valid, outcomes, strict=True):
        item = ConversionBatchItem(index=index, status=outcome.status, order_id=entry.order_id)
        if outcome.error is not None:
            item.error = _error(outcome.error)
        elif outcome.conversion is not None:
            item.conversion_id = outcome.conversion.id
            item.friend_found = outcome.conversion.friend_id is not None
            item.attributed = outcome.conversion.attributed_click_id is not None
        results[index] = item
    final = [results[index] for index in sorted(results)]
    return ConversionBatchOut(results=final, **_tally(final))


@router.get("/conversions", response_model=ConversionPage)
def get_conversions(
    cursor: str | None = None,
    limit: int = 50,
    attributed: bool | None = Query(None, description="only (un)attributed orders"),
    account: Account = Depends(current_account),
    session: Session = Depends(db_session, scope="function"),
) -> ConversionPage:
    rows = conv.list_conversions(
        session,
        account.id,
        before_id=_cursor_id(cursor),
        limit=check_limit(limit),
        attributed=attributed,
    )
    return ConversionPage(
        items=[_conversion_out(c, items) for c, items in rows],
        next_cursor=encode_cursor(rows[-1][0].id) if len(rows) == limit else None,
    )


# --- custom events -------------------------------------------------------------------------
def _event_out(event: CustomEvent) -> EventOut:
    return EventOut.model_validate(event)


@router.post(
    "/events",
    response_model=EventResult,
    status_code=201,
    responses={
        200: {"description": "a repeat of a stored event_id (duplicate: true)"},
        409: {"description": "the event_id was reported with other content"},
    },
)
def post_event(
    body: EventIn,
    response: Response,
    account: Account = Depends(current_account),
    session: Session = Depends(db_session, scope="function"),
) -> EventResult:
    """Report a custom event. `event_id` makes it idempotent (generated when absent)."""
    (outcome,) = ev.record_events(session, account.id, [body])
    if outcome.error is not None:
        raise outcome.error
    assert outcome.event is not None
    if outcome.status == "duplicate":
        response.status_code = 200
    return EventResult(
        status=outcome.status,
        duplicate=outcome.status == "duplicate",
        friend_found=outcome.event.friend_id is not None,
        event=_event_out(outcome.event),
    )


@router.post("/events/batch", response_model=EventBatchOut)
def post_events(
    body: EventBatchIn,
    account: Account = Depends(current_account),
    session: Session = Depends(db_session, scope="function"),
) -> EventBatchOut:
    """Up to 5,000 events; one result per event; valid ones are stored."""
    valid, invalid = _split_batch(body.events, _event_in, "event_id")
    results = {
        index: EventBatchItem(index=index, status="error", event_id=own_id, error=error)
        for index, (own_id, error) in invalid.items()
    }
    outcomes = ev.record_events(session, account.id, [entry for _, entry in valid])
    for (index, entry), outcome in zip(valid, outcomes, strict=True):
        item = EventBatchItem(index=index, status=outcome.status, event_id=entry.event_id)
        if outcome.error is not None:
            item.error = _error(outcome.error)
        elif outcome.event is not None:
            item.id = outcome.event.id
            item.friend_found = outcome.event.friend_id is not None
        results[index] = item
    final = [results[index] for index in sorted(results)]
    return EventBatchOut(results=final, **_tally(final))


@router.get("/events", response_model=EventPage)
def get_events(
    name: str | None = None,
    line_user_id: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
    account: Account = Depends(current_account),
    session: Session = Depends(db_session, scope="function"),
) -> EventPage:
    events = ev.list_events(
        session,
        account.id,
        before_id=_cursor_id(cursor),
        limit=check_limit(limit),
        name=name,
        line_user_id=line_user_id,
    )
    return EventPage(
        items=[_event_out(e) for e in events],
        next_cursor=encode_cursor(events[-1].id) if len(events) == limit else None,
    )
