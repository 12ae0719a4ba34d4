"""/api/v1 friends, their timelines, CSV import/export, attribute definitions and tags."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session

from enishi.accounts.auth import current_account, current_actor
from enishi.accounts.models import Account
from enishi.audit.actor import Actor
from enishi.db.base import utcnow
from enishi.deps import AppState, app_state, db_session
from enishi.friends import attribute_defs, queries, service
from enishi.friends.csv_export import export_csv, record_export
from enishi.friends.csv_io import import_csv
from enishi.friends.models import Friend
from enishi.friends.queries import FriendFilter
from enishi.friends.schemas import (
    AttributeDefIn,
    AttributeDefOut,
    AttributeDefPatch,
    FriendCount,
    FriendDetail,
    FriendPage,
    FriendPatch,
    ImportReport,
    TagOut,
    TimelinePage,
)
from enishi.friends.timeline import timeline
from enishi.kit.errors import ApiError
from enishi.kit.pagination import check_limit

router = APIRouter(tags=["friends"])
MAX_IMPORT_BYTES = 256 * 1024 * 1024  # larger files: `enishi friends import` reads from disk


def friend_filter(
    q: str | None = Query(
        None,
        max_length=200,
        description="display name contains, or an exact LINE user ID / member ID",
    ),
    status: Literal["following", "blocked", "unknown"] | None = None,
    tag: str | None = Query(None, max_length=100),
    route_id: int | None = None,
    has_member: bool | None = None,
) -> FriendFilter:
    return FriendFilter(q=q, status=status, tag=tag, route_id=route_id, has_member=has_member)


def _friend(session: Session, account: Account, line_user_id: str) -> Friend:
    friend = service.get_friend(session, account.id, line_user_id)
    if friend is None:
        raise ApiError(
            404, "not_found", f"no friend {line_user_id} in this account", "line_user_id"
        )
    return friend


@router.get("/friends", response_model=FriendPage)
def list_friends(
    filters: FriendFilter = Depends(friend_filter),
    cursor: str | None = None,
    limit: int = 100,
    account: Account = Depends(current_account),
    session: Session = Depends(db_session, scope="function"),
) -> dict[str, Any]:
    """Friends in id order, a page at a time (no total: see /friends/count)."""
    items, next_cursor = queries.search_friends(
        session, account.id, filters, cursor, check_limit(limit)
    )
    return {"items": items, "next_cursor": next_cursor}


@router.get("/friends/count", response_model=FriendCount)
def count_friends(
    filters: FriendFilter = Depends(friend_filter),
    account: Account = Depends(current_account),
    session: Session = Depends(db_session, scope="function"),
) -> dict[str, int]:
    return {"count": queries.count_friends(session, account.id, filters)}


@router.get(
    "/friends/export.csv",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}}},
)
def export_friends(
    filters: FriendFilter = Depends(friend_filter),
    account: Account = Depends(current_account),
    actor: Actor = Depends(current_actor),
    session: Session = Depends(db_session, scope="function"),
    state: AppState = Depends(app_state),
) -> StreamingResponse:
    """CSV (UTF-8 with BOM, for Excel) of the friends matching the filters, streamed."""
    account_id, timezone = account.id, account.timezone
    record_export(session, actor=actor, account_id=account_id, filters=filters)
    session.commit()  # end the request's transaction now: the stream reads in its own

    def body():
        with state.sessions() as reader:
            yield from export_csv(reader, account_id, timezone, filters)

    name = f"friends-{account.channel_id}-{utcnow():%Y%m%d}.csv"
    return StreamingResponse(
        body(),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{name}"'},
    )


@router.post("/friends/import", response_model=ImportReport)
def import_friends(
    file: UploadFile = File(..., description="CSV, UTF-8 (with or without BOM) or Shift_JIS"),
    apply: Literal["all", "valid", "none"] = Form(
        "all",
        description="all: only if every row is valid; valid: the valid rows; none: validate only",
    ),
    account: Account = Depends(current_account),
    actor: Actor = Depends(current_actor),
    session: Session = Depends(db_session, scope="function"),
    state: AppState = Depends(app_state),
) -> dict[str, Any]:
    """Validate and import a CSV of friends; the report names each bad row and column."""
    size = file.size
    if size is None:
        file.file.seek(0, 2)
        size = file.file.tell()
    if size > MAX_IMPORT_BYTES:
        raise ApiError(
            413,
            "too_large",
            f"the file is over {MAX_IMPORT_BYTES // 2**20} MiB: "
            "import it with `enishi friends import`",
            "file",
        )
    # The import writes in short transactions of its own; the request's must not hold
    # SQLite's write lock (API-key bookkeeping) meanwhile.
    session.commit()
    return import_csv(state.sessions, account.id, file.file, apply=apply, actor=actor)


@router.get("/friends/{line_user_id}", response_model=FriendDetail)
def get_friend(
    line_user_id: str,
    account: Account = Depends(current_account),
    session: Session = Depends(db_session, scope="function"),
) -> dict[str, Any]:
    return queries.friend_detail(session, _friend(session, account, line_user_id))


@router.patch("/friends/{line_user_id}", response_model=FriendDetail)
def patch_friend(
    line_user_id: str,
    patch: FriendPatch,
    account: Account = Depends(current_account),
    actor: Actor = Depends(current_actor),
    session: Session = Depends(db_session, scope="function"),
) -> dict[str, Any]:
    """Attributes, tags and notes, all or nothing; each change shows on the timeline."""
    friend = _friend(session, account, line_user_id)
    service.update_friend(
        session,
        friend,
        attributes=patch.attributes,
        tags_add=patch.tags_add,
        tags_remove=patch.tags_remove,
        notes=patch.notes if "notes" in patch.model_fields_set else service.UNCHANGED,
        actor=actor,
    )
    return queries.friend_detail(session, friend)


@router.get("/friends/{line_user_id}/timeline", response_model=TimelinePage)
def friend_timeline(
    line_user_id: str,
    cursor: str | None = None,
    limit: int = 50,
    account: Account = Depends(current_account),
    session: Session = Depends(db_session, scope="function"),
) -> dict[str, Any]:
    """Everything that happened to the friend, newest first."""
    friend = _friend(session, account, line_user_id)
    items, next_cursor = timeline(session, friend, cursor, check_limit(limit))
    return {"items": items, "next_cursor": next_cursor}


# --- attribute definitions -----------------------------------------------------------------
@router.get("/attributes", response_model=list[AttributeDefOut], tags=["attributes"])
def list_attributes(
    account: Account = Depends(current_account),
    session: Session = Depends(db_session, scope="function"),
) -> list[Any]:
    return attribute_defs.list_attribute_defs(session, account.id)


@router.post("/attributes", response_model=AttributeDefOut, status_code=201, tags=["attributes"])
def create_attribute(
    body: AttributeDefIn,
    account: Account = Depends(current_account),
    session: Session = Depends(db_session, scope="function"),
) -> Any:
    return attribute_defs.create_attribute_def(
        session, account.id, key=body.key, label=body.label, type=body.type, choices=body.choices
    )


@router.patch("/attributes/{key}", response_model=AttributeDefOut, tags=["attributes"])
def patch_attribute(
    key: str,
    body: AttributeDefPatch,
    account: Account = Depends(current_account),
    session: Session = Depends(db_session, scope="function"),
) -> Any:
    """Label, type or choices. A type change is refused while friends hold values."""
    return attribute_defs.update_attribute_def(
        session, account.id, key, label=body.label, type=body.type, choices=body.choices
    )


@router.delete("/attributes/{key}", tags=["attributes"])
def delete_attribute(
    key: str,
    account: Account = Depends(current_account),
    session: Session = Depends(db_session, scope="function"),
) -> dict[str, Any]:
    """The definition and every friend's value of it."""
    return {
        "key": key,
        "values_deleted": attribute_defs.delete_attribute_def(session, account.id, key),
    }


# --- tags ----------------------------------------------------------------------------------
@router.get("/tags", response_model=list[TagOut], tags=["tags"])
def list_tags(
    account: Account = Depends(current_account),
    session: Session = Depends(db_session, scope="function"),
) -> list[dict[str, Any]]:
    return queries.tag_counts(session, account.id)


@router.delete("/tags/{name:path}", tags=["tags"])
def delete_tag(
    name: str,
    account: Account = Depends(current_account),
    session: Session = Depends(db_session, scope="function"),
) -> dict[str, Any]:
    """Removes the tag from every friend (each friend's timeline records it)."""
    return {"name": name, "friends_untagged": service.delete_tag(session, account.id, name)}
