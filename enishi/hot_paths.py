"""The two endpoints that take LINE-scale traffic, answered before FastAPI sees the request.

`GET|HEAD /c/{token}` (a friend opens a tracked link) and `POST /webhooks/line/{channel_id}`
(LINE delivers events) are raw ASGI endpoints. Through FastAPI each request still crossed
its middleware stack (error and exception middleware, an exit stack, telemetry checks)
and its router, which together cost about as much as the endpoint itself. `EnishiApp`
matches these two paths first, with the routes' own patterns, and calls the endpoints
directly behind Starlette's `ServerErrorMiddleware`, so an unexpected error still gets
the same plain 500. Everything else, other methods on these paths included (405), goes
through FastAPI as before; the routes stay registered there too.

Middleware added to the app, and FastAPI's OpenTelemetry instrumentation, do not see these
two paths: they answer with exactly their own headers (docs/tracking.md, docs/webhooks.md).
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI
from starlette.middleware.errors import ServerErrorMiddleware

from enishi.tracking.routes import click_endpoint
from enishi.webhook.routes import line_webhook

# Starlette's own patterns for "/c/{token:path}" and "/webhooks/line/{channel_id}"
_CLICK = re.compile(r"^/c/(?P<token>.*)$")
_WEBHOOK = re.compile(r"^/webhooks/line/(?P<channel_id>[^/]+)$")


class EnishiApp(FastAPI):
    """FastAPI with the hot paths dispatched first."""

    _hot: tuple[ServerErrorMiddleware, ServerErrorMiddleware] | None = None

    def _hot_endpoints(self) -> tuple[ServerErrorMiddleware, ServerErrorMiddleware]:
        """(clicks, webhooks) behind the error middleware FastAPI itself would build, made
        on first use like FastAPI's stack, once the app's handlers are installed."""
        if self._hot is None:
            handler = self.exception_handlers.get(500) or self.exception_handlers.get(Exception)
            self._hot = (
                ServerErrorMiddleware(click_endpoint, handler=handler, debug=self.debug),
                ServerErrorMiddleware(line_webhook, handler=handler, debug=self.debug),
            )
        return self._hot

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and not scope.get("root_path") and not self.root_path:
            method = scope["method"]
            if method == "POST":
                match = _WEBHOOK.match(scope["path"])
                if match is not None:
                    scope["app"] = self
                    scope["path_params"] = match.groupdict()
                    return await self._hot_endpoints()[1](scope, receive, send)
            elif method == "GET" or method == "HEAD":
                match = _CLICK.match(scope["path"])
                if match is not None:
                    scope["app"] = self
                    scope["path_params"] = match.groupdict()
                    return await self._hot_endpoints()[0](scope, receive, send)
        await super().__call__(scope, receive, send)
