"""/api/v1: every domain's REST router, with OpenAPI at /api/v1/openapi.json."""

from __future__ import annotations

from fastapi import APIRouter

from enishi.accounts.routes import router as account_router
from enishi.analytics.api import router as analytics_router
from enishi.delivery.api import router as delivery_router
from enishi.friends.api import router as friends_router
from enishi.inflow.api import router as inflow_router
from enishi.members.api import router as members_router
from enishi.segments.api import router as segments_router
from enishi.tracking.api import router as tracking_router
from enishi.webhook.api import router as webhook_router


def api_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1")
    for domain in (
        account_router,
        friends_router,
        inflow_router,
        members_router,
        tracking_router,
        webhook_router,
        segments_router,
        delivery_router,
        analytics_router,
    ):
        router.include_router(domain)
    return router


def public_routers() -> list[APIRouter]:
    """Pages and endpoints outside /api/v1: LINE webhooks, tracked links, route pages,
    member-link pages."""
    from enishi.inflow.routes import router as inflow_pages
    from enishi.members.routes import router as member_pages
    from enishi.tracking.routes import router as tracking_pages
    from enishi.webhook.routes import router as webhook_intake

    return [webhook_intake, tracking_pages, inflow_pages, member_pages]
