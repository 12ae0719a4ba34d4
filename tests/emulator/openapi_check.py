"""Check emulator responses against LINE's own OpenAPI files (../shared/line-openapi/).

openapi-core does the validation; nothing here restates LINE's schemas.
"""

from __future__ import annotations

import functools
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import httpx
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse

SPEC_DIR = Path(__file__).resolve().parents[3] / "shared" / "line-openapi"


@functools.cache
def spec(name: str) -> OpenAPI:
    return OpenAPI.from_file_path(str(SPEC_DIR / f"{name}.yml"))


def check_response(response: httpx.Response, spec_name: str = "messaging-api") -> None:
    """Raise if `response` (to the request it answers) breaks the spec's response schema."""
    request = response.request
    url = urlsplit(str(request.url))
    openapi = spec(spec_name)
    server = openapi.spec["servers"][0]["url"]
    mock_request = MockRequest(
        server,
        request.method.lower(),
        url.path,
        args=dict(parse_qsl(url.query)),
        headers=dict(request.headers),
        data=request.content or None,
        content_type=request.headers.get("content-type", "application/json"),
    )
    mock_response = MockResponse(
        response.content,
        status_code=response.status_code,
        headers=dict(response.headers),
        content_type=response.headers.get("content-type", "application/json").split(";")[0],
    )
    openapi.validate_response(mock_request, mock_response)
