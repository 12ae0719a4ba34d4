"""LINE's error bodies: `{"message": ..., "details": [{"message", "property"}]}`."""

from __future__ import annotations

from dataclasses import dataclass, field

RATE_LIMITED = "The API rate limit has been exceeded. Try again later."
MONTHLY_LIMIT = "You have reached your monthly limit."
AUTH_FAILED = (
    "Authentication failed. Confirm that the access token in the authorization header is valid."
)
NOT_FOUND = "Not found"
INVALID_REPLY_TOKEN = "Invalid reply token"  # noqa: S105 - a message, not a secret
RETRY_KEY_ACCEPTED = "The retry key is already accepted"


@dataclass
class LineError(Exception):
    """An error answered with LINE's status code and body."""

    status: int
    message: str
    details: list[dict[str, str]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    extra: dict = field(default_factory=dict)

    def body(self) -> dict:
        body: dict = {"message": self.message}
        if self.details:
            body["details"] = self.details
        body.update(self.extra)
        return body


def validation_error(problems: list[tuple[str, str]]) -> LineError:
    """400 for a list of (property path, message) problems, worded as LINE words them."""
    return LineError(
        400,
        f"The request body has {len(problems)} error(s)",
        [{"message": message, "property": prop} for prop, message in problems],
    )


def bad_request(message: str) -> LineError:
    return LineError(400, message)


def not_found(message: str = NOT_FOUND) -> LineError:
    return LineError(404, message)


def invalid_property(prop: str) -> LineError:
    """A body property LINE cannot bind, e.g. a malformed user ID. `prop` is written as the
    reference shows it for that endpoint (`'to'`, `to[1]`, `'userIds[0]'`)."""
    return LineError(
        400, f"The property, {prop}, in the request body is invalid (line: -, column: -)"
    )


def invalid_parameter(name: str) -> LineError:
    """A malformed path or query parameter, e.g. a userId that is no user ID."""
    return LineError(400, f"The value for the '{name}' parameter is invalid")
