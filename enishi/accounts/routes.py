"""/api/v1/account: the API key's own account, its settings and keys."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from sqlalchemy import select
from sqlalchemy.orm import Session

from enishi.accounts import service
from enishi.accounts.auth import current_account, current_actor
from enishi.accounts.models import Account, ApiKey
from enishi.accounts.schemas import AccountOut, AccountPatch, ApiKeyCreated, ApiKeyIn, ApiKeyOut
from enishi.audit.actor import Actor
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
    actor: Actor = Depends(current_actor),
    state: AppState = Depends(app_state),
    session: Session = Depends(db_session, scope="function"),
) -> Account:
    session.add(account)
    values = patch.model_dump(exclude_unset=True)
    service.update_settings(session, account, values=values, box=state.box, actor=actor)
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
    actor: Actor = Depends(current_actor),
    session: Session = Depends(db_session, scope="function"),
) -> ApiKeyCreated:
    key, full = service.create_api_key(session, account, body.name, actor=actor)
    return ApiKeyCreated(**ApiKeyOut.model_validate(key).model_dump(), key=full)


@router.delete("/api-keys/{key_id}", status_code=204)
def revoke_api_key(
    key_id: int,
    account: Account = Depends(current_account),
    actor: Actor = Depends(current_actor),
    session: Session = Depends(db_session, scope="function"),
) -> None:
    key = session.get(ApiKey, key_id)
    if key is None or key.account_id != account.id:
        raise not_found("API key")
    service.revoke_api_key(session, key, actor=actor)
