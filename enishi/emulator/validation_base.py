"""LINE's request limits and the primitive checks the emulator's validators share.

Everything reports into a caller-owned list of `(property path, message)` problems, so a
valid request allocates nothing but that list. Paths are built only when a problem is
found: these checks run on every push, at up to 2,000 requests per second.

Wording follows the error bodies LINE returns where they are known
("Size must be between 1 and 5", "May not be empty", "must be specified",
"invalid uri scheme", "Must be one of the following values: [...]").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from typing import Any

Problems = list[tuple[str, str]]

# --- LINE's limits (Messaging API reference, line-openapi; see shared/LINE_PLATFORM.md §2) ---
MESSAGES_MAX = 5  # messages per send request
TEXT_MAX = 5000  # text / textV2 text, UTF-16 code units
TEXT_EMOJIS_MAX = 20  # LINE emojis in one text message
TEXTV2_SUBSTITUTIONS_MAX = 100
TEXTV2_MENTIONS_MAX = 20
SENDER_NAME_MAX = 20
SENDER_FORBIDDEN_WORDS = ("LINE", "ＬＩＮＥ")  # LINE rejects sender names containing these
URL_MAX = 2000  # media, icon and thumbnail URLs (https only)
VIDEO_TRACKING_ID_MAX = 100
LOCATION_TEXT_MAX = 100  # location title and address
ALT_TEXT_MAX = 1500  # template, flex and imagemap altText
IMAGEMAP_WIDTH = 1040
IMAGEMAP_ACTIONS_MAX = 50
IMAGEMAP_MESSAGE_TEXT_MAX = 400
IMAGEMAP_LINK_LABEL_MAX = 30  # imagemap video externalLink.label
BUTTONS_TEXT_MAX = 160
BUTTONS_TEXT_WITH_IMAGE_OR_TITLE_MAX = 60
BUTTONS_ACTIONS_MAX = 4
TEMPLATE_TITLE_MAX = 40
CONFIRM_TEXT_MAX = 240
CONFIRM_ACTIONS = 2  # exactly
CAROUSEL_COLUMNS_MAX = 10  # carousel and image_carousel
CAROUSEL_TEXT_MAX = 120
CAROUSEL_TEXT_WITH_IMAGE_OR_TITLE_MAX = 60
CAROUSEL_ACTIONS_MAX = 3
FLEX_CAROUSEL_BUBBLES_MAX = 12
FLEX_BUBBLE_BYTES_MAX = 30 * 1024  # serialized JSON
FLEX_CAROUSEL_BYTES_MAX = 50 * 1024
QUICK_REPLY_ITEMS_MAX = 13
ACTION_DATA_MAX = 300  # postback / datetimepicker / richmenuswitch data, UTF-16
ACTION_TEXT_MAX = 300  # message text, postback displayText / text / fillInText, graphemes
URI_MAX = 1000
URI_SCHEMES = ("http", "https", "line", "tel")
LABEL_MAX = 20
FLEX_LABEL_MAX = 40
IMAGE_CAROUSEL_LABEL_MAX = 12
CLIPBOARD_TEXT_MAX = 1000
RICH_MENU_ALIAS_ID_MAX = 32
RICH_MENU_WIDTH_MIN, RICH_MENU_WIDTH_MAX = 800, 2500
RICH_MENU_HEIGHT_MIN = 250
RICH_MENU_RATIO_MIN = 1.45  # width / height
RICH_MENU_NAME_MAX = 300
RICH_MENU_CHAT_BAR_TEXT_MAX = 14
RICH_MENU_AREAS_MAX = 20
NARROWCAST_RECIPIENTS_MAX = 10  # audience + redelivery objects in one recipient tree
NARROWCAST_FILTERS_MAX = 10  # demographic conditions in one filter tree
AGGREGATION_UNITS_MAX = 1
AGGREGATION_UNIT_PATTERN = "^[a-zA-Z0-9_]{1,30}$"
MAX_DEPTH = 32  # operator trees and Flex boxes: hostile nesting must not recurse deep

# --- LINE's wording ---
MUST_BE_SPECIFIED = "must be specified"
MAY_NOT_BE_EMPTY = "May not be empty"
INVALID_URI = "invalid uri"
INVALID_URI_SCHEME = "invalid uri scheme"
NOT_STRING = "Must be a string"
NOT_INTEGER = "Must be an integer"
NOT_NUMBER = "Must be a number"
NOT_BOOLEAN = "Must be a boolean"
NOT_OBJECT = "Must be an object"
NOT_ARRAY = "Must be an array"


def length_message(max_len: int) -> str:
    return f"Length must be between 0 and {max_len}"


def size_message(min_size: int, max_size: int) -> str:
    return f"Size must be between {min_size} and {max_size}"


def one_of_message(values: tuple[str, ...] | list[str]) -> str:
    return f"Must be one of the following values: [{', '.join(values)}]"


# --- Counting characters ---
# LINE counts most text in UTF-16 code units, but action labels and texts, template
# texts and titles, and rich-menu name/chatBarText in grapheme clusters ("Character
# counting in a text", LINE Developers).


def utf16_len(s: str) -> int:
    """UTF-16 code units: characters outside the BMP (most emoji) count 2."""
    if s.isascii():
        return len(s)
    return len(s.encode("utf-16-le")) // 2


def utf16_over(s: str, limit: int) -> bool:
    n = len(s)
    if n * 2 <= limit:  # even all-surrogate text fits
        return False
    return n > limit or utf16_len(s) > limit


_EXTENDERS = frozenset(range(0xFE00, 0xFE10)) | frozenset(range(0x1F3FB, 0x1F400))


def grapheme_len(s: str) -> int:
    """User-perceived characters, close to Unicode extended grapheme clusters (UAX #29).

    Handles what real text sends: combining marks, variation selectors, skin-tone
    modifiers, ZWJ emoji sequences, flags (regional-indicator pairs), tag sequences,
    Hangul conjoining jamo and CRLF. Python's stdlib has no segmenter, and this is
    only used for strings longer than their limit in code points.
    """
    if s.isascii():
        return len(s) - s.count("\r\n")
    count = 0
    after_zwj = False
    open_flag = False
    prev = ""
    for ch in s:
        cp = ord(ch)
        if cp == 0x200D:  # ZERO WIDTH JOINER: extends, and glues the next pictograph
            after_zwj = True
            continue
        if (
            cp in _EXTENDERS
            or 0xE0020 <= cp <= 0xE007F  # emoji tag characters
            or 0xE0100 <= cp <= 0xE01EF  # variation selectors supplement
            or (cp > 0x2FF and unicodedata.category(ch)[0] == "M")
            or (0x1160 <= cp <= 0x11FF or 0xD7B0 <= cp <= 0xD7FF)  # Hangul V/T jamo
            or (ch == "\n" and prev == "\r")
        ):
            prev = ch
            continue
        prev = ch
        if after_zwj and count:
            after_zwj = False
            continue
        after_zwj = False
        if 0x1F1E6 <= cp <= 0x1F1FF:  # regional indicators pair up into flags
            if open_flag:
                open_flag = False
                continue
            open_flag = True
        else:
            open_flag = False
        count += 1
    return count


def grapheme_over(s: str, limit: int) -> bool:
    return len(s) > limit and grapheme_len(s) > limit


Counter = Callable[[str, int], bool]


# --- Field checks: each reads obj[key], reports under f"{parent}.{key}" ---


def is_int(v: Any) -> bool:
    return type(v) is int  # bool is an int subclass; JSON true is not a number


def check_str(
    obj: dict,
    key: str,
    parent: str,
    out: Problems,
    max_len: int | None = None,
    *,
    required: bool = True,
    allow_empty: bool = False,
    over: Counter = utf16_over,
) -> str | None:
    """A string field; returns it when it is a string (even if too long), else None.

    JSON null counts as absent, as LINE treats it.
    """
    v = obj.get(key)
    if v is None:
        if required:
            out.append((f"{parent}.{key}", MUST_BE_SPECIFIED))
        return None
    if type(v) is not str:
        out.append((f"{parent}.{key}", NOT_STRING))
        return None
    if not v:
        if not allow_empty:
            out.append((f"{parent}.{key}", MAY_NOT_BE_EMPTY))
    elif max_len is not None and over(v, max_len):
        out.append((f"{parent}.{key}", length_message(max_len)))
    return v


def check_enum(
    obj: dict, key: str, parent: str, out: Problems, values: tuple[str, ...], *, required: bool
) -> str | None:
    v = obj.get(key)
    if v is None:
        if required:
            out.append((f"{parent}.{key}", MUST_BE_SPECIFIED))
        return None
    if type(v) is not str or v not in values:
        out.append((f"{parent}.{key}", one_of_message(values)))
        return None
    return v


def check_int(
    obj: dict,
    key: str,
    parent: str,
    out: Problems,
    *,
    required: bool = True,
    minimum: int | None = None,
) -> int | None:
    v = obj.get(key)
    if v is None:
        if required:
            out.append((f"{parent}.{key}", MUST_BE_SPECIFIED))
        return None
    if type(v) is not int:
        out.append((f"{parent}.{key}", NOT_INTEGER))
        return None
    if minimum is not None and v < minimum:
        out.append((f"{parent}.{key}", f"Must be greater than or equal to {minimum}"))
        return None
    return v


def check_bool(obj: dict, key: str, parent: str, out: Problems, *, required: bool = False) -> None:
    v = obj.get(key)
    if v is None:
        if required:
            out.append((f"{parent}.{key}", MUST_BE_SPECIFIED))
    elif type(v) is not bool:
        out.append((f"{parent}.{key}", NOT_BOOLEAN))


def check_number(obj: dict, key: str, parent: str, out: Problems) -> None:
    v = obj.get(key)
    if v is None:
        out.append((f"{parent}.{key}", MUST_BE_SPECIFIED))
    elif type(v) not in (int, float):
        out.append((f"{parent}.{key}", NOT_NUMBER))


def get_object(
    obj: dict, key: str, parent: str, out: Problems, *, required: bool = True
) -> dict | None:
    v = obj.get(key)
    if v is None:
        if required:
            out.append((f"{parent}.{key}", MUST_BE_SPECIFIED))
        return None
    if type(v) is not dict:
        out.append((f"{parent}.{key}", NOT_OBJECT))
        return None
    return v


def get_array(
    obj: dict,
    key: str,
    parent: str,
    out: Problems,
    min_size: int,
    max_size: int,
    *,
    required: bool = True,
) -> list | None:
    """An array field; returns it only when its size is within bounds."""
    v = obj.get(key)
    if v is None:
        if required:
            out.append((f"{parent}.{key}", MUST_BE_SPECIFIED))
        return None
    if type(v) is not list:
        out.append((f"{parent}.{key}", NOT_ARRAY))
        return None
    if not min_size <= len(v) <= max_size:
        out.append((f"{parent}.{key}", size_message(min_size, max_size)))
        return None
    return v


def check_https_url(
    obj: dict, key: str, parent: str, out: Problems, *, required: bool = True
) -> None:
    """Media, icon and thumbnail URLs: HTTPS only, at most 2,000 characters."""
    v = check_str(obj, key, parent, out, URL_MAX, required=required)
    if v and len(v) <= URL_MAX:
        if not v.startswith("https://"):
            scheme, sep, _ = v.partition(":")
            bad = INVALID_URI_SCHEME if sep and scheme.isalpha() else INVALID_URI
            out.append((f"{parent}.{key}", bad))
        elif len(v) == 8 or " " in v:
            out.append((f"{parent}.{key}", INVALID_URI))


def check_action_uri(obj: dict, key: str, parent: str, out: Problems, *, required: bool) -> None:
    """URIs a tap opens: http, https, line or tel, at most 1,000 characters."""
    v = check_str(obj, key, parent, out, URI_MAX, required=required)
    if v and len(v) <= URI_MAX:
        scheme, sep, rest = v.partition(":")
        if not sep or not rest or not scheme or " " in v:
            out.append((f"{parent}.{key}", INVALID_URI))
        elif scheme.lower() not in URI_SCHEMES:
            out.append((f"{parent}.{key}", INVALID_URI_SCHEME))


AGGREGATION_UNIT_RE = re.compile(AGGREGATION_UNIT_PATTERN)
