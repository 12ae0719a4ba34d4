"""The emulator's ASGI application: LINE's endpoints plus the `/_emulator/` control API."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from enishi.emulator.api import (
    audience,
    control,
    insight,
    messages,
    narrowcast,
    oauth,
    richmenu,
    richmenu_batch,
    users,
)
from enishi.emulator.api.base import JSONResponse
from enishi.emulator.runtime import Emulator

log = logging.getLogger(__name__)

SAVE_EVERY_S = 30.0


def create_app(emulator: Emulator) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await emulator.webhooks.start()
        tasks = [asyncio.create_task(_tick(emulator))]
        if emulator.state_file is not None:
            tasks.append(asyncio.create_task(_save_periodically(emulator)))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await emulator.simulator.aclose()
            await emulator.webhooks.stop()
            emulator.save()

    app = Starlette(
        routes=[
            *messages.routes,
            *narrowcast.routes,
            *users.routes,
            *richmenu_batch.routes,
            *richmenu.routes,
            *audience.routes,
            *insight.routes,
            *oauth.routes,
            *control.routes,
        ],
        exception_handlers={HTTPException: _http_error},
        lifespan=lifespan,
    )
    app.state.emulator = emulator
    return app


async def _http_error(request: Request, exc: HTTPException) -> Response:
    """Unknown paths and methods answer in LINE's body format, with a request id as every
    LINE response has."""
    message = "Not found" if exc.status_code == 404 else (exc.detail or "Error")
    return JSONResponse(
        {"message": message},
        status_code=exc.status_code,
        headers={"x-line-request-id": str(uuid.uuid4())},
    )


async def _tick(emulator: Emulator) -> None:
    """While simulated time runs, let the virtual friends live it."""
    if emulator.tick_seconds <= 0:
        return
    while True:
        await asyncio.sleep(emulator.tick_seconds)
        if emulator.state.clock.speed > 0:
            try:
                await emulator.simulator.run_until(emulator.state.clock.now())
            except Exception:
                log.exception("simulator tick failed")


async def _save_periodically(emulator: Emulator) -> None:
    while True:
        await asyncio.sleep(SAVE_EVERY_S)
        try:
            emulator.save()  # in the loop: the state must not change while it pickles
        except Exception:
            log.exception("saving emulator state failed")
