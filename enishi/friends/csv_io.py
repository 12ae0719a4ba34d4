"""The friends CSV import (the file is read and checked in csv_read.py, the export and the
columns are csv_export.py's).

Two passes over the file: the first validates every row against the file and the database
and writes nothing; the second applies the rows a chunk per transaction (short
transactions, so webhooks keep being stored on SQLite during a long import). A file with an
invalid row changes nothing unless the caller asked for apply="valid"; apply="none" is a
dry run.
"""

from __future__ import annotations

from typing import IO, Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from enishi.audit.actor import Actor
from enishi.audit.service import record
from enishi.friends.attribute_defs import list_attribute_defs
from enishi.friends.csv_apply import Row, apply_rows, plan_rows
from enishi.friends.csv_read import MAX_ERRORS, Progress, Report, detect_encoding, records
from enishi.friends.models import AttributeDef
from enishi.kit.errors import ApiError

AUDITED = ("apply", "rows", "created", "updated", "unchanged", "error_count")  # report keys


def import_csv(
    sessions: sessionmaker[Session],
    account_id: int,
    source: IO[bytes],
    *,
    apply: str = "all",
    progress: Progress | None = None,
    max_errors: int = MAX_ERRORS,
    actor: Actor,
) -> dict[str, Any]:
    """Validate a CSV file of friends and (depending on `apply`) write it; the report.
    `source` is a seekable binary file (it is read twice and left open). An import that
    wrote anything is audited once it is done."""
    if apply not in ("all", "valid", "none"):
        raise ApiError(422, "invalid", "apply is all, valid or none", "apply")
    report = Report(apply=apply, max_errors=max_errors)
    report.encoding = detect_encoding(source)
    with sessions() as session:
        defs = {d.key: d for d in list_attribute_defs(session, account_id)}
        session.expunge_all()
        invalid = _validate(session, account_id, source, defs, report, progress)
    if invalid is None or apply == "none" or report.valid_rows == 0:
        return report.as_dict()  # a bad header, a dry run, or nothing to apply
    if apply == "all" and report.error_count:
        return report.as_dict()  # all or nothing: nothing
    _apply(sessions, account_id, source, defs, report, invalid, progress)
    result = report.as_dict()
    if result["applied"]:
        with sessions.begin() as session:
            record(
                session,
                actor=actor,
                action="friends.imported",
                account_id=account_id,
                target=f"account:{account_id}",
                details={key: result[key] for key in AUDITED},
            )
    return result


def _validate(
    session: Session,
    account_id: int,
    source: IO[bytes],
    defs: dict[str, AttributeDef],
    report: Report,
    progress: Progress | None,
) -> set[int] | None:
    """Pass one: every row checked, nothing written. The numbers of the rows that are valid
    on their own but collide with another row or the database; None for a bad header."""
    seen: dict[int, int] = {}  # LINE user ID as an int -> the row that had it first
    members: dict[str, int] = {}  # member ID -> the row that set it first
    collided: set[int] = set()
    for chunk in records(source, report.encoding or "utf-8", defs, report, progress, "validate"):
        keep: list[Row] = []
        for row in chunk:
            key = int(row.line_user_id[1:], 16)
            if key in seen:
                report.error(
                    row.row,
                    "line_user_id",
                    f"{row.line_user_id} is on row {seen[key]} already",
                    "line_user_id_twice",
                    {"first_row": seen[key]},
                )
            elif row.member_id and row.member_id in members:
                seen[key] = row.row
                report.error(
                    row.row,
                    "member_id",
                    f"member ID {row.member_id} is on row "
                    f"{members[row.member_id]} already (a member ID is one friend's)",
                    "member_id_twice",
                    {"member_id": row.member_id, "first_row": members[row.member_id]},
                )
            else:
                seen[key] = row.row
                if row.member_id:
                    members[row.member_id] = row.row
                keep.append(row)
                continue
            collided.add(row.row)
            report.invalid_rows += 1
        for row, refusal in plan_rows(session, account_id, keep, report):
            report.refused(row.row, "member_id", refusal)
            collided.add(row.row)
            report.invalid_rows += 1
    report.valid_rows = report.rows - report.invalid_rows
    return collided if report.header_ok else None


def _apply(
    sessions: sessionmaker[Session],
    account_id: int,
    source: IO[bytes],
    defs: dict[str, AttributeDef],
    report: Report,
    skip: set[int],
    progress: Progress | None,
) -> None:
    """Pass two: the valid rows, a chunk per transaction. Conflicts with a write that raced
    the import are reported on their rows; the other rows of the chunk still go in."""
    quiet = Report(apply=report.apply, max_errors=0)  # pass one reported the row errors
    report.created = report.updated = report.unchanged = 0
    for chunk in records(source, report.encoding or "utf-8", defs, quiet, progress, "apply"):
        rows = [row for row in chunk if row.row not in skip]
        try:
            _merge(report, _apply_once(sessions, account_id, rows))
        except IntegrityError:  # a racing write: apply the chunk's rows one by one
            for row in rows:
                try:
                    _merge(report, _apply_once(sessions, account_id, [row]))
                except IntegrityError:
                    lost = Report(apply=report.apply, invalid_rows=1)
                    lost.error(
                        row.row,
                        None,
                        "a concurrent change conflicts with this row "
                        "(its member ID or LINE user ID); it was not applied",
                        "concurrent_change",
                    )
                    _merge(report, lost)
        report.applied = True


def _apply_once(sessions: sessionmaker[Session], account_id: int, rows: list[Row]) -> Report:
    """One transaction; what it did, counted only once it committed."""
    done = Report(apply="all")
    with sessions.begin() as session:
        for row, refusal in apply_rows(session, account_id, rows, done):
            done.refused(row.row, "member_id", refusal)
            done.invalid_rows += 1
    return done


def _merge(report: Report, done: Report) -> None:
    for error in done.errors:
        report.error(
            error["row"], error["column"], error["message"], error["reason"], error["params"]
        )
    report.valid_rows -= done.invalid_rows
    report.invalid_rows += done.invalid_rows
    report.created += done.created
    report.updated += done.updated
    report.unchanged += done.unchanged
