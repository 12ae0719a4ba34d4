"""LINE's refusals in one shape, read from LINE's error bodies in one place.

Every LINE answer that is not a success becomes a LineError, whichever endpoint or client
(the SDK, the dispatcher's own HTTP client, LINE Login) saw it, so callers word their
problems from the same fields.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson


@dataclass(frozen=True)
class LineErrorDetail:
    """One of LINE's `details`: which property of the request it refused, and why."""

    message: str = ""
    property: str = ""


@dataclass(frozen=True)
class LineErrorBody:
    message: str | None
    details: tuple[LineErrorDetail, ...]


def parse_error_body(body: bytes | str | None) -> LineErrorBody:
    """LINE's error body: {"message", "details": [{"message", "property"}]} from the
    Messaging API, {"error", "error_description"} from LINE Login; anything else (HTML from
    a proxy, an empty body) is an error without LINE's words."""
    try:
        data = orjson.loads(body) if body else {}
    except orjson.JSONDecodeError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    message = data.get("message") or data.get("error_description")
    details = data.get("details")
    return LineErrorBody(
        message=str(message) if message else None,
        details=tuple(
            LineErrorDetail(
                message=str(detail.get("message") or ""),
                property=str(detail.get("property") or ""),
            )
            for detail in (details if isinstance(details, list) else [])
            if isinstance(detail, dict)
        ),
    )


class LineError(Exception):
    """LINE refused (`status` is LINE's HTTP status) or could not be reached (`status` is
    None and `message` names what failed, e.g. ConnectTimeoutError)."""

    def __init__(
        self,
        status: int | None,
        message: str,
        details: tuple[LineErrorDetail, ...] = (),
        request_id: str | None = None,
    ) -> None:
        super().__init__(f"LINE {status or 'unreachable'}: {message}")
        self.status = status
        self.message = message
        self.details = details
        self.request_id = request_id

    @property
    def reached(self) -> bool:
        return self.status is not None

    @classmethod
    def from_answer(
        cls,
        status: int,
        body: bytes | str | None,
        *,
        reason: str | None = None,
        request_id: str | None = None,
    ) -> LineError:
        """The error LINE answered; its message falls back to the HTTP reason."""
        parsed = parse_error_body(body)
        message = parsed.message or reason or f"HTTP {status}"
        return cls(status, message, parsed.details, request_id)

    @classmethod
    def unreachable(cls, error: BaseException) -> LineError:
        return cls(None, type(error).__name__)
