"""友だちCSV: export (streamed, audited) and import with the validation report.

The import reads the file as enishi.friends.csv_io does for the API: pass one validates,
pass two writes only when every row is valid. When rows are refused nothing changes; the
uploaded file is kept for an hour (a private temporary file named by a random token and the
operator) so that "apply the valid rows" needs no second upload."""

from __future__ import annotations

import re
import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, StreamingResponse
from sqlalchemy.orm import Session

from enishi.db.base import utcnow
from enishi.deps import AppState, app_state, db_session
from enishi.friends.api import MAX_IMPORT_BYTES
from enishi.friends.csv_export import export_csv, record_export
from enishi.friends.csv_io import import_csv
from enishi.kit.errors import ApiError
from enishi.operators.roles import Role
from enishi.web.context import AccountPage, account_page
from enishi.web.errors import PageError
from enishi.web.i18n import N_
from enishi.web.pages.friend_filters import list_filters
from enishi.web.pages.friends_problems import report_rows
from enishi.web.render import render

router = APIRouter()

BASE = "/accounts/{account_id}/friends"
UPLOAD_DIR = Path(tempfile.gettempdir()) / "enishi-imports"
UPLOAD_TTL_SECONDS = 3600
TOKEN = re.compile(r"^[0-9a-f]{32}$")
FILE_ERRORS = {  # csv_read's refusals of a whole file, by code
    "empty_file": N_("ファイルが空です。1行目に見出し（line_user_id など）が必要です。"),
    "not_csv": N_(
        "CSVファイルではありません。Excelでは「CSV UTF-8（コンマ区切り）」で保存してください。"
    ),
    "unknown_encoding": N_("文字コードを判別できません。UTF-8かShift_JISで保存してください。"),
}


@router.get(BASE + "/export.csv")
def export_friends(
    request: Request,
    page: AccountPage = Depends(account_page(Role.MARKETER)),
    session: Session = Depends(db_session, scope="function"),
    state: AppState = Depends(app_state),
) -> StreamingResponse:
    """The friends matching the list's filters as CSV (UTF-8 with BOM), read a chunk at a
    time in a session of its own; the export is audited before the first byte."""
    filters = list_filters(request)
    account_id, timezone = page.account.id, page.account.timezone
    record_export(session, actor=page.actor, account_id=account_id, filters=filters)
    session.commit()  # the audit entry is written whether or not the download completes

    def body():
        with state.sessions() as reader:
            yield from export_csv(reader, account_id, timezone, filters)

    name = f"friends-{page.account.channel_id}-{utcnow():%Y%m%d}.csv"
    return StreamingResponse(
        body(),
        media_type="text/csv; charset=utf-8",
        headers={
            "content-disposition": f'attachment; filename="{name}"',
            "cache-control": "no-store",
        },
    )


def _upload_path(page: AccountPage, token: str) -> Path:
    if not TOKEN.match(token):
        raise PageError(
            404,
            N_("アップロードされたファイルが見つかりません。もう一度アップロードしてください。"),
        )
    return UPLOAD_DIR / f"{page.account.id}-{page.operator.id}-{token}.csv"


def _forget_old_uploads() -> None:
    cutoff = time.time() - UPLOAD_TTL_SECONDS
    for path in UPLOAD_DIR.glob("*.csv"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
        except FileNotFoundError:  # another process removed it first
            pass


def _import_page(
    request: Request,
    page: AccountPage,
    *,
    report: dict[str, Any] | None = None,
    token: str | None = None,
    file_name: str = "",
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "friends/import.html",
        page,
        {
            "report": report,
            "problems": report_rows(report["errors"]) if report else [],
            "token": token,
            "file_name": file_name,
            "error": error,
        },
        status=status,
    )


@router.get(BASE + "/import")
def import_form(
    request: Request, page: AccountPage = Depends(account_page(Role.MARKETER))
) -> HTMLResponse:
    return _import_page(request, page)


def _run_import(
    session: Session, state: AppState, page: AccountPage, path: Path, apply: str
) -> dict[str, Any]:
    """import_csv in its own short transactions (the request's must not hold SQLite's write
    lock meanwhile); an import that wrote anything is audited by import_csv."""
    session.commit()
    with path.open("rb") as source:
        return import_csv(state.sessions, page.account.id, source, apply=apply, actor=page.actor)


@router.post(BASE + "/import")
def upload(
    request: Request,
    file: UploadFile | None = File(None),
    check_only: str = Form(""),
    page: AccountPage = Depends(account_page(Role.MARKETER)),
    session: Session = Depends(db_session, scope="function"),
    state: AppState = Depends(app_state),
) -> HTMLResponse:
    """Validate the upload and, when every row is valid (and not only checking), import it."""
    if file is None or not file.filename:
        return _import_page(request, page, error=N_("CSVファイルを選んでください。"), status=422)
    UPLOAD_DIR.mkdir(mode=0o700, exist_ok=True)
    _forget_old_uploads()
    token = secrets.token_hex(16)
    path = _upload_path(page, token)
    with path.open("wb") as out:  # copied a MiB at a time; stops past the limit
        while (chunk := file.file.read(1 << 20)) and out.tell() <= MAX_IMPORT_BYTES:
            out.write(chunk)
        size = out.tell()
    if size > MAX_IMPORT_BYTES:
        path.unlink()
        return _import_page(
            request,
            page,
            status=413,
            error=N_(
                "ファイルが大きすぎます（256MiBまで）。コマンド enishi friends import を使ってください。"
            ),
        )
    try:
        report = _run_import(session, state, page, path, "none" if check_only else "all")
    except ApiError as refused:
        path.unlink()
        return _import_page(
            request,
            page,
            status=422,
            error=FILE_ERRORS.get(refused.code, N_("ファイルを読み込めません。")),
        )
    keep = not report["applied"] and report["valid_rows"] > 0
    if not keep:
        path.unlink()
    return _import_page(
        request,
        page,
        report=report,
        token=token if keep else None,
        file_name=file.filename,
        status=422 if report["error_count"] and not report["applied"] else 200,
    )


@router.post(BASE + "/import/apply")
def apply_upload(
    request: Request,
    token: str = Form(""),
    apply: str = Form("valid"),
    file_name: str = Form(""),
    page: AccountPage = Depends(account_page(Role.MARKETER)),
    session: Session = Depends(db_session, scope="function"),
    state: AppState = Depends(app_state),
) -> HTMLResponse:
    """The file just checked, applied: every row (`all`) or only the valid rows (`valid`)."""
    if apply not in ("all", "valid"):
        raise PageError(422, N_("入力が正しくありません。"))
    path = _upload_path(page, token)
    if not path.exists():
        raise PageError(
            404,
            N_("アップロードされたファイルが見つかりません。もう一度アップロードしてください。"),
        )
    try:
        report = _run_import(session, state, page, path, apply)
    finally:
        path.unlink(missing_ok=True)
    return _import_page(request, page, report=report, file_name=file_name[:200])
