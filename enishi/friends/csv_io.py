"""Friends as CSV, for marketers who work in Excel.

Export: UTF-8 with a BOM (so Excel shows Japanese correctly), streamed a chunk at a time.
Cells that Excel would run as formulas (=, +, -, @ …; display names come from strangers) are
prefixed with an apostrophe, which the import takes off again.

Import: UTF-8 (with or without BOM) or Shift_JIS/CP932, detected. Two passes over the file:
the first validates every row against the file and the database and writes nothing; the
second applies the rows a chunk per transaction (short transactions, so webhooks keep being
stored on SQLite during a long import). A file with an invalid row changes nothing unless
the caller asked for apply="valid"; apply="none" is a dry run.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import IO, Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from enishi.friends.csv_apply import Row, apply_rows, plan_rows
from enishi.friends.models import AttributeDef
from enishi.friends.queries import (
    STATUSES,
    FriendFilter,
    attributes_of,
    iter_friend_chunks,
    tags_of,
)
from enishi.friends.service import (
    LINE_USER_ID,
    NOTES_MAX,
    TAG_MAX,
    list_attribute_defs,
    parse_attribute,
)
from enishi.inflow.models import InflowRoute
from enishi.kit.errors import ApiError

BASE_COLUMNS = ("line_user_id", "display_name", "status", "member_id", "tags", "notes")
READONLY_COLUMNS = ("inflow_route", "first_followed_at", "last_followed_at", "blocked_at")
READONLY_COLUMNS += ("last_click_at", "click_count", "last_purchase_at", "purchase_count")
READONLY_COLUMNS += ("revenue_jpy", "last_message_at")
ATTR_PREFIX = "attr:"
BOM = "\ufeff".encode()
MAX_ERRORS = 1000  # reported; every invalid row is still counted
CHUNK = 1000
_FORMULA = ("=", "+", "-", "@", "\t", "\r")
_SLASH_DATE = re.compile(r"^(\d{4})[/-](\d{1,2})[/-](\d{1,2})(?:\s+\d{1,2}:\d{2}(?::\d{2})?)?$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_NOT_SJIS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ue000-\uf8ff]")
Progress = Callable[[str, int, int], None]  # (phase, bytes read, total bytes)
_TIMES = ("first_followed_at", "last_followed_at", "blocked_at", "last_click_at")
_TIMES += ("last_purchase_at", "last_message_at")


# --- export --------------------------------------------------------------------------------
def _guard(text: str | None) -> str:
    """Text as a cell Excel will not evaluate: a leading apostrophe before formula starts
    (and before a leading apostrophe, so the import can always take exactly one off)."""
    if not text:
        return ""
    return "'" + text if text.startswith(_FORMULA) or text.startswith("'") else text


def _unguard(text: str) -> str:
    if text.startswith("'") and text[1:].startswith((*_FORMULA, "'")):
        return text[1:]
    return text


def export_header(defs: list[AttributeDef]) -> list[str]:
    return [*BASE_COLUMNS, *(ATTR_PREFIX + d.key for d in defs), *READONLY_COLUMNS]


def export_csv(
    session: Session,
    account_id: int,
    timezone: str,
    filters: FriendFilter,
    progress: Callable[[int], None] | None = None,
) -> Iterator[bytes]:
    """The CSV file as byte chunks (one per 2,000 friends); memory stays flat however many
    friends match. Times are in the account's timezone, as YYYY-MM-DD HH:MM:SS."""
    tz = ZoneInfo(timezone or "Asia/Tokyo")
    defs = list_attribute_defs(session, account_id)
    routes = dict(
        session.execute(
            select(InflowRoute.id, InflowRoute.code).where(InflowRoute.account_id == account_id)
        ).all()
    )
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(export_header(defs))
    yield BOM + buffer.getvalue().encode()

    def when(moment: datetime | None) -> str:
        return moment.astimezone(tz).isoformat(" ", "seconds")[:19] if moment else ""

    for rows, ids in iter_friend_chunks(session, account_id, filters):
        buffer.seek(0)
        buffer.truncate()
        tags, attrs = tags_of(session, ids), attributes_of(session, ids)
        for row in rows:
            values = attrs.get(row.id, {})
            times = [when(getattr(row, c)) for c in _TIMES]
            writer.writerow(
                [
                    row.line_user_id,
                    _guard(row.display_name),
                    row.status,
                    _guard(row.member_id),
                    _guard(";".join(tags.get(row.id, []))),
                    _guard(row.notes),
                    *(_attr_cell(d, values.get(d.key)) for d in defs),
                    routes.get(row.inflow_route_id, ""),
                    *times[:4],
                    row.click_count,
                    times[4],
                    row.purchase_count,
                    row.revenue_jpy,
                    times[5],
                ]
            )
        yield buffer.getvalue().encode()
        if progress is not None:
            progress(len(rows))


def _attr_cell(definition: AttributeDef, value: Any) -> str:
    if value is None:
        return ""
    return str(value) if definition.type in ("number", "date") else _guard(str(value))


# --- reading a file ------------------------------------------------------------------------
def _file_error(code: str, message: str) -> ApiError:
    return ApiError(422, code, message, "file")


def detect_encoding(source: IO[bytes]) -> str:
    """utf-8-sig, utf-8 or cp932 (Shift_JIS as Windows writes it), or a clear refusal of
    what is not a CSV file at all."""
    source.seek(0)
    head = source.read(65536)
    source.seek(0)
    if not head.strip(b" \t\r\n\xef\xbb\xbf"):
        raise _file_error(
            "empty_file", "the file is empty: a header row (line_user_id, ...) is expected"
        )
    if head.startswith(b"PK\x03\x04"):
        raise _file_error(
            "not_csv",
            "this is an Excel workbook (or a ZIP file), not CSV: in "
            "Excel choose Save As → 'CSV UTF-8 (comma delimited)'",
        )
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise _file_error("not_csv", "this is UTF-16 text: save it as 'CSV UTF-8' instead")
    if b"\x00" in head:
        raise _file_error("not_csv", "this is a binary file, not CSV text")
    for encoding in ("utf-8", "cp932"):
        if _decodes(source, encoding):
            return "utf-8-sig" if encoding == "utf-8" and head.startswith(BOM) else encoding
    raise _file_error("unknown_encoding", "the file is neither UTF-8 nor Shift_JIS (CP932) text")


def _decodes(source: IO[bytes], encoding: str) -> bool:
    """Whether the whole file is text in `encoding`. CP932 maps nearly every byte to some
    character, so for it control and private-use characters count as "no": Excel never
    writes them, binary data is full of them."""
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        while chunk := source.read(1 << 20):
            text = decoder.decode(chunk)
            if encoding == "cp932" and _NOT_SJIS.search(text):
                return False
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    finally:
        source.seek(0)
    return True


@dataclass
class Report:
    apply: str
    encoding: str | None = None
    applied: bool = False
    rows: int = 0
    valid_rows: int = 0
    invalid_rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    error_count: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    errors_truncated: bool = False
    max_errors: int = MAX_ERRORS
    header_ok: bool = True

    def error(self, row: int | None, column: str | None, message: str) -> None:
        self.error_count += 1
        if len(self.errors) < self.max_errors:
            self.errors.append({"row": row, "column": column, "message": message})
        else:
            self.errors_truncated = True

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k not in ("max_errors", "header_ok")}
        out["errors"] = sorted(self.errors, key=lambda e: e["row"] or 0)  # stable: by column
        return out


class _Reader:
    """The file's records as (row number, cells), Excel's numbering (the header is row 1)."""

    def __init__(
        self, source: IO[bytes], encoding: str, progress: Progress | None, phase: str
    ) -> None:
        source.seek(0, io.SEEK_END)
        self.total = source.tell()
        source.seek(0)
        self.source, self.progress, self.phase = source, progress, phase
        self.text = io.TextIOWrapper(source, encoding=encoding, newline="")
        self.reader = csv.reader(self.text)

    def tick(self) -> None:
        if self.progress is not None:
            self.progress(self.phase, self.source.tell(), self.total)

    def __iter__(self) -> Iterator[tuple[int, list[str] | None, str | None]]:
        number = 0
        try:
            while True:
                try:
                    record = next(self.reader)
                except StopIteration:
                    return
                except csv.Error as error:
                    yield number + 1, None, f"unreadable CSV: {error}"
                    return
                number += 1
                yield number, record, None
        finally:
            self.text.detach()  # leave the caller's file open


class _Columns:
    """The header row: which column is which, and what is wrong with it."""

    def __init__(self, header: list[str], defs: dict[str, AttributeDef]) -> None:
        self.names = [cell.strip().lstrip("\ufeff") for cell in header]
        self.errors: list[tuple[str | None, str]] = []
        self.attrs: dict[int, AttributeDef] = {}
        self.index: dict[str, int] = {}
        for position, name in enumerate(self.names):
            key = name.lower()  # attribute keys are lowercase by definition
            if not key:
                continue  # an unnamed column (a stray trailing comma) is ignored
            if key in self.index:
                self.errors.append((name, f"column {name!r} appears twice"))
                continue
            self.index[key] = position
            if key.startswith(ATTR_PREFIX):
                attr_key = key[len(ATTR_PREFIX) :].strip()
                if attr_key not in defs:
                    self.errors.append(
                        (
                            name,
                            f"no attribute is defined with key {attr_key!r} "
                            "(define it first: POST /api/v1/attributes)",
                        )
                    )
                else:
                    self.attrs[position] = defs[attr_key]
            elif key not in BASE_COLUMNS and key not in READONLY_COLUMNS:
                self.errors.append((name, f"unknown column {name!r}"))
        if "line_user_id" not in self.index:
            self.errors.insert(0, ("line_user_id", "the header must have a line_user_id column"))


def _parse(number: int, cells: list[str], columns: _Columns, report: Report) -> Row | None:
    """A row with its values checked, or None after reporting what is wrong with it."""
    problems: list[tuple[str | None, str]] = []
    if len(cells) != len(columns.names):
        report.error(
            number,
            None,
            f"the row has {len(cells)} values but the header has {len(columns.names)} columns",
        )
        return None

    def cell(name: str) -> str | None:
        position = columns.index.get(name)
        return None if position is None else _unguard(cells[position].strip())

    user = cell("line_user_id") or ""
    if not LINE_USER_ID.match(user):
        problems.append(("line_user_id", "not a LINE user ID (U + 32 lowercase hex)"))
    row = Row(number, user, display_name=cell("display_name") or None)
    if row.display_name and len(row.display_name) > 200:
        problems.append(("display_name", "a display name is at most 200 characters"))
    status = cell("status")
    if status and status not in STATUSES:
        problems.append(("status", f"status is one of {', '.join(STATUSES)} (it is read-only)"))
    if member := cell("member_id"):
        if len(member) > 200 or _CONTROL.search(member):
            problems.append(("member_id", "a member ID is 1-200 printable characters"))
        row.member_id = member
    tags = cell("tags")
    if tags is not None:
        row.tags = list(dict.fromkeys(t.strip() for t in tags.split(";") if t.strip()))
        if any(len(t) > TAG_MAX for t in row.tags):
            problems.append(("tags", f"a tag name is at most {TAG_MAX} characters"))
    notes = cell("notes")
    if notes is not None:
        row.notes = notes or None
        if len(notes) > NOTES_MAX:
            problems.append(("notes", f"notes are at most {NOTES_MAX} characters"))
    for position, definition in columns.attrs.items():
        raw = _unguard(cells[position].strip())
        if definition.type == "number":
            raw = raw.replace(",", "")  # Excel's 1,234
        elif definition.type == "date" and (match := _SLASH_DATE.match(raw)):
            with contextlib.suppress(ValueError):  # parse_attribute reports a bad one
                raw = date(*map(int, match.groups())).isoformat()  # Excel's 2025/1/2
        try:
            row.attributes.append((definition, parse_attribute(definition, raw)))
        except ApiError as error:
            problems.append((columns.names[position], error.message))
    for column, message in problems:
        report.error(number, column, message)
    return None if problems else row


def import_csv(
    sessions: sessionmaker[Session],
    account_id: int,
    source: IO[bytes],
    *,
    apply: str = "all",
    progress: Progress | None = None,
    max_errors: int = MAX_ERRORS,
) -> dict[str, Any]:
    """Validate a CSV file of friends and (depending on `apply`) write it; the report.
    `source` is a seekable binary file (it is read twice and left open)."""
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
    return report.as_dict()


def _records(
    source: IO[bytes],
    encoding: str,
    defs: dict[str, AttributeDef],
    report: Report,
    progress: Progress | None,
    phase: str,
) -> Iterator[list[Row]]:
    """Parsed valid rows in chunks; invalid rows are reported (and counted) as they pass."""
    reader = _Reader(source, encoding, progress, phase)
    columns: _Columns | None = None
    chunk: list[Row] = []
    for number, cells, problem in reader:
        if problem is not None:
            report.error(number, None, problem)
            report.rows += 1
            report.invalid_rows += 1
            break
        if columns is None:
            columns = _Columns(cells or [], defs)
            for column, message in columns.errors:
                report.error(1, column, message)
            if columns.errors:
                report.header_ok = False
                return
            continue
        if not any(cell.strip() for cell in cells or []):
            continue  # blank lines: Excel leaves them, nobody means anything by them
        report.rows += 1
        row = _parse(number, cells or [], columns, report)
        if row is None:
            report.invalid_rows += 1
            continue
        chunk.append(row)
        if len(chunk) >= CHUNK:
            yield chunk
            chunk = []
            reader.tick()
    if chunk:
        yield chunk
    reader.tick()


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
    for chunk in _records(source, report.encoding or "utf-8", defs, report, progress, "validate"):
        keep: list[Row] = []
        for row in chunk:
            key = int(row.line_user_id[1:], 16)
            if key in seen:
                report.error(
                    row.row, "line_user_id", f"{row.line_user_id} is on row {seen[key]} already"
                )
            elif row.member_id and row.member_id in members:
                seen[key] = row.row
                report.error(
                    row.row,
                    "member_id",
                    f"member ID {row.member_id} is on row "
                    f"{members[row.member_id]} already (a member ID is one friend's)",
                )
            else:
                seen[key] = row.row
                if row.member_id:
                    members[row.member_id] = row.row
                keep.append(row)
                continue
            collided.add(row.row)
            report.invalid_rows += 1
        for row, message in plan_rows(session, account_id, keep, report):
            report.error(row.row, "member_id", message)
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
    for chunk in _records(source, report.encoding or "utf-8", defs, quiet, progress, "apply"):
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
                    )
                    _merge(report, lost)
        report.applied = True


def _apply_once(sessions: sessionmaker[Session], account_id: int, rows: list[Row]) -> Report:
    """One transaction; what it did, counted only once it committed."""
    done = Report(apply="all")
    with sessions.begin() as session:
        for row, message in apply_rows(session, account_id, rows, done):
            done.error(row.row, "member_id", message)
            done.invalid_rows += 1
    return done


def _merge(report: Report, done: Report) -> None:
    for error in done.errors:
        report.error(error["row"], error["column"], error["message"])
    report.valid_rows -= done.invalid_rows
    report.invalid_rows += done.invalid_rows
    report.created += done.created
    report.updated += done.updated
    report.unchanged += done.unchanged
