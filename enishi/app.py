"""The enishi ASGI application (FastAPI) and its lifecycle."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator

from fastapi import APIRouter, FastAPI
from sqlalchemy.orm import sessionmaker
from starlette.routing import BaseRoute

from enishi import __version__
from enishi.api import api_router, public_routers
from enishi.config import Settings, get_settings
from enishi.db.engine import make_engine
from enishi.db.writer import GroupWriter
from enishi.db.writes import track_writes
from enishi.deps import AppState
from enishi.events.service import install
from enishi.hot_paths import EnishiApp
from enishi.kit.crypto import SecretBox
from enishi.kit.errors import install_error_handlers
from enishi.web import install_page_handlers, web_routes
from enishi.wiring import wire
from enishi.worker.registry import lanes
from enishi.worker.runner import Lanes


def build_state(settings: Settings) -> AppState:
    wire()
    engine = make_engine(settings.database_url, sqlite_synchronous=settings.sqlite_synchronous)
    track_writes(engine)  # the LINE gateway refuses to call LINE inside a write transaction
    secret_key = settings.resolved_secret_key()
    state = AppState(
        settings=settings,
        engine=engine,
        sessions=sessionmaker(engine, expire_on_commit=False),
        writer=GroupWriter(engine),
        box=SecretBox(secret_key),
        secret_key=secret_key,
    )
    install(state.sessions, state)
    return state


def create_app(settings: Settings | None = None, *, run_worker: bool = True) -> FastAPI:
    settings = settings or get_settings()
    state = build_state(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await state.writer.start()
        worker = Lanes(state, lanes()) if run_worker else None
        if worker is not None:
            worker.start()
        app.state.worker = worker
        try:
            yield
        finally:
            if worker is not None:
                worker.stop()
            await state.writer.stop()
            state.close()

    app = EnishiApp(
        routes=list(_routes()),
        title="enishi",
        version=__version__,
        description="LINE Official Account CRM / LINE公式アカウントCRM",
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/v1/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.enishi = state
    install_error_handlers(app)
    install_page_handlers(app)
    return app


@functools.cache
def _routes() -> tuple[BaseRoute, ...]:
    """Every route, analysed once per process. FastAPI works out each route's dependencies
    and models when its router is included (a third of a second for enishi's); nothing in
    that depends on the app, so every app of the process (tests build hundreds) shares it.
    The price: `app.dependency_overrides` does not reach these routes (FastAPI takes the
    overrides from the router the routes were included in); tests vary Settings instead.

    EnishiApp answers the webhook intake and /c/ before FastAPI (enishi/hot_paths.py);
    their routes come first here too, for the requests it hands on; the dashboard at /
    (docs/web.md) comes last."""
    router = APIRouter()
    for public in public_routers():
        router.include_router(public)
    router.include_router(api_router())
    router.include_router(web_routes())
    return tuple(router.routes)
