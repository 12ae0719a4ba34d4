"""API-key authentication for /api/v1: `Authorization: Bearer ensk_...`; the key is the
actor of the request's audited actions."""

from __future__ import annotations

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from enishi.accounts.models import Account
from enishi.accounts.service import account_for_api_key
from enishi.audit.actor import Actor, client_ip
from enishi.deps import db_session
from enishi.kit.errors import ApiError


def current_account(
    request: Request, session: Session = Depends(db_session, scope="function")
) -> Account:
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    found = account_for_api_key(session, key.strip()) if scheme.lower() == "bearer" else None
    if found is None:
        raise ApiError(
            401, "unauthorized", "a valid API key is required (Authorization: Bearer ensk_...)"
        )
    account, api_key = found
    request.state.actor = Actor.api_key(api_key.id, client_ip(request))
    # The key's last-used touch is committed at once: the request's own transaction must
    # not hold the write lock while the handler asks LINE (docs/decisions/0101).
    session.commit()
    return account


def current_actor(request: Request, account: Account = Depends(current_account)) -> Actor:
    """The API key of this request (authenticated once: FastAPI caches current_account)."""
    return request.state.actor
