"""The yardstick for the tracked-link benchmark: a bare Starlette redirect, nothing stored."""

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse
from starlette.routing import Route


async def redirect(request: Request) -> RedirectResponse:
    return RedirectResponse("https://shop.example.com/sale", status_code=302)


app = Starlette(routes=[Route("/c/{token}", redirect)])
