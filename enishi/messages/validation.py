"""LINE's message-object limits, checked on enishi's side before anything is scheduled.

These checks give marketers a clear error that names the field (`messages[1].template.
actions[0].label`) before a delivery is scheduled; LINE's own validate endpoint is asked
too (messages/line_check.py), so what is not covered here is still caught before the
first send. Limits: ../shared/LINE_PLATFORM.md §2 (Messaging API reference).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from enishi.kit.errors import ApiError


@dataclass(frozen=True)
class Problem:
    """One problem with a delivery: the field `path`, the English `message` (what the API
    answers) and a stable `reason` with the `params` of the message, from which the
    dashboard words it in Japanese (web/pages/deliveries_problems.py)."""

    path: str
    message: str
    reason: str = "invalid"
    params: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @classmethod
    def of(cls, error: ApiError, default_path: str = "form") -> Problem:
        return cls(error.field or default_path, error.message, error.reason, error.params)


Problems = list[Problem]

MESSAGES_MAX = 5
TEXT_MAX = 5000  # UTF-16 code units
TEXT_EMOJIS_MAX = 20
ALT_TEXT_MAX = 1500
URL_MAX = 2000
URI_MAX = 1000
URI_SCHEMES = ("http://", "https://", "line://", "tel:")
LABEL_MAX = 20
FLEX_LABEL_MAX = 40
ACTION_TEXT_MAX = 300
POSTBACK_DATA_MAX = 300
QUICK_REPLY_MAX = 13
SENDER_NAME_MAX = 20
BUTTONS_TEXT_MAX, BUTTONS_TEXT_SHORT_MAX, BUTTONS_ACTIONS_MAX = 160, 60, 4
CONFIRM_TEXT_MAX = 240
CAROUSEL_COLUMNS_MAX, CAROUSEL_TEXT_MAX, CAROUSEL_TEXT_SHORT_MAX = 10, 120, 60
CAROUSEL_ACTIONS_MAX = 3
TITLE_MAX = 40
FLEX_BUBBLE_BYTES, FLEX_CAROUSEL_BYTES, FLEX_BUBBLES_MAX = 30 * 1024, 50 * 1024, 12
IMAGEMAP_WIDTH, IMAGEMAP_ACTIONS_MAX = 1040, 50
MESSAGE_TYPES = (
    "text",
    "textV2",
    "image",
    "video",
    "audio",
    "location",
    "sticker",
    "template",
    "imagemap",
    "flex",
)
ACTION_TYPES = (
    "uri",
    "postback",
    "message",
    "datetimepicker",
    "camera",
    "cameraRoll",
    "location",
    "richmenuswitch",
    "clipboard",
)


def utf16_len(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-16-le")) // 2


def validate_messages(messages: Any, path: str = "messages") -> Problems:
    """Every problem found in a `messages` array, as (field path, message)."""
    if not isinstance(messages, list):
        return [Problem(path, "must be a list of 1 to 5 message objects", "not_list")]
    if not 1 <= len(messages) <= MESSAGES_MAX:
        return [
            Problem(
                path,
                f"must hold 1 to {MESSAGES_MAX} messages (has {len(messages)})",
                "messages_count",
                {"max": MESSAGES_MAX, "count": len(messages)},
            )
        ]
    out: Problems = []
    for i, message in enumerate(messages):
        here = f"{path}[{i}]"
        if not isinstance(message, dict):
            out.append(Problem(here, "must be a message object", "not_object"))
            continue
        kind = message.get("type")
        check = _CHECKS.get(kind) if isinstance(kind, str) else None
        if check is None:
            choices = ", ".join(MESSAGE_TYPES)
            out.append(
                Problem(f"{here}.type", f"must be one of {choices}", "one_of", {"choices": choices})
            )
            continue
        check(message, here, out)
        if "quickReply" in message:
            _quick_reply(message["quickReply"], f"{here}.quickReply", out)
        if "sender" in message:
            _sender(message["sender"], f"{here}.sender", out)
    return out


# --- primitives ------------------------------------------------------------------------------
def _text_field(
    obj: dict,
    key: str,
    path: str,
    out: Problems,
    limit: int | None = None,
    *,
    required: bool = True,
    utf16: bool = False,
) -> str | None:
    value = obj.get(key)
    if value is None:
        if required:
            out.append(Problem(f"{path}.{key}", "is required", "required"))
        return None
    if not isinstance(value, str):
        out.append(Problem(f"{path}.{key}", "must be a string", "not_string"))
        return None
    if required and not value.strip():
        out.append(Problem(f"{path}.{key}", "must not be empty", "empty"))
    size = utf16_len(value) if utf16 else len(value)
    if limit is not None and size > limit:
        unit = " UTF-16 units" if utf16 else " characters"
        out.append(
            Problem(
                f"{path}.{key}",
                f"must be at most {limit}{unit} (has {size})",
                "too_long_utf16" if utf16 else "too_long",
                {"limit": limit, "size": size},
            )
        )
    return value


def _https(obj: dict, key: str, path: str, out: Problems, *, required: bool = True) -> None:
    value = _text_field(obj, key, path, out, URL_MAX, required=required)
    if value and not value.startswith("https://"):
        out.append(Problem(f"{path}.{key}", "must be an https:// URL", "not_https"))


def _uri(obj: dict, key: str, path: str, out: Problems, *, required: bool = True) -> None:
    value = _text_field(obj, key, path, out, URI_MAX, required=required)
    if value and not value.lower().startswith(URI_SCHEMES):
        out.append(
            Problem(
                f"{path}.{key}", "must start with http://, https://, line:// or tel:", "uri_scheme"
            )
        )


def _list(obj: dict, key: str, path: str, out: Problems, low: int, high: int) -> list | None:
    value = obj.get(key)
    if not isinstance(value, list):
        out.append(Problem(f"{path}.{key}", "is required (a list)", "list_required"))
        return None
    if not low <= len(value) <= high:
        out.append(
            Problem(
                f"{path}.{key}",
                f"must hold {low} to {high} items (has {len(value)})",
                "item_count",
                {"low": low, "high": high, "count": len(value)},
            )
        )
    return value


# --- actions ---------------------------------------------------------------------------------
def check_action(
    action: Any, path: str, out: Problems, *, label: bool = True, label_max: int = LABEL_MAX
) -> None:
    if not isinstance(action, dict):
        out.append(Problem(path, "must be an action object", "not_object"))
        return
    kind = action.get("type")
    if kind not in ACTION_TYPES:
        choices = ", ".join(ACTION_TYPES)
        out.append(
            Problem(f"{path}.type", f"must be one of {choices}", "one_of", {"choices": choices})
        )
        return
    if label or "label" in action:
        _text_field(action, "label", path, out, label_max, required=label)
    if kind == "uri":
        _uri(action, "uri", path, out)
    elif kind == "postback":
        _text_field(action, "data", path, out, POSTBACK_DATA_MAX, utf16=True)
        _text_field(action, "displayText", path, out, ACTION_TEXT_MAX, required=False)
    elif kind == "message":
        _text_field(action, "text", path, out, ACTION_TEXT_MAX)
    elif kind == "datetimepicker":
        _text_field(action, "data", path, out, POSTBACK_DATA_MAX, utf16=True)
        if action.get("mode") not in ("date", "time", "datetime"):
            choices = "date, time, datetime"
            out.append(
                Problem(
                    f"{path}.mode", "must be date, time or datetime", "one_of", {"choices": choices}
                )
            )
    elif kind == "richmenuswitch":
        _text_field(action, "richMenuAliasId", path, out, 32)
        _text_field(action, "data", path, out, POSTBACK_DATA_MAX, utf16=True)
    elif kind == "clipboard":
        _text_field(action, "clipboardText", path, out, 1000)


def _quick_reply(quick: Any, path: str, out: Problems) -> None:
    if not isinstance(quick, dict):
        out.append(Problem(path, "must be an object with items", "not_object"))
        return
    items = _list(quick, "items", path, out, 1, QUICK_REPLY_MAX)
    for i, item in enumerate(items or ()):
        here = f"{path}.items[{i}]"
        if not isinstance(item, dict) or item.get("type") != "action":
            out.append(Problem(here, 'must be {"type": "action", "action": {...}}', "not_object"))
            continue
        if "imageUrl" in item:
            _https(item, "imageUrl", here, out)
        check_action(item.get("action"), f"{here}.action", out)


def _sender(sender: Any, path: str, out: Problems) -> None:
    if not isinstance(sender, dict):
        out.append(Problem(path, "must be an object", "not_object"))
        return
    name = _text_field(sender, "name", path, out, SENDER_NAME_MAX, required=False)
    if name and ("LINE" in name or "ＬＩＮＥ" in name):
        out.append(Problem(f"{path}.name", "must not contain the word LINE", "sender_line"))
    if "iconUrl" in sender:
        _https(sender, "iconUrl", path, out)


# --- message types ---------------------------------------------------------------------------
def _text(message: dict, path: str, out: Problems) -> None:
    _text_field(message, "text", path, out, TEXT_MAX, utf16=True)
    emojis = message.get("emojis")
    if emojis is not None and (not isinstance(emojis, list) or len(emojis) > TEXT_EMOJIS_MAX):
        out.append(
            Problem(
                f"{path}.emojis",
                f"must be a list of at most {TEXT_EMOJIS_MAX} emojis",
                "too_many_emojis",
                {"max": TEXT_EMOJIS_MAX},
            )
        )


def _media(message: dict, path: str, out: Problems) -> None:
    _https(message, "originalContentUrl", path, out)
    if message["type"] != "audio":
        _https(message, "previewImageUrl", path, out)
    elif not isinstance(message.get("duration"), int):
        out.append(Problem(f"{path}.duration", "is required (milliseconds)", "number_required"))


def _location(message: dict, path: str, out: Problems) -> None:
    _text_field(message, "title", path, out, 100)
    _text_field(message, "address", path, out, 100)
    for key in ("latitude", "longitude"):
        if not isinstance(message.get(key), int | float):
            out.append(Problem(f"{path}.{key}", "is required (a number)", "number_required"))


def _sticker(message: dict, path: str, out: Problems) -> None:
    _text_field(message, "packageId", path, out)
    _text_field(message, "stickerId", path, out)


def _template(message: dict, path: str, out: Problems) -> None:
    _text_field(message, "altText", path, out, ALT_TEXT_MAX)
    template = message.get("template")
    here = f"{path}.template"
    if not isinstance(template, dict):
        out.append(Problem(here, "is required (an object)", "required"))
        return
    kind = template.get("type")
    if kind == "buttons":
        short = bool(template.get("thumbnailImageUrl") or template.get("title"))
        _text_field(template, "title", here, out, TITLE_MAX, required=False)
        limit = BUTTONS_TEXT_SHORT_MAX if short else BUTTONS_TEXT_MAX
        _text_field(template, "text", here, out, limit)
        if "thumbnailImageUrl" in template:
            _https(template, "thumbnailImageUrl", here, out)
        for i, action in enumerate(
            _list(template, "actions", here, out, 1, BUTTONS_ACTIONS_MAX) or ()
        ):
            check_action(action, f"{here}.actions[{i}]", out)
    elif kind == "confirm":
        _text_field(template, "text", here, out, CONFIRM_TEXT_MAX)
        actions = _list(template, "actions", here, out, 2, 2)
        for i, action in enumerate(actions or ()):
            check_action(action, f"{here}.actions[{i}]", out)
    elif kind in ("carousel", "image_carousel"):
        columns = _list(template, "columns", here, out, 1, CAROUSEL_COLUMNS_MAX) or ()
        counts = set()
        for i, column in enumerate(columns):
            cpath = f"{here}.columns[{i}]"
            if not isinstance(column, dict):
                out.append(Problem(cpath, "must be an object", "not_object"))
                continue
            if kind == "image_carousel":
                _https(column, "imageUrl", cpath, out)
                check_action(
                    column.get("action"), f"{cpath}.action", out, label=False, label_max=12
                )
                continue
            short = bool(column.get("thumbnailImageUrl") or column.get("title"))
            _text_field(column, "title", cpath, out, TITLE_MAX, required=False)
            limit = CAROUSEL_TEXT_SHORT_MAX if short else CAROUSEL_TEXT_MAX
            _text_field(column, "text", cpath, out, limit)
            actions = _list(column, "actions", cpath, out, 1, CAROUSEL_ACTIONS_MAX) or ()
            counts.add(len(actions))
            for j, action in enumerate(actions):
                check_action(action, f"{cpath}.actions[{j}]", out)
        if len(counts) > 1:
            out.append(
                Problem(
                    f"{here}.columns",
                    "every column must have the same number of actions",
                    "column_actions",
                )
            )
    else:
        choices = "buttons, confirm, carousel, image_carousel"
        out.append(
            Problem(
                f"{here}.type",
                "must be buttons, confirm, carousel or image_carousel",
                "one_of",
                {"choices": choices},
            )
        )


def _flex(message: dict, path: str, out: Problems) -> None:
    _text_field(message, "altText", path, out, ALT_TEXT_MAX)
    contents = message.get("contents")
    here = f"{path}.contents"
    if not isinstance(contents, dict) or contents.get("type") not in ("bubble", "carousel"):
        out.append(Problem(here, "must be a bubble or carousel container", "flex_container"))
        return
    size = len(orjson.dumps(contents))
    if contents["type"] == "bubble":
        if size > FLEX_BUBBLE_BYTES:
            out.append(
                Problem(
                    here,
                    f"a bubble must be at most 30 KB of JSON (is {size} bytes)",
                    "flex_too_large",
                    {"limit_kb": FLEX_BUBBLE_BYTES // 1024, "size": size},
                )
            )
    else:
        bubbles = _list(contents, "contents", here, out, 1, FLEX_BUBBLES_MAX)
        if size > FLEX_CAROUSEL_BYTES:
            out.append(
                Problem(
                    here,
                    f"a carousel must be at most 50 KB of JSON (is {size} bytes)",
                    "flex_too_large",
                    {"limit_kb": FLEX_CAROUSEL_BYTES // 1024, "size": size},
                )
            )
        for i, bubble in enumerate(bubbles or ()):
            if not isinstance(bubble, dict) or bubble.get("type") != "bubble":
                out.append(Problem(f"{here}.contents[{i}]", "must be a bubble", "not_bubble"))
    _flex_actions(contents, here, out, 0)


def _flex_actions(node: Any, path: str, out: Problems, depth: int) -> None:
    """Actions anywhere in a Flex container (buttons, tappable boxes, images, texts)."""
    if depth > 32:
        out.append(Problem(path, "is nested too deeply", "too_deep"))
        return
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "action":
                check_action(
                    value,
                    f"{path}.action",
                    out,
                    label=node.get("type") == "button",
                    label_max=FLEX_LABEL_MAX,
                )
            elif isinstance(value, dict | list):
                _flex_actions(value, f"{path}.{key}", out, depth + 1)
    elif isinstance(node, list):
        for i, item in enumerate(node):
            _flex_actions(item, f"{path}[{i}]", out, depth + 1)


def _imagemap(message: dict, path: str, out: Problems) -> None:
    _https(message, "baseUrl", path, out)
    _text_field(message, "altText", path, out, ALT_TEXT_MAX)
    base = message.get("baseSize")
    if not isinstance(base, dict) or base.get("width") != IMAGEMAP_WIDTH:
        out.append(
            Problem(
                f"{path}.baseSize",
                f"must be {{width: {IMAGEMAP_WIDTH}, height: ...}}",
                "imagemap_width",
                {"width": IMAGEMAP_WIDTH},
            )
        )
    actions = _list(message, "actions", path, out, 0, IMAGEMAP_ACTIONS_MAX)
    for i, action in enumerate(actions or ()):
        here = f"{path}.actions[{i}]"
        if not isinstance(action, dict) or action.get("type") not in ("uri", "message"):
            out.append(Problem(here, "must be a uri or message imagemap action", "imagemap_action"))
        elif action["type"] == "uri":
            _uri(action, "linkUri", here, out)
        else:
            _text_field(action, "text", here, out, 400)


_CHECKS = {
    "text": _text,
    "textV2": _text,
    "image": _media,
    "video": _media,
    "audio": _media,
    "location": _location,
    "sticker": _sticker,
    "template": _template,
    "imagemap": _imagemap,
    "flex": _flex,
}
