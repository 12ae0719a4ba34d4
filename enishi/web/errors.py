"""Errors a page answers as HTML: PageError (403/404/429…), LoginRequired (→ /login) and
PasswordChangeRequired (→ /password)."""

from __future__ import annotations


class PageError(Exception):
    """Raise from a page or dependency; answered by error.html with this status. `message`
    is Japanese and marked with N_ (it is translated when shown)."""

    def __init__(self, status: int, message: str, **values: object) -> None:
        super().__init__(message)
        self.status, self.message, self.values = status, message, values


class LoginRequired(Exception):
    """No valid session: the handler redirects to /login?next=<this page>."""


class PasswordChangeRequired(Exception):
    """The operator still has a one-time password: every page but /password (and logout)
    redirects there until it is changed."""
