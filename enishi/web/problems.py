"""Wording a service's refusal for the operator: services give a stable `reason` with its
`params` and an English message (the API's); each page area keeps one dict of reason →
Japanese text marked with N_ (English in locale/en), and `word` picks the text, fills it in
and says what is left as the secondary detail (docs/web.md, "Errors")."""

from __future__ import annotations

import string
from typing import Any


def shown(value: Any) -> Any:
    """Large counts with thousands separators (quota, list sizes); small limits as written."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10_000:
        return f"{value:,}"
    return value


def fits(text: str, values: dict[str, Any]) -> bool:
    """Whether every placeholder of the text has a value."""
    names = {name for _lit, name, _spec, _conv in string.Formatter().parse(text) if name}
    return names <= values.keys()


def word(
    texts: dict[str, str], reason: str, params: dict[str, Any], message: str, fallback: str
) -> tuple[str, dict[str, Any], str | None]:
    """(text to translate, its values, the English message when no text of its own says it):
    a reason without a text, or without the params its text needs, gets `fallback` and
    keeps the service's message as the detail, so nothing is lost."""
    values = {key: shown(value) for key, value in params.items()}
    text = texts.get(reason)
    if text is None or not fits(text, values):
        return fallback, values, message
    return text, values, None
