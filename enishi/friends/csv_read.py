"""Reading a friends CSV file for the import: its encoding detected (UTF-8 with or without
BOM, or Shift_JIS/CP932 as Excel writes it; anything else refused as a whole), its header
matched to the columns, and each row's values checked — what is wrong reported per row and
column in the import's Report."""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import IO, Any

from enishi.friends.csv_apply import Row
from enishi.friends.csv_export import ATTR_PREFIX, BASE_COLUMNS, BOM, READONLY_COLUMNS, unguard
from enishi.friends.models import AttributeDef
from enishi.friends.queries import STATUSES
from enishi.friends.service import LINE_USER_ID, NOTES_MAX, TAG_MAX, parse_attribute
from enishi.kit.errors import ApiError

MAX_ERRORS = 1000  # reported; every invalid row is still counted
CHUNK = 1000
_SLASH_DATE = re.compile(r"^(\d{4})[/-](\d{1,2})[/-](\d{1,2})(?:\s+\d{1,2}:\d{2}(?::\d{2})?)?$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_NOT_SJIS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ue000-\uf8ff]")
Progress = Callable[[str, int, int], None]  # (phase, bytes read, total bytes)


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

    def error(
        self,
        row: int | None,
        column: str | None,
        message: str,
        reason: str = "invalid",
        params: dict[str, Any] | None = None,
    ) -> None:
        """One problem: the English `message` (the API's and the CLI's) and a stable
        `reason` with its `params`, which the dashboard words in Japanese (the API's
        response model leaves those two out)."""
        self.error_count += 1
        if len(self.errors) < self.max_errors:
            self.errors.append(
                {
                    "row": row,
                    "column": column,
                    "message": message,
                    "reason": reason,
                    "params": params or {},
                }
            )
        else:
            self.errors_truncated = True

    def refused(self, row: int | None, column: str | None, error: ApiError) -> None:
        self.error(row, column, error.message, error.reason, error.params)

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
                    yield number + 1, None, str(error)
                    return
                number += 1
                yield number, record, None
        finally:
            self.text.detach()  # leave the caller's file open


class _Columns:
    """The header row: which column is which, and what is wrong with it."""

    def __init__(self, header: list[str], defs: dict[str, AttributeDef]) -> None:
        self.names = [cell.strip().lstrip("\ufeff") for cell in header]
        self.errors: list[tuple[str | None, str, str, dict[str, Any]]] = []
        self.attrs: dict[int, AttributeDef] = {}
        self.index: dict[str, int] = {}
        for position, name in enumerate(self.names):
            key = name.lower()  # attribute keys are lowercase by definition
            if not key:
                continue  # an unnamed column (a stray trailing comma) is ignored
            if key in self.index:
                self.errors.append(
                    (name, f"column {name!r} appears twice", "column_twice", {"column": name})
                )
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
                            "unknown_attribute",
                            {"key": attr_key},
                        )
                    )
                else:
                    self.attrs[position] = defs[attr_key]
            elif key not in BASE_COLUMNS and key not in READONLY_COLUMNS:
                self.errors.append(
                    (name, f"unknown column {name!r}", "unknown_column", {"column": name})
                )
        if "line_user_id" not in self.index:
            self.errors.insert(
                0,
                (
                    "line_user_id",
                    "the header must have a line_user_id column",
                    "no_line_user_id_column",
                    {},
                ),
            )


def _parse(number: int, cells: list[str], columns: _Columns, report: Report) -> Row | None:
    """A row with its values checked, or None after reporting what is wrong with it."""
    problems: list[tuple[str | None, str, str, dict[str, Any]]] = []
    if len(cells) != len(columns.names):
        report.error(
            number,
            None,
            f"the row has {len(cells)} values but the header has {len(columns.names)} columns",
            "value_count",
            {"values": len(cells), "columns": len(columns.names)},
        )
        return None

    def cell(name: str) -> str | None:
        position = columns.index.get(name)
        return None if position is None else unguard(cells[position].strip())

    user = cell("line_user_id") or ""
    if not LINE_USER_ID.match(user):
        problems.append(
            ("line_user_id", "not a LINE user ID (U + 32 lowercase hex)", "not_line_user_id", {})
        )
    row = Row(number, user, display_name=cell("display_name") or None)
    if row.display_name and len(row.display_name) > 200:
        problems.append(
            ("display_name", "a display name is at most 200 characters", "too_long", {"max": 200})
        )
    status = cell("status")
    if status and status not in STATUSES:
        choices = ", ".join(STATUSES)
        problems.append(
            (
                "status",
                f"status is one of {choices} (it is read-only)",
                "status_choice",
                {"choices": choices},
            )
        )
    if member := cell("member_id"):
        if len(member) > 200 or _CONTROL.search(member):
            problems.append(
                ("member_id", "a member ID is 1-200 printable characters", "member_id_invalid", {})
            )
        row.member_id = member
    tags = cell("tags")
    if tags is not None:
        row.tags = list(dict.fromkeys(t.strip() for t in tags.split(";") if t.strip()))
        if any(len(t) > TAG_MAX for t in row.tags):
            problems.append(
                (
                    "tags",
                    f"a tag name is at most {TAG_MAX} characters",
                    "tag_length",
                    {"max": TAG_MAX},
                )
            )
    notes = cell("notes")
    if notes is not None:
        row.notes = notes or None
        if len(notes) > NOTES_MAX:
            problems.append(
                (
                    "notes",
                    f"notes are at most {NOTES_MAX} characters",
                    "too_long",
                    {"max": NOTES_MAX},
                )
            )
    for position, definition in columns.attrs.items():
        raw = unguard(cells[position].strip())
        if definition.type == "number":
            raw = raw.replace(",", "")  # Excel's 1,234
        elif definition.type == "date" and (match := _SLASH_DATE.match(raw)):
            with contextlib.suppress(ValueError):  # parse_attribute reports a bad one
                raw = date(*map(int, match.groups())).isoformat()  # Excel's 2025/1/2
        try:
            row.attributes.append((definition, parse_attribute(definition, raw)))
        except ApiError as error:
            problems.append((columns.names[position], error.message, error.reason, error.params))
    for column, message, reason, params in problems:
        report.error(number, column, message, reason, params)
    return None if problems else row


def records(
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
            report.error(
                number, None, f"unreadable CSV: {problem}", "unreadable", {"detail": problem}
            )
            report.rows += 1
            report.invalid_rows += 1
            break
        if columns is None:
            columns = _Columns(cells or [], defs)
            for column, message, reason, params in columns.errors:
                report.error(1, column, message, reason, params)
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
