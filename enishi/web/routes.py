"""The dashboard's router: every page module, behind the CSRF check. Add new modules here."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from enishi.web.csrf import csrf_protect
from enishi.web.pages import (
    audit,
    auth,
    clicks,
    deliveries,
    friends,
    operators,
    overview,
    password,
    routes,
    segments,
    settings,
)

PAGE_MODULES = [
    auth,
    password,
    overview,
    friends,
    segments,
    deliveries,
    clicks,
    routes,
    settings,
    operators,
    audit,
]


def web_router() -> APIRouter:
    router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)])
    for module in PAGE_MODULES:
        router.include_router(module.router)
    return router
