"""/api/v1/account: the API key's own account, its settings and keys."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from sqlalchemy import select
from sqlalchemy.orm import Session

from enishi.accounts.auth import current_account
from enishi.accounts.models import Account, ApiKey
from enishi.accounts.schemas import AccountOut, AccountPatch, ApiKeyCreated, ApiKeyIn, ApiKeyOut
from enishi.accounts.service import create_api_key
from enishi.db.base import utcnow
from enishi.deps import AppState, app_state, db_session
from enishi.kit.errors import not_found

router = APIRouter(prefix="/account", tags=["account"])


@router.get("", response_model=AccountOut)
def get_account(account: Account = Depends(current_account)) -> Account:
    return account


@router.patch("", response_model=AccountOut)
def patch_account(
    patch: AccountPatch,
    account: Account = Depends(current_account),
    state: AppState = Depends(app_state),
    session: Session = Depends(db_session, scope="function"),
) -> Account:
    changes = patch.model_dump(exclude_unset=True)
    if (secret := changes.pop("channel_secret", None)) is not None:
        account.channel_secret_sealed = state.box.seal(secret)
    if (token := changes.pop("access_token", None)) is not None:
        account.access_token_sealed = state.box.seal(token)
    for key, value in changes.items():
        setattr(account, key, value)
    session.add(account)
    session.flush()
    return account


@router.get("/api-keys", response_model=list[ApiKeyOut])
def list_api_keys(
    account: Account = Depends(current_account),
    session: Session = Depends(db_session, scope="function"),
) -> list[ApiKey]:
    return list(
        session.scalars(select(ApiKey).where(ApiKey.account_id == account.id).order_by(ApiKey.id))
    )


@router.post("/api-keys", response_model=ApiKeyCreated, status_code=201)
def new_api_key(
    body: ApiKeyIn,
    account: Account = Depends(current_account),
    session: Session = Depends(db_session, scope="function"),
) -> ApiKeyCreated:
    key, full = create_api_key(session, account, body.name)
    return ApiKeyCreated(**ApiKeyOut.model_validate(key).model_dump(), key=full)


@router.delete("/api-keys/{key_id}", status_code=204)
def revoke_api_key(
    key_id: int,
    account: Account = Depends(current_account),
    session: Session = Depends(db_session, scope="function"),
) -> None:
    key = session.get(ApiKey, key_id)
    if key is None or key.account_id != account.id:
        raise not_found("API key")
    key.revoked_at = key.revoked_at or utcnow()
