"""クリック分析 Click recency / frequency analysis (seed 000): for a chosen period and an
optional delivery / link filter, how long ago friends last clicked and how often, with the
purchase rate of each bucket and the detected fall-off; a bucket range becomes a segment in
one click (marketers, audited); the same numbers as CSV.

The numbers come from enishi.analytics.clicks (one aggregate query); the settings are read
in clicks_form.py, the tables and charts made in clicks_views.py; this module routes and
links."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from enishi.analytics.click_segments import (
    frequency_definition,
    frequency_label,
    never_definition,
    recency_definition,
    recency_label,
    save_click_segment,
)
from enishi.analytics.csv_export import analysis_csv
from enishi.delivery.models import Delivery
from enishi.deps import db_session
from enishi.kit.errors import ApiError
from enishi.operators.roles import Role
from enishi.segments.models import Segment
from enishi.segments.service import count_segment
from enishi.tracking.models import Link
from enishi.web.context import AccountPage, account_page
from enishi.web.errors import PageError
from enishi.web.i18n import N_
from enishi.web.pages.clicks_form import (
    FIELD_ERRORS,
    AnalysisForm,
    read_form,
    run_analysis,
    whole_number,
)
from enishi.web.pages.clicks_views import frequency_view, range_options, recency_view
from enishi.web.render import redirect_to, render

router = APIRouter()

BASE = "/accounts/{account_id}/analysis/clicks"
LOOKBACK_CHOICES = (30, 60, 90, 120, 180, 365)
BUCKET_CHOICES = (1, 3, 5, 7, 10, 14, 30)
OUTCOME_DAY_CHOICES = (7, 14, 30, 60, 90)
FILTER_OPTIONS = 50  # deliveries / links offered in the filter selects
AUTO_NAME_TRIES = 20


def _filter_options(session: Session, page: AccountPage, form: AnalysisForm) -> dict[str, Any]:
    """A few recent deliveries and links for the filter (plus the chosen ones)."""
    account_id = page.account.id
    deliveries = list(
        session.execute(
            select(Delivery.id, Delivery.name)
            .where(Delivery.account_id == account_id)
            .order_by(Delivery.id.desc())
            .limit(FILTER_OPTIONS)
        )
    )
    links_query = select(Link.id, Link.label, Link.url).where(Link.account_id == account_id)
    if form.delivery_id is not None:
        links_query = links_query.where(Link.delivery_id == form.delivery_id)
    links = list(session.execute(links_query.order_by(Link.id.desc()).limit(FILTER_OPTIONS)))
    if form.delivery_id is not None and form.delivery_id not in {d.id for d in deliveries}:
        deliveries += list(
            session.execute(
                select(Delivery.id, Delivery.name).where(
                    Delivery.account_id == account_id, Delivery.id == form.delivery_id
                )
            )
        )
    if form.link_id is not None and form.link_id not in {link.id for link in links}:
        links += list(
            session.execute(
                select(Link.id, Link.label, Link.url).where(
                    Link.account_id == account_id, Link.id == form.link_id
                )
            )
        )
    return {"deliveries": deliveries, "links": links}


def _created_segment(session: Session, page: AccountPage, raw: str | None) -> dict | None:
    if not raw or not raw.isdigit():
        return None
    segment = session.get(Segment, int(raw))
    if segment is None or segment.account_id != page.account.id:
        return None
    return {
        "segment": segment,
        "friends": count_segment(session, page.account.id, segment.definition),
    }


def _analysis_page(
    request: Request,
    page: AccountPage,
    session: Session,
    form: AnalysisForm,
    *,
    segment_form: dict[str, Any] | None = None,
    status: int = 200,
) -> HTMLResponse:
    analysis = run_analysis(session, page, form)
    context: dict[str, Any] = {
        "form": form,
        "query": form.query(),
        "query_string": urlencode(form.query()),
        "choices": {
            "lookback": sorted({*LOOKBACK_CHOICES, form.lookback_days}),
            "bucket": sorted({*BUCKET_CHOICES, form.bucket_days}),
            "outcome_days": sorted({*OUTCOME_DAY_CHOICES, form.outcome_days}),
        },
        "filters": _filter_options(session, page, form),
        "segment_request": segment_form or {},
        "created": _created_segment(session, page, request.query_params.get("created")),
        "analysis": None,
    }
    if analysis is not None:
        zone = ZoneInfo(page.account.timezone)
        params = analysis.params
        recency, frequency = recency_view(analysis, page), frequency_view(analysis, page)
        start, end = params.outcome_window()
        context.update(
            analysis=analysis,
            recency=recency,
            frequency=frequency,
            meta=recency["report"],
            as_of_day=(params.as_of - timedelta(seconds=1)).astimezone(zone).date(),
            since_day=params.since.astimezone(zone).date(),
            outcome_from=start.astimezone(zone).date(),
            outcome_to=(end - timedelta(seconds=1)).astimezone(zone).date(),
            range_options={
                "recency": range_options(recency["rows"], "recency"),
                "frequency": range_options(frequency["rows"], "frequency"),
            },
        )
    if form.errors:
        status = 422
    return render(request, "clicks/analysis.html", page, context, status=status)


@router.get(BASE)
def clicks_page(
    request: Request,
    page: AccountPage = Depends(account_page(Role.VIEWER)),
    session: Session = Depends(db_session, scope="function"),
) -> HTMLResponse:
    return _analysis_page(request, page, session, read_form(request.query_params))


@router.get(BASE + ".csv")
def clicks_csv(
    request: Request,
    kind: str = "recency",
    page: AccountPage = Depends(account_page(Role.VIEWER)),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    """The numbers of the page (buckets, then per day or per click count) for Excel."""
    if kind not in ("recency", "frequency"):
        raise PageError(404, N_("ページが見つかりません。"))
    form = read_form(request.query_params)
    analysis = run_analysis(session, page, form, (kind,))
    if analysis is None:
        raise PageError(422, next(iter(form.errors.values())))
    day = (
        (analysis.params.as_of - timedelta(seconds=1))
        .astimezone(ZoneInfo(page.account.timezone))
        .date()
    )
    return Response(
        analysis_csv(kind, analysis),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="click-{kind}-{day}.csv"'},
    )


# --- a segment from a bucket range ---------------------------------------------------------
def range_definition(
    kind: str, start: str, end: str, form: AnalysisForm
) -> tuple[dict[str, Any], str]:
    """(segment definition, default name) of the friends in the chosen bucket range."""
    flt = form.click_filter
    if kind == "recency":
        if start == "never":
            if end != "never":
                raise ApiError(422, "invalid_range", "never is a range of its own", "range")
            return never_definition(flt), f"{flt.label()}クリックなし"
        low, _ok = whole_number(start, None)
        if low is None:
            raise ApiError(422, "invalid_range", "no start", "range")
        if end in ("older", "never"):
            include_never = end == "never"
            return (
                recency_definition(low, None, flt, include_never=include_never),
                recency_label(low, None, flt, include_never),
            )
        high, _ok = whole_number(end, None)
        if high is None or high < low:
            raise ApiError(422, "invalid_range", "the end is before the start", "range")
        return recency_definition(low, high, flt), recency_label(low, high, flt)
    if kind == "frequency":
        low, ok_low = whole_number(start, None)
        high, ok_high = whole_number(end, None)
        if low is None or not (ok_low and ok_high):
            raise ApiError(422, "invalid_range", "no start", "range")
        return (
            frequency_definition(low, high, form.lookback_days, flt),
            frequency_label(low, high, form.lookback_days, flt),
        )
    raise ApiError(422, "invalid_range", "kind is recency or frequency", "range")


def _save(session: Session, page: AccountPage, name: str, auto: bool, definition):
    """Save under `name`; an automatic name that is taken gets " (2)", " (3)"…"""
    tries = [name] + ([f"{name} ({n})" for n in range(2, AUTO_NAME_TRIES)] if auto else [])
    for attempt in tries:
        try:
            return save_click_segment(
                session, page.account.id, attempt, definition, actor=page.actor
            )
        except ApiError as error:
            if error.status != 409 or attempt == tries[-1]:
                raise
    raise AssertionError("unreachable")


class SegmentRequest(BaseModel):
    """The segment form: a bucket range of one analysis, whose settings travel with it."""

    kind: str = ""
    range_from: str = ""
    range_to: str = ""
    name: str = ""
    as_of: str = ""
    lookback_days: str = ""
    bucket_days: str = ""
    outcome: str = ""
    outcome_days: str = ""
    min_group: str = ""
    frequency_edges: str = ""
    delivery_id: str = ""
    link_id: str = ""


@router.post(BASE + "/segments")
def create_click_segment(
    request: Request,
    data: Annotated[SegmentRequest, Form()],
    page: AccountPage = Depends(account_page(Role.MARKETER)),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    form = read_form(data.model_dump())
    kind, start, end, typed = data.kind, data.range_from, data.range_to, data.name.strip()
    segment_form = {"kind": kind, "from": start, "to": end, "name": typed}
    try:
        if form.errors:
            raise ApiError(422, "invalid", "the analysis settings are invalid", "range")
        definition, label = range_definition(kind, start, end, form)
        segment, friends = _save(session, page, typed or label, not typed, definition)
    except ApiError as error:
        session.rollback()
        field_name = "name" if error.field == "name" else "range"
        segment_form["error"] = FIELD_ERRORS[field_name]
        return _analysis_page(
            request, page, session, replace(form, errors={}), segment_form=segment_form, status=422
        )
    query = {**form.query(), "created": str(segment.id)}
    path = f"{BASE.format(account_id=page.account.id)}?{urlencode(query)}"
    return redirect_to(request, path, notice="saved")
