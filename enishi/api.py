"""/api/v1: every domain's REST router, with OpenAPI at /api/v1/openapi.json."""

from __future__ import annotations

from fastapi import APIRouter

from enishi.accounts.routes import router as account_router


def api_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1")
    router.include_router(account_router)
    return router
