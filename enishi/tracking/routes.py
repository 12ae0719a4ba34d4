"""`GET|HEAD /c/{token}`: the public tracked-link endpoint.

The hottest path enishi serves, so it is a raw ASGI endpoint: no dependency injection, no
Request/Response objects, no ORM; `enishi.hot_paths` calls it before the framework. A genuine token answers 302 to
the link's destination after the click is stored; HEAD requests, link-preview crawlers and
prefetches are redirected without counting. Anything else gets a friendly 404 page in
Japanese and English, never a redirect.
"""

from __future__ import annotations

import logging
from functools import cache
from typing import Any

from fastapi import APIRouter
from jinja2 import Environment, PackageLoader, select_autoescape

from enishi.tracking.clicks import click_time, is_crawler, recorder_for, request_facts

log = logging.getLogger(__name__)

router = APIRouter()

_NO_STORE = (b"cache-control", b"no-store, private")


@cache
def not_found_page() -> bytes:
    """The page is the same for everyone: rendered once."""
    env = Environment(loader=PackageLoader("enishi", "templates"), autoescape=select_autoescape())
    html = env.get_template("tracking/link_not_found.html").render(
        title_ja="リンクが見つかりません", title_en="Link not found"
    )
    return html.encode("utf-8")


async def _not_found(method: str, send: Any) -> None:
    page = not_found_page()
    await send(
        {
            "type": "http.response.start",
            "status": 404,
            "headers": [
                (b"content-type", b"text/html; charset=utf-8"),
                (b"content-length", str(len(page)).encode()),
                _NO_STORE,
                (b"x-robots-tag", b"noindex"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": b"" if method == "HEAD" else page})


async def _redirect(location: bytes, send: Any) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 302,
            "headers": [(b"location", location), _NO_STORE, (b"content-length", b"0")],
        }
    )
    await send({"type": "http.response.body", "body": b""})


class ClickEndpoint:
    """The ASGI app behind the route (Starlette calls a non-function endpoint as ASGI)."""

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        recorder = recorder_for(scope["app"])
        method = scope["method"]
        ids = recorder.codec.decode(scope["path_params"]["token"])
        if ids is None:
            return await _not_found(method, send)
        link_id, friend_id = ids
        target = await recorder.target(link_id)
        if target is None:
            return await _not_found(method, send)
        if method == "HEAD":
            return await _redirect(target.location, send)
        facts = request_facts(scope["headers"])
        if is_crawler(facts):
            return await _redirect(target.location, send)
        try:
            await recorder.record(
                link_id,
                friend_id,
                target.account_id,
                click_time(facts, recorder.trust_sim_time),
                facts.user_agent,
            )
        except Exception:  # the friend still reaches the page; the failure is logged loudly
            log.exception("a click on link %d could not be stored", link_id)
        await _redirect(target.location, send)


click_endpoint = ClickEndpoint()
router.add_route(
    "/c/{token:path}", click_endpoint, methods=["GET", "HEAD"], include_in_schema=False
)
