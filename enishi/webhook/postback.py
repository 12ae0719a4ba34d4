"""enishi's own postback data grammar: buttons that tag, set attributes and record answers.

`enishi:` followed by a URL query string (UTF-8, percent-encoded where needed):

    enishi:tag=VIP&attr.size=M&answer.q1=yes

| key                | effect                                                       |
|--------------------|--------------------------------------------------------------|
| `tag=NAME`         | add the tag (created on first use)                           |
| `untag=NAME`       | remove the tag                                               |
| `attr.KEY=VALUE`   | set the typed attribute KEY (empty VALUE clears it)          |
| `answer.Q=VALUE`   | record a survey answer: FriendActivity "answer" {question, answer} |

Keys may repeat and are applied in order. A problem (bad syntax, unknown key, unknown
attribute, a value of the wrong type) is reported, never raised: the rest still applies,
and the postback itself is always recorded. Docs: docs/webhooks.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from sqlalchemy.orm import Session

from enishi.friends.models import Friend
from enishi.friends.service import add_tag, record_activity, remove_tag, set_attribute
from enishi.kit.errors import ApiError

PREFIX = "enishi:"
MAX_FIELDS = 20
ATTRIBUTE_KEY = re.compile(r"^[a-z0-9_]{1,64}$")
QUESTION_MAX = 64
ANSWER_MAX = 300


@dataclass(frozen=True)
class Op:
    kind: str  # tag | untag | attr | answer
    key: str  # the attribute key or question; "" for tags
    value: str


def is_enishi(data: str) -> bool:
    return data.startswith(PREFIX)


def parse(data: str) -> tuple[list[Op], list[str]]:
    """The operations in `enishi:...` data and the problems found while reading it."""
    query = data[len(PREFIX) :]
    if not query:
        return [], ["empty: nothing after 'enishi:'"]
    try:
        fields = parse_qsl(
            query, keep_blank_values=True, strict_parsing=True, max_num_fields=MAX_FIELDS
        )
    except ValueError as error:
        return [], [f"not a query string: {error}"]
    ops: list[Op] = []
    problems: list[str] = []
    for name, value in fields:
        if name in ("tag", "untag"):
            if value.strip():
                ops.append(Op(name, "", value))
            else:
                problems.append(f"{name}: the tag name is empty")
        elif name.startswith("attr."):
            key = name[len("attr.") :]
            if ATTRIBUTE_KEY.match(key):
                ops.append(Op("attr", key, value))
            else:
                problems.append(f"{name}: an attribute key is 1-64 of [a-z0-9_]")
        elif name.startswith("answer."):
            question = name[len("answer.") :]
            if not 0 < len(question) <= QUESTION_MAX:
                problems.append(f"{name}: a question is 1-{QUESTION_MAX} characters")
            elif len(value) > ANSWER_MAX:
                problems.append(f"{name}: an answer is at most {ANSWER_MAX} characters")
            else:
                ops.append(Op("answer", question, value))
        else:
            problems.append(f"{name or '(empty)'}: unknown key (tag, untag, attr.*, answer.*)")
    return ops, problems


def apply(
    session: Session, friend: Friend, ops: list[Op], at: datetime
) -> tuple[list[dict[str, Any]], list[str]]:
    """Apply each operation in its own savepoint; (what was applied, the problems). Only a
    refused value (ApiError) becomes a problem; any other error propagates, so the event
    is retried."""
    applied: list[dict[str, Any]] = []
    problems: list[str] = []
    for op in ops:
        try:
            with session.begin_nested():
                done = _apply_one(session, friend, op, at)
                session.flush()
            applied.append(done)
        except ApiError as error:
            label = op.kind if not op.key else f"{op.kind}.{op.key}"
            problems.append(f"{label}: {error.message}")
    return applied, problems


def _apply_one(session: Session, friend: Friend, op: Op, at: datetime) -> dict[str, Any]:
    if op.kind == "tag":
        changed = add_tag(session, friend, op.value, source="postback", at=at)
        return {"tag": op.value, "changed": changed}
    if op.kind == "untag":
        changed = remove_tag(session, friend, op.value, source="postback", at=at)
        return {"untag": op.value, "changed": changed}
    if op.kind == "attr":
        set_attribute(session, friend, op.key, op.value, source="postback", at=at)
        return {"attr": op.key, "value": op.value}
    record_activity(session, friend, "answer", at, {"question": op.key, "answer": op.value})
    return {"answer": op.key, "value": op.value}
