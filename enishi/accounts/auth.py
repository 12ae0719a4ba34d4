"""API-key authentication for /api/v1: `Authorization: Bearer ensk_...`."""

from __future__ import annotations

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from enishi.accounts.models import Account
from enishi.accounts.service import account_for_api_key
from enishi.deps import db_session
from enishi.kit.errors import ApiError


def current_account(
    request: Request, session: Session = Depends(db_session, scope="function")
) -> Account:
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    account = account_for_api_key(session, key.strip()) if scheme.lower() == "bearer" else None
    if account is None:
        raise ApiError(
            401, "unauthorized", "a valid API key is required (Authorization: Bearer ensk_...)"
        )
    # The key's last-used touch is committed at once: the request's own transaction must
    # not hold the write lock while the handler asks LINE (docs/decisions/0101).
    session.commit()
    return account
