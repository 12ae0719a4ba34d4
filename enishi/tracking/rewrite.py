"""Rewriting the URLs a friend can open in LINE message objects into tracked URLs.

What a friend can open: http(s) URLs in the text of text / textV2 messages (LINE links them),
and `uri` actions anywhere — templates, flex bubbles (the whole tree), imagemaps (`linkUri`,
the video's `externalLink`), quick replies, rich-menu areas — including `altUri.desktop`.
Media URLs (images, videos, icons) are fetched by LINE's servers, not clicked, and are left
alone, as are `line://`, `tel:` and other schemes, and URLs already tracked.

One Link per distinct URL per delivery: links are reused within a delivery (and remembered
for the session, so rendering per-friend pushes costs no query per friend).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

import orjson
from sqlalchemy import event
from sqlalchemy.orm import Session

from enishi.config import Settings
from enishi.kit.errors import ApiError
from enishi.tracking.links import check_url, create_link, find_link
from enishi.tracking.tokens import tracked_path_prefix, tracked_url

TEXT_MAX = 5000  # UTF-16 code units, LINE's limit for text and textV2
# ASCII URL characters only: in Japanese text a URL is often followed directly by text
# ("…/saleをご覧ください", "…/sale。"), which is not part of it. Quotes, brackets and
# braces (textV2 placeholders) end a URL too.
_URL_IN_TEXT = re.compile(r"https?://[A-Za-z0-9\-._~:/?#@!$&()*+,;=%]+", re.IGNORECASE)
_TRAILING = ".,;:!?*"
_CACHE_KEY = "enishi.tracking.rewrite"

Resolve = Callable[[str], str | None]


def rewrite_message_urls(
    session: Session,
    account_id: int,
    messages: list[dict],
    *,
    delivery_id: int | None = None,
    friend_id: int | None = None,
    settings: Settings,
    utm: dict[str, str] | None = None,
) -> list[dict]:
    """Copies of `messages` with every URL a friend can open replaced by a tracked URL
    (per friend when `friend_id` is given; friend-less for multicast). Links are created in
    the caller's transaction."""
    resolve = _resolver(session, account_id, delivery_id, friend_id, settings, utm)
    out = _copy(messages)
    for message in out:
        if not isinstance(message, dict):
            continue
        if message.get("type") in ("text", "textV2") and isinstance(message.get("text"), str):
            emojis = message.get("emojis") if message.get("type") == "text" else None
            text, emojis = rewrite_text(message["text"], resolve, emojis)
            message["text"] = text
            if emojis is not None:
                message["emojis"] = emojis
        _walk(message, resolve)
    return out


def rewrite_action_urls(
    session: Session,
    account_id: int,
    obj: Any,
    *,
    delivery_id: int | None = None,
    friend_id: int | None = None,
    settings: Settings,
    utm: dict[str, str] | None = None,
) -> Any:
    """A copy of any JSON object (a rich menu, a flex container…) with its `uri` actions
    tracked."""
    resolve = _resolver(session, account_id, delivery_id, friend_id, settings, utm)
    out = _copy(obj)
    _walk(out, resolve)
    return out


# --- text ----------------------------------------------------------------------------------
def _u16(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-16-le")) // 2


def find_text_urls(text: str, stops: set[int] | frozenset[int] = frozenset()) -> list[tuple]:
    """(start, end) of each URL in the text, as LINE would link it: trailing punctuation
    and an unbalanced closing parenthesis are not part of it; nor is a LINE-emoji `$`
    placeholder (`stops`: indexes in `text`)."""
    spans = []
    for match in _URL_IN_TEXT.finditer(text):
        start, end = match.span()
        for stop in stops:
            if start < stop < end:
                end = stop
        while end > start:
            char = text[end - 1]
            if (
                char in _TRAILING
                or char == ")"
                and text.count("(", start, end) < text.count(")", start, end)
            ):
                end -= 1
            else:
                break
        if end - start > len("https://"):
            spans.append((start, end))
    return spans


def rewrite_text(
    text: str, resolve: Resolve, emojis: list | None = None
) -> tuple[str, list | None]:
    """The text with its URLs tracked, and its LINE emojis' UTF-16 `index`es moved to
    match. If tracked URLs would take the text past 5,000 UTF-16 units, the URLs that grow
    the most are left as they were."""
    positions = _emoji_positions(text, emojis)
    spans = find_text_urls(text, set(positions.values()))
    if not spans:
        return text, emojis
    changes = []  # (start, end, new text)
    for start, end in spans:
        new = resolve(text[start:end])
        if new is not None:
            changes.append((start, end, new))
    room = TEXT_MAX - _u16(text)
    growth = sum(len(new) - (end - start) for start, end, new in changes)
    if growth > room:
        for change in sorted(changes, key=lambda c: len(c[2]) - (c[1] - c[0]), reverse=True):
            if growth <= room:
                break
            changes.remove(change)
            growth -= len(change[2]) - (change[1] - change[0])
    if not changes:
        return text, emojis
    parts, last = [], 0
    for start, end, new in changes:
        parts += [text[last:start], new]
        last = end
    parts.append(text[last:])
    moved = emojis
    if emojis:
        moved = []
        for i, emoji in enumerate(emojis):
            if i in positions:
                shift = sum(len(n) - (e - s) for s, e, n in changes if s < positions[i])
                emoji = {**emoji, "index": emoji["index"] + shift}
            moved.append(emoji)
    return "".join(parts), moved


def _emoji_positions(text: str, emojis: list | None) -> dict[int, int]:
    """emoji number -> index in `text` of its `$` (LINE counts UTF-16 units)."""
    if not emojis:
        return {}
    by_unit: dict[int, int] = {}
    unit = 0
    for index, char in enumerate(text):
        by_unit[unit] = index
        unit += 2 if ord(char) > 0xFFFF else 1
    out = {}
    for i, emoji in enumerate(emojis):
        at = emoji.get("index") if isinstance(emoji, dict) else None
        if type(at) is int and at in by_unit and text[by_unit[at]] == "$":
            out[i] = by_unit[at]
    return out


# --- actions -------------------------------------------------------------------------------
def _swap(node: dict, key: str, resolve: Resolve) -> None:
    value = node.get(key)
    if isinstance(value, str):
        new = resolve(value)
        if new is not None:
            node[key] = new


def _walk(node: Any, resolve: Resolve) -> None:
    if isinstance(node, dict):
        if node.get("type") == "uri":
            _swap(node, "uri", resolve)
            _swap(node, "linkUri", resolve)  # imagemap
            alt = node.get("altUri")
            if isinstance(alt, dict):
                _swap(alt, "desktop", resolve)
        link = node.get("externalLink")  # imagemap video
        if isinstance(link, dict):
            _swap(link, "linkUri", resolve)
        for value in node.values():
            if isinstance(value, dict | list):
                _walk(value, resolve)
    elif isinstance(node, list):
        for item in node:
            if isinstance(item, dict | list):
                _walk(item, resolve)


# --- links ---------------------------------------------------------------------------------
def _link_ids(session: Session) -> dict:
    """url -> link id per (account, delivery, utm), kept while the session's transaction
    stands; forgotten on any rollback (the links may be gone)."""
    cache = session.info.get(_CACHE_KEY)
    if cache is None:
        cache = session.info[_CACHE_KEY] = {}

        @event.listens_for(session, "after_soft_rollback")
        def _forget(session: Session, previous_transaction: Any) -> None:
            session.info.get(_CACHE_KEY, {}).clear()

    return cache


def _resolver(
    session: Session,
    account_id: int,
    delivery_id: int | None,
    friend_id: int | None,
    settings: Settings,
    utm: dict[str, str] | None,
) -> Resolve:
    prefix = tracked_path_prefix(settings)
    scope = (account_id, delivery_id, tuple(sorted((utm or {}).items())))
    known: dict[str, int] = _link_ids(session).setdefault(scope, {})

    def resolve(url: str) -> str | None:
        if url.startswith(prefix) or not url[:8].lower().startswith(("http://", "https://")):
            return None
        link_id = known.get(url)
        if link_id is None:
            try:
                check_url(url)
            except ApiError:
                return None  # LINE's own validation will speak about it
            link = find_link(session, account_id, url, delivery_id=delivery_id, utm=utm)
            if link is None:
                link = create_link(session, account_id, url, delivery_id=delivery_id, utm=utm)
            link_id = known[url] = link.id
        return tracked_url(settings, link_id, friend_id)

    return resolve


def _copy(obj: Any) -> Any:
    try:
        return orjson.loads(orjson.dumps(obj))
    except (TypeError, orjson.JSONEncodeError):
        return copy.deepcopy(obj)
