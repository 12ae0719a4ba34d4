"""Flex Messages: the container, its serialized size, and the actions and URLs inside.

LINE states the Flex limits as JSON size (30 KB a bubble, 50 KB a carousel); the emulator
measures compact UTF-8 JSON. Layout properties (sizes, colours, margins) are not checked:
the emulator renders nothing, and LINE adds such values without notice.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from enishi.emulator.validation_actions import FLEX, check_action
from enishi.emulator.validation_base import (
    ALT_TEXT_MAX,
    FLEX_BUBBLE_BYTES_MAX,
    FLEX_CAROUSEL_BUBBLES_MAX,
    FLEX_CAROUSEL_BYTES_MAX,
    MAX_DEPTH,
    MUST_BE_SPECIFIED,
    NOT_ARRAY,
    NOT_OBJECT,
    Problems,
    check_enum,
    check_https_url,
    check_str,
    get_array,
    get_object,
)

FLEX_COMPONENT_TYPES = (
    "box", "button", "image", "video", "icon", "text", "span", "separator", "filler",
)  # fmt: skip


def check_flex_message(msg: dict, path: str, out: Problems) -> None:
    """`altText` plus a bubble or a carousel of up to 12 bubbles, within LINE's JSON size."""
    check_str(msg, "altText", path, out, ALT_TEXT_MAX)
    contents = get_object(msg, "contents", path, out)
    if contents is None:
        return
    cpath = f"{path}.contents"
    kind = check_enum(contents, "type", cpath, out, ("bubble", "carousel"), required=True)
    if kind == "bubble":
        if _json_size(contents) > FLEX_BUBBLE_BYTES_MAX:
            out.append((cpath, _kb_message(FLEX_BUBBLE_BYTES_MAX)))
        _bubble(contents, cpath, out)
    elif kind == "carousel":
        size = _json_size(contents)
        if size > FLEX_CAROUSEL_BYTES_MAX:
            out.append((cpath, _kb_message(FLEX_CAROUSEL_BYTES_MAX)))
        bubbles = get_array(contents, "contents", cpath, out, 1, FLEX_CAROUSEL_BUBBLES_MAX)
        for i, bubble in enumerate(bubbles or ()):
            bpath = f"{cpath}.contents[{i}]"
            if type(bubble) is not dict:
                out.append((bpath, NOT_OBJECT))
                continue
            if check_enum(bubble, "type", bpath, out, ("bubble",), required=True) is None:
                continue
            # Only a carousel over the bubble limit can hold a bubble over it.
            if size > FLEX_BUBBLE_BYTES_MAX and _json_size(bubble) > FLEX_BUBBLE_BYTES_MAX:
                out.append((bpath, _kb_message(FLEX_BUBBLE_BYTES_MAX)))
            _bubble(bubble, bpath, out)


def _kb_message(limit: int) -> str:
    return f"Size must be {limit // 1024} KB or less"


def _json_size(value: Any) -> int:
    """Bytes of compact UTF-8 JSON, the size LINE's Flex limits are stated in."""
    try:
        return len(orjson.dumps(value))
    except (orjson.JSONEncodeError, TypeError):  # integers beyond 64 bits, deep nesting
        pass
    try:
        return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
    except (RecursionError, ValueError, TypeError):
        return 0  # too deep to serialize: the component walk reports the nesting


def _bubble(bubble: dict, path: str, out: Problems) -> None:
    for block in ("header", "hero", "body", "footer"):
        node = bubble.get(block)
        if node is not None:
            _component(node, f"{path}.{block}", out, 0)
    if bubble.get("action") is not None:
        check_action(bubble["action"], f"{path}.action", FLEX, out)


def _component(node: object, path: str, out: Problems, depth: int) -> None:
    """A Flex component: its actions, image URLs, and the components it contains."""
    if type(node) is not dict:
        out.append((path, NOT_OBJECT))
        return
    kind = check_enum(node, "type", path, out, FLEX_COMPONENT_TYPES, required=True)
    if kind is None:
        return
    if depth > MAX_DEPTH:
        out.append((path, "Nesting is too deep"))
        return
    action = node.get("action")
    if action is not None:
        check_action(action, f"{path}.action", FLEX, out)
    elif kind == "button":
        out.append((f"{path}.action", MUST_BE_SPECIFIED))
    if kind in ("image", "icon"):
        check_https_url(node, "url", path, out)
    elif kind == "video":
        check_https_url(node, "url", path, out)
        check_https_url(node, "previewUrl", path, out)
        alt = node.get("altContent")
        if alt is None:
            out.append((f"{path}.altContent", MUST_BE_SPECIFIED))
        else:
            _component(alt, f"{path}.altContent", out, depth + 1)
    elif kind in ("box", "text"):  # a box holds components, a text holds spans
        children = node.get("contents")
        if children is None:
            if kind == "box":
                out.append((f"{path}.contents", MUST_BE_SPECIFIED))
        elif type(children) is not list:
            out.append((f"{path}.contents", NOT_ARRAY))
        else:
            for i, child in enumerate(children):
                _component(child, f"{path}.contents[{i}]", out, depth + 1)
