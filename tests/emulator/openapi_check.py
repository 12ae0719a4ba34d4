"""Check emulator responses against LINE's own OpenAPI files (../shared/line-openapi/).

openapi-core validates responses the spec documents; an error status a spec leaves out
(LINE documents few of its 400s) is checked against the spec's own ErrorResponse schema.
Nothing here restates LINE's schemas.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import yaml
from openapi_core import OpenAPI
from openapi_core.templating.responses.exceptions import ResponseNotFound
from openapi_core.testing import MockRequest, MockResponse
from openapi_schema_validator import OAS30Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

SPEC_DIR = Path(__file__).resolve().parents[3] / "shared" / "line-openapi"


@functools.cache
def spec(name: str) -> OpenAPI:
    return OpenAPI.from_file_path(str(SPEC_DIR / f"{name}.yml"))


@functools.cache
def document(name: str) -> dict[str, Any]:
    return yaml.safe_load((SPEC_DIR / f"{name}.yml").read_text(encoding="utf-8"))


@functools.cache
def schema_validator(spec_name: str, schema_name: str) -> OAS30Validator:
    """A validator for one component schema, with every `$ref` of its file resolvable."""
    uri = f"https://line.example/{spec_name}.yml"
    resource = Resource.from_contents(document(spec_name), default_specification=DRAFT4)
    registry = Registry().with_resource(uri, resource)
    return OAS30Validator({"$ref": f"{uri}#/components/schemas/{schema_name}"}, registry=registry)


def check_schema(spec_name: str, schema_name: str, value: Any) -> None:
    errors = sorted(schema_validator(spec_name, schema_name).iter_errors(value), key=str)
    if errors:
        error = errors[0]
        raise AssertionError(f"{schema_name}: {error.message} at {list(error.absolute_path)}")


def check_response(response: httpx.Response, spec_name: str = "messaging-api") -> None:
    """Raise if `response` (to the request it answers) breaks the spec."""
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
    try:
        openapi.validate_response(mock_request, mock_response)
    except ResponseNotFound:
        if response.status_code < 400:
            raise
        check_schema("messaging-api", "ErrorResponse", response.json())


# --- any answer by method/path/status: SDK calls, traffic recorded at the server ---

SPEC_NAMES = ("messaging-api", "manage-audience", "insight", "liff", "channel-access-token")
HOSTS = ("https://api.line.me", "https://api-data.line.me")  # api-data: blob endpoints


def check_exchange(
    method: str,
    path: str,
    status: int,
    body: bytes,
    *,
    query: str = "",
    content_type: str = "application/json",
) -> str | None:
    """Validate one answer against whichever LINE spec defines its operation (error statuses
    the operation leaves out: against ErrorResponse). Returns the spec's name, or None when
    no spec has the path (the emulator's /_emulator/ API, LINE Login's /oauth2/)."""
    import orjson
    from openapi_core.templating.paths.exceptions import (
        OperationNotFound,
        PathNotFound,
        ServerNotFound,
    )

    args = dict(parse_qsl(query))
    content_type = content_type.split(";")[0].strip() or "application/json"
    for name in SPEC_NAMES:
        for host in HOSTS:
            try:
                spec(name).validate_response(
                    MockRequest(host, method.lower(), path, args=args),
                    MockResponse(body, status_code=status, content_type=content_type),
                )
                return name
            except (PathNotFound, ServerNotFound, OperationNotFound):
                continue
            except ResponseNotFound:
                if status < 400:
                    raise
                check_schema(name, "ErrorResponse", orjson.loads(body))
                return name
    return None


class ResponseRecorder:
    """ASGI middleware keeping every HTTP answer of the wrapped app, so a test can check all
    of them against LINE's spec (`problems()`), the ones the SDK parsed included."""

    def __init__(self, app) -> None:
        self.app = app
        self.exchanges: list[tuple[str, str, str, int, str, bytes]] = []

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        answer: dict = {"status": 0, "content_type": "", "body": bytearray()}

        async def capture(message) -> None:
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
                for key, value in message.get("headers", []):
                    if key.lower() == b"content-type":
                        answer["content_type"] = value.decode("latin-1")
            elif message["type"] == "http.response.body":
                answer["body"] += message.get("body", b"")
            await send(message)

        await self.app(scope, receive, capture)
        self.exchanges.append(
            (
                scope["method"],
                scope["path"],
                scope.get("query_string", b"").decode("latin-1"),
                answer["status"],
                answer["content_type"],
                bytes(answer["body"]),
            )
        )

    def problems(self) -> list[str]:
        """One line per recorded answer that breaks the spec (unspecified paths skipped)."""
        out = []
        for method, path, query, status, content_type, body in self.exchanges:
            try:
                check_exchange(method, path, status, body, query=query, content_type=content_type)
            except Exception as error:  # noqa: BLE001 - collected and reported by the caller
                out.append(f"{method} {path}?{query} -> {status}: {error!r}"[:2000])
        return out
