"""/api/v1/segments: validate and preview definitions; saved segments (docs/segments.md)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session

from enishi.accounts.auth import current_account, current_actor
from enishi.accounts.models import Account
from enishi.audit.actor import Actor
from enishi.deps import db_session
from enishi.kit.errors import ApiError
from enishi.kit.pagination import check_limit, decode_cursor, encode_cursor
from enishi.segments import service
from enishi.segments.language import SegmentInvalid
from enishi.segments.models import Segment
from enishi.segments.schemas import (
    DefinitionIn,
    DuplicateIn,
    PreviewOut,
    SegmentIn,
    SegmentOut,
    SegmentPage,
    SegmentPatch,
    ValidationOut,
)

router = APIRouter(prefix="/segments", tags=["segments"])


@router.post("/validate", response_model=ValidationOut)
def validate(
    body: DefinitionIn,
    account: Account = Depends(current_account),
    session: Session = Depends(db_session, scope="function"),
) -> dict[str, Any]:
    """Every error of a definition, each with the path of its node; 200 either way."""
    try:
        parsed, _ = service.checked(session, account.id, body.definition, now=body.now)
    except SegmentInvalid as exc:
        return {"ok": False, "errors": exc.errors}
    return {"ok": True, "errors": [], "definition": parsed.to_json()}


@router.post("/preview", response_model=PreviewOut)
def preview(
    body: DefinitionIn,
    account: Account = Depends(current_account),
    session: Session = Depends(db_session, scope="function"),
) -> service.Preview:
    """The count a send would target (following friends only) and 20 of them."""
    return service.preview(session, account.id, body.definition, now=body.now, prefix="definition.")


@router.get("", response_model=SegmentPage)
def list_segments(
    cursor: str | None = None,
    limit: int = 100,
    account: Account = Depends(current_account),
    session: Session = Depends(db_session, scope="function"),
) -> dict[str, Any]:
    after = decode_cursor(cursor)
    if after is not None and type(after) is not int:
        raise ApiError(400, "invalid_cursor", "the cursor is not valid", "cursor")
    limit = check_limit(limit)
    items = service.list_segments(session, account.id, after_id=after, limit=limit + 1)
    more = len(items) > limit
    items = items[:limit]
    return {"items": items, "next_cursor": encode_cursor(items[-1].id) if more else None}


@router.post("", response_model=SegmentOut, status_code=201)
def create_segment(
    body: SegmentIn,
    account: Account = Depends(current_account),
    actor: Actor = Depends(current_actor),
    session: Session = Depends(db_session, scope="function"),
) -> Segment:
    return service.create_segment(session, account.id, body.name, body.definition, actor=actor)


@router.get("/{segment_id}", response_model=SegmentOut)
def get_segment(
    segment_id: int,
    account: Account = Depends(current_account),
    session: Session = Depends(db_session, scope="function"),
) -> Segment:
    return service.get_segment(session, account.id, segment_id)


@router.patch("/{segment_id}", response_model=SegmentOut)
def patch_segment(
    segment_id: int,
    body: SegmentPatch,
    account: Account = Depends(current_account),
    actor: Actor = Depends(current_actor),
    session: Session = Depends(db_session, scope="function"),
) -> Segment:
    segment = service.get_segment(session, account.id, segment_id)
    return service.update_segment(
        session, segment, name=body.name, definition=body.definition, actor=actor
    )


@router.delete("/{segment_id}", status_code=204)
def delete_segment(
    segment_id: int,
    account: Account = Depends(current_account),
    actor: Actor = Depends(current_actor),
    session: Session = Depends(db_session, scope="function"),
) -> None:
    service.delete_segment(
        session, service.get_segment(session, account.id, segment_id), actor=actor
    )


@router.post("/{segment_id}/duplicate", response_model=SegmentOut, status_code=201)
def duplicate_segment(
    segment_id: int,
    body: DuplicateIn | None = None,
    account: Account = Depends(current_account),
    actor: Actor = Depends(current_actor),
    session: Session = Depends(db_session, scope="function"),
) -> Segment:
    segment = service.get_segment(session, account.id, segment_id)
    return service.duplicate_segment(session, segment, body.name if body else None, actor=actor)


@router.get("/{segment_id}/preview", response_model=PreviewOut)
def preview_saved(
    segment_id: int,
    account: Account = Depends(current_account),
    session: Session = Depends(db_session, scope="function"),
) -> service.Preview:
    segment = service.get_segment(session, account.id, segment_id)
    return service.preview(session, account.id, segment.definition, prefix="definition.")
