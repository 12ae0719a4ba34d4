"""The dashboard's message catalogue: Japanese in the code, English in locale/en/*.yaml.

Text is written in Japanese where it is used, wrapped in `_()` (templates) or marked with
`N_()` (Python constants shown later); `translate` looks the Japanese up in the English
files when the language is English and falls back to the Japanese. One YAML file per area
(locale/en/settings.yaml, locale/en/friends.yaml, …) so pages are added without touching
each other's files; tests/web/test_i18n.py fails when a marked string has no English."""

from __future__ import annotations

import functools
from pathlib import Path

import yaml
from fastapi import Request

LANGUAGES = ("ja", "en")
DEFAULT_LANGUAGE = "ja"
LANG_COOKIE = "enishi_lang"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"


def N_(text: str) -> str:  # noqa: N802 - the gettext convention for "translate later"
    """Marks a constant for the catalogue; it is translated where it is shown."""
    return text


@functools.cache
def catalogue(lang: str) -> dict[str, str]:
    merged: dict[str, str] = {}
    for path in sorted((LOCALE_DIR / lang).glob("*.yaml")):
        entries = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for source, target in entries.items():
            if source in merged and merged[source] != target:
                raise ValueError(f"{path.name}: {source!r} is translated differently elsewhere")
            merged[str(source)] = str(target)
    return merged


def translate(lang: str, text: str, **values: object) -> str:
    if lang != DEFAULT_LANGUAGE:
        text = catalogue(lang).get(text, text)
    return text.format(**values) if values else text


def request_language(request: Request) -> str:
    """`?lang=` first (a shared link), then the cookie, then Japanese."""
    for candidate in (request.query_params.get("lang"), request.cookies.get(LANG_COOKIE)):
        if candidate in LANGUAGES:
            return candidate
    return DEFAULT_LANGUAGE
