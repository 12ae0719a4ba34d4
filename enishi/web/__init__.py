"""The web dashboard (docs/web.md): server-rendered pages at `/`."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from urllib.parse import urlencode

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from enishi.web.errors import LoginRequired, PageError, PasswordChangeRequired
from enishi.web.i18n import request_language, translate
from enishi.web.render import PLOTLY_URL, render
from enishi.web.routes import web_router

STATIC = Path(__file__).resolve().parent / "static"


def plotly_js_path() -> Path:
    """plotly.js as shipped inside the installed `plotly` package (no CDN: works offline)."""
    return Path(str(files("plotly") / "package_data" / "plotly.min.js"))


def web_routes() -> APIRouter:
    """The pages, plotly.js and /static."""
    router = APIRouter()
    router.include_router(web_router())
    router.add_api_route(PLOTLY_URL, _plotly_js, methods=["GET"], include_in_schema=False)
    router.mount("/static", StaticFiles(directory=STATIC), name="static")
    return router


def _plotly_js() -> FileResponse:
    return FileResponse(
        plotly_js_path(),
        media_type="text/javascript",
        headers={"cache-control": "public, max-age=604800"},
    )


def install_page_handlers(app: FastAPI) -> None:
    """Page errors render the error page; a missing login or password change redirects."""

    @app.exception_handler(PageError)
    async def _page_error(request: Request, exc: PageError) -> Response:
        lang = request_language(request)
        values = {k: translate(lang, v) if isinstance(v, str) else v for k, v in exc.values.items()}
        message = translate(lang, exc.message, **values)
        return render(
            request,
            "error.html",
            None,
            {"status": exc.status, "message": message},
            status=exc.status,
        )

    @app.exception_handler(LoginRequired)
    async def _login_required(request: Request, exc: LoginRequired) -> Response:
        return RedirectResponse(f"/login?{_come_back(request)}", status_code=303)

    @app.exception_handler(PasswordChangeRequired)
    async def _password_change_required(request: Request, exc: PasswordChangeRequired) -> Response:
        return RedirectResponse(f"/password?{_come_back(request)}", status_code=303)


def _come_back(request: Request) -> str:
    """`next=` this page (a form post comes back to the top page: it cannot be replayed)."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return urlencode({"next": target if request.method == "GET" else "/"})
