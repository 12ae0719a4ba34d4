"""Who did something and from where: built by each door (a dashboard page, a REST request,
a CLI command) and handed to services as `actor=`, so a service writes the audit entry of
its change itself, whichever door the change came through (docs/decisions/0400)."""

from __future__ import annotations

import getpass
from dataclasses import dataclass

from starlette.requests import HTTPConnection

CLI = "cli"


@dataclass(frozen=True)
class Actor:
    """One of: an operator, an API key, a CLI user; `origin` is the request's IP address
    or "cli"."""

    origin: str
    operator_id: int | None = None
    api_key_id: int | None = None
    cli_user: str | None = None

    @classmethod
    def operator(cls, operator_id: int, ip: str) -> Actor:
        return cls(origin=ip, operator_id=operator_id)

    @classmethod
    def api_key(cls, api_key_id: int, ip: str) -> Actor:
        return cls(origin=ip, api_key_id=api_key_id)

    @classmethod
    def cli(cls) -> Actor:
        """The user running the command, as the operating system names them."""
        try:
            user = getpass.getuser()
        except (KeyError, OSError):  # a container's user with no name
            user = "unknown"
        return cls(origin=CLI, cli_user=user)


def client_ip(request: HTTPConnection) -> str:
    return request.client.host if request.client else "unknown"
