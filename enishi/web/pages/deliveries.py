"""配信 Deliveries: the list, a delivery's page with live progress and its report, and
schedule / pause / resume / cancel / delete. Compose (a new delivery or a draft) lives in
deliveries_compose.py, routed first so `/deliveries/new` is not taken for a delivery id.

Creating, editing, scheduling and controlling go through enishi.delivery's service and
scheduler (the same rules as the REST API); every change is audited."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy.orm import Session

from enishi.delivery import analysis, scheduler, service
from enishi.delivery.models import Delivery
from enishi.delivery.progress import counts
from enishi.deps import AppState, app_state, db_session
from enishi.kit.errors import ApiError
from enishi.operators.roles import Role
from enishi.web.context import AccountPage, account_page
from enishi.web.errors import PageError
from enishi.web.i18n import N_
from enishi.web.pages import deliveries_compose
from enishi.web.pages.deliveries_common import (
    BASE,
    RUNNING,
    STATUS_LABELS,
    STATUSES,
    find_delivery,
    label_context,
)
from enishi.web.pages.deliveries_compose import draft_form, schedule_draft
from enishi.web.pages.deliveries_preview import preview_config
from enishi.web.pages.deliveries_report import (
    holdout_figure,
    holdout_message,
    outcome_figure,
    rates_figure,
)
from enishi.web.render import redirect_to, render

router = APIRouter()
router.include_router(deliveries_compose.router)

PAGE_SIZE = 20


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
            **label_context(page),
            "items": items,
            "older": older,
            "status": status,
            "statuses": STATUSES,
        },
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
    delivery = find_delivery(session, page, delivery_id)
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
            **label_context(page),
            "delivery": delivery,
            "progress": _progress(session, delivery),
            "report": report,
            "holdout_message": report and holdout_message(page, report.holdout_comparison),
            "charts": charts,
            "running": delivery.status in RUNNING,
            "preview_config": preview_config(page, delivery.arms),
        },
    )


@router.get(BASE + "/{delivery_id}/progress")
def delivery_progress(
    delivery_id: int,
    page: AccountPage = Depends(account_page(Role.VIEWER)),
    session: Session = Depends(db_session, scope="function"),
) -> JSONResponse:
    """What the detail page polls while a delivery runs: status and recipient counts."""
    delivery = find_delivery(session, page, delivery_id)
    return JSONResponse(_progress(session, delivery), headers={"cache-control": "no-store"})


def _not_now(delivery: Delivery) -> PageError:
    """The refusal of an action the delivery's state does not allow (the scheduler's 409)."""
    return PageError(
        409,
        N_("この配信は今の状態（{state}）では操作できません。"),
        state=STATUS_LABELS.get(delivery.status, delivery.status),
    )


CONTROLS = {  # the path's verb → the scheduler's function (which audits it)
    "schedule": None,
    "pause": scheduler.pause,
    "resume": scheduler.resume,
    "cancel": scheduler.cancel,
}


def _control(verb: str):
    function = CONTROLS[verb]

    def control(
        request: Request,
        delivery_id: int,
        page: AccountPage = Depends(account_page(Role.MARKETER)),
        session: Session = Depends(db_session, scope="function"),
        state: AppState = Depends(app_state),
    ) -> Response:
        delivery = find_delivery(session, page, delivery_id, lock=True)
        if function is None:  # schedule from the detail page: problems go to the form
            return schedule_draft(
                request, page, session, state, delivery, draft_form(session, page, delivery)
            )
        try:
            function(session, delivery, actor=page.actor)
        except ApiError as error:
            raise _not_now(delivery) from error
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
    delivery = find_delivery(session, page, delivery_id, lock=True)
    try:
        service.delete_delivery(session, delivery, actor=page.actor)
    except ApiError as error:
        raise _not_now(delivery) from error
    return redirect_to(request, f"/accounts/{page.account.id}/deliveries", notice="saved")
