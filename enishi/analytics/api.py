"""/api/v1/analytics: click recency / frequency analysis (JSON and CSV), the segment a bucket
range makes, and the account overview (docs/analytics.md)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from sqlalchemy.orm import Session

from enishi.accounts.auth import current_account, current_actor
from enishi.accounts.models import Account
from enishi.analytics import click_segments as cs
from enishi.analytics.click_reports import frequency_report, recency_report
from enishi.analytics.clicks import (
    DEFAULT_EDGES,
    ClickAnalysis,
    ClickAnalysisParams,
    analyse_clicks,
    as_of_moment,
)
from enishi.analytics.csv_export import analysis_csv
from enishi.analytics.overview import overview, period_days
from enishi.analytics.schemas import (
    ClickSegmentIn,
    ClickSegmentOut,
    FrequencyOut,
    OverviewOut,
    RecencyOut,
)
from enishi.audit.actor import Actor
from enishi.db.base import utcnow
from enishi.delivery import quota
from enishi.deps import AppState, app_state, db_session
from enishi.kit.errors import ApiError

router = APIRouter(prefix="/analytics", tags=["analytics"])

AS_OF_HELP = (
    "YYYY-MM-DD (the end of that day in the account's time zone) or a date-time with an "
    "offset. Default: the end of the day outcome_days ago (outcome=after), else of yesterday."
)


def _as_of(value: str | None) -> date | datetime | None:
    if value is None:
        return None
    try:
        if len(value) == 10:
            return date.fromisoformat(value)
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(422, "invalid", AS_OF_HELP, "as_of") from None


def _edges(value: str | None) -> tuple[int, ...]:
    if value is None:
        return DEFAULT_EDGES
    try:
        return tuple(int(part) for part in value.split(","))
    except ValueError:
        raise ApiError(
            422, "invalid", "frequency_edges: whole numbers separated by commas", "frequency_edges"
        ) from None


def click_params(
    as_of: str | None = Query(None, description=AS_OF_HELP),
    lookback_days: int = Query(90, description="the period: this many days up to as-of"),
    bucket_days: int = Query(7, description="recency bucket width: 0–7, 8–14, …"),
    frequency_edges: str | None = Query(
        None, description="frequency bucket starts, e.g. 1,2,3,5,10 (the last is 'N+')"
    ),
    outcome: Literal["after", "period"] = Query(
        "after", description="after: purchases in the outcome_days after as-of; period: in it"
    ),
    outcome_days: int = Query(30),
    min_group: int = Query(100, description="the fewest friends on each side of a cut"),
    delivery_id: int | None = Query(None, description="only clicks on this delivery's links"),
    link_id: int | None = Query(None, description="only clicks on this link"),
    account: Account = Depends(current_account),
) -> ClickAnalysisParams:
    return ClickAnalysisParams(
        as_of=as_of_moment(account, _as_of(as_of), outcome, outcome_days),
        lookback_days=lookback_days,
        bucket_days=bucket_days,
        frequency_edges=_edges(frequency_edges),
        outcome=outcome,
        outcome_days=outcome_days,
        min_group=min_group,
        click_filter=cs.ClickFilter(delivery_id, link_id),
    )


def _analyse(kind: str, params: ClickAnalysisParams, account: Account, session: Session):
    return analyse_clicks(session, account, params, (kind,))


@router.get("/clicks/recency", response_model=RecencyOut, response_model_by_alias=True)
def get_recency(
    params: ClickAnalysisParams = Depends(click_params),
    account: Account = Depends(current_account),
    session: Session = Depends(db_session, scope="function"),
) -> dict[str, Any]:
    """Days since each following friend's last click, bucketed, with purchases; and the
    point where the purchase rate falls off."""
    return recency_report(_analyse("recency", params, account, session))


@router.get("/clicks/frequency", response_model=FrequencyOut, response_model_by_alias=True)
def get_frequency(
    params: ClickAnalysisParams = Depends(click_params),
    account: Account = Depends(current_account),
    session: Session = Depends(db_session, scope="function"),
) -> dict[str, Any]:
    """Clicks per following friend in the period, bucketed, with purchases; and the click
    count from which friends buy more."""
    return frequency_report(_analyse("frequency", params, account, session))


def _csv(kind: str, analysis: ClickAnalysis) -> Response:
    name = f"click-{kind}-{analysis.params.as_of:%Y%m%d}.csv"
    return Response(
        analysis_csv(kind, analysis),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{name}"'},
    )


@router.get("/clicks/recency.csv", responses={200: {"content": {"text/csv": {}}}})
def get_recency_csv(
    params: ClickAnalysisParams = Depends(click_params),
    account: Account = Depends(current_account),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    """The recency analysis as CSV (UTF-8 with BOM, for Excel)."""
    return _csv("recency", _analyse("recency", params, account, session))


@router.get("/clicks/frequency.csv", responses={200: {"content": {"text/csv": {}}}})
def get_frequency_csv(
    params: ClickAnalysisParams = Depends(click_params),
    account: Account = Depends(current_account),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    """The frequency analysis as CSV (UTF-8 with BOM, for Excel)."""
    return _csv("frequency", _analyse("frequency", params, account, session))


@router.post("/clicks/segment", response_model=ClickSegmentOut, status_code=201)
def post_click_segment(
    body: ClickSegmentIn,
    account: Account = Depends(current_account),
    actor: Actor = Depends(current_actor),
    session: Session = Depends(db_session, scope="function"),
) -> dict[str, Any]:
    """Save a recency or frequency range as a segment, ready to deliver to."""
    if (body.recency is None) == (body.frequency is None):
        raise ApiError(422, "invalid", "give recency or frequency (one of them)", "recency")
    flt = cs.ClickFilter(body.delivery_id, body.link_id)
    if body.recency is not None:
        r = body.recency
        definition = cs.recency_definition(
            r.min_days, r.max_days, flt, include_never=r.include_never
        )
        label = cs.recency_label(r.min_days, r.max_days, flt, r.include_never)
    else:
        f = body.frequency
        assert f is not None
        definition = cs.frequency_definition(f.min_clicks, f.max_clicks, f.lookback_days, flt)
        label = cs.frequency_label(f.min_clicks, f.max_clicks, f.lookback_days, flt)
    name = body.name or label
    segment, count = cs.save_click_segment(session, account.id, name, definition, actor=actor)
    return {
        "id": segment.id,
        "name": segment.name,
        "definition": segment.definition,
        "count": count,
        "created_at": segment.created_at,
    }


@router.get("/overview", response_model=OverviewOut, response_model_by_alias=True)
def get_overview(
    from_: date | None = Query(None, alias="from", description="first day (account time zone)"),
    to: date | None = Query(None, description="last day; default today"),
    account: Account = Depends(current_account),
    session: Session = Depends(db_session, scope="function"),
    state: AppState = Depends(app_state),
) -> dict[str, Any]:
    """Friends, blocks, member links, messages vs quota, clicks, purchases and ROAS per day."""
    first, last = period_days(account, from_, to)
    now = utcnow()
    usage = None
    if first <= now.astimezone(quota.LINE_MONTH_ZONE).date() <= last:
        usage = quota.usage(session, account, state.line_for(account), now=now)
    return overview(session, account, first, last, quota=usage)
