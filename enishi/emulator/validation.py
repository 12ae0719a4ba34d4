"""Request validation for the emulated Messaging API: message objects, narrowcast, rich menus.

Each validator returns `(property path, message)` problems, empty when the request is
valid; `errors.validation_error(problems)` turns them into LINE's 400 body. Paths follow
LINE's style (`messages[1].template.actions[2].uri`); messages use LINE's wording where it
is known. Unknown extra fields are ignored, because LINE is forward compatible.

These are plain dict/list checks, with no schema engine: they run on every send request.
The limits and primitive checks live in `validation_base`, action and template checks in
`validation_actions`, Flex Message checks in `validation_flex`.
"""

from __future__ import annotations

import re
from typing import Any

from enishi.emulator.validation_actions import (
    RICH_MENU,
    check_action,
    check_area,
    check_imagemap_action,
    check_quick_reply,
    check_template_message,
)
from enishi.emulator.validation_base import (
    AGGREGATION_UNIT_PATTERN,
    AGGREGATION_UNIT_RE,
    AGGREGATION_UNITS_MAX,
    ALT_TEXT_MAX,
    IMAGEMAP_ACTIONS_MAX,
    IMAGEMAP_LINK_LABEL_MAX,
    IMAGEMAP_WIDTH,
    LOCATION_TEXT_MAX,
    MAX_DEPTH,
    MAY_NOT_BE_EMPTY,
    MESSAGES_MAX,
    MUST_BE_SPECIFIED,
    NARROWCAST_FILTERS_MAX,
    NARROWCAST_RECIPIENTS_MAX,
    NOT_ARRAY,
    NOT_OBJECT,
    RICH_MENU_AREAS_MAX,
    RICH_MENU_CHAT_BAR_TEXT_MAX,
    RICH_MENU_HEIGHT_MIN,
    RICH_MENU_NAME_MAX,
    RICH_MENU_RATIO_MIN,
    RICH_MENU_WIDTH_MAX,
    RICH_MENU_WIDTH_MIN,
    SENDER_FORBIDDEN_WORDS,
    SENDER_NAME_MAX,
    TEXT_EMOJIS_MAX,
    TEXT_MAX,
    TEXTV2_MENTIONS_MAX,
    TEXTV2_SUBSTITUTIONS_MAX,
    VIDEO_TRACKING_ID_MAX,
    Problems,
    check_action_uri,
    check_bool,
    check_enum,
    check_https_url,
    check_int,
    check_number,
    check_str,
    get_array,
    get_object,
    grapheme_over,
    one_of_message,
    size_message,
)
from enishi.emulator.validation_flex import check_flex_message

__all__ = [
    "validate_custom_aggregation_units",
    "validate_messages",
    "validate_narrowcast",
    "validate_rich_menu",
    "validate_user_id",
]

_USER_ID_RE = re.compile(r"U[0-9a-f]{32}")


def validate_user_id(value: Any) -> bool:
    """A LINE user ID: `U` and 32 lowercase hex digits."""
    return type(value) is str and _USER_ID_RE.fullmatch(value) is not None


def validate_custom_aggregation_units(value: Any, prop: str = "customAggregationUnits") -> Problems:
    """Push/multicast `customAggregationUnits`: at most one name of `[a-zA-Z0-9_]{1,30}`."""
    if value is None:
        return []
    if type(value) is not list:
        return [(prop, NOT_ARRAY)]
    if len(value) > AGGREGATION_UNITS_MAX:
        return [(prop, size_message(0, AGGREGATION_UNITS_MAX))]
    return [
        (f"{prop}[{i}]", f'Must match "{AGGREGATION_UNIT_PATTERN}"')
        for i, name in enumerate(value)
        if type(name) is not str or AGGREGATION_UNIT_RE.fullmatch(name) is None
    ]


# --- Messages ---


def validate_messages(messages: Any, prop: str = "messages") -> Problems:
    """The `messages` array of a send request: 1 to 5 message objects."""
    if messages is None:
        return [(prop, MUST_BE_SPECIFIED)]
    if type(messages) is not list:
        return [(prop, NOT_ARRAY)]
    if not 1 <= len(messages) <= MESSAGES_MAX:
        return [(prop, size_message(1, MESSAGES_MAX))]
    out: Problems = []
    for i, msg in enumerate(messages):
        path = f"{prop}[{i}]"
        if type(msg) is not dict:
            out.append((path, NOT_OBJECT))
            continue
        kind = msg.get("type")
        check = _MESSAGE_CHECKS.get(kind) if type(kind) is str else None
        if check is not None:
            check(msg, path, out)
        elif kind is None:
            out.append((f"{path}.type", MUST_BE_SPECIFIED))
        else:
            out.append((f"{path}.type", one_of_message(MESSAGE_TYPES)))
        quick_reply = msg.get("quickReply")
        if quick_reply is not None:
            check_quick_reply(quick_reply, f"{path}.quickReply", out)
        sender = msg.get("sender")
        if sender is not None:
            _sender(sender, f"{path}.sender", out)
    return out


def _sender(sender: object, path: str, out: Problems) -> None:
    """Icon and nickname switch; LINE refuses names that pose as LINE itself."""
    if type(sender) is not dict:
        out.append((path, NOT_OBJECT))
        return
    name = check_str(sender, "name", path, out, SENDER_NAME_MAX, required=False)
    if name and any(word in name for word in SENDER_FORBIDDEN_WORDS):
        out.append((f"{path}.name", "Must not contain the word LINE"))
    if sender.get("iconUrl") is not None:
        check_https_url(sender, "iconUrl", path, out)


def _text(msg: dict, path: str, out: Problems) -> None:
    text = check_str(msg, "text", path, out, TEXT_MAX)
    emojis = get_array(msg, "emojis", path, out, 0, TEXT_EMOJIS_MAX, required=False)
    if emojis:
        _emojis(emojis, text, f"{path}.emojis", out)
    check_str(msg, "quoteToken", path, out, required=False)


def _emojis(emojis: list, text: str | None, path: str, out: Problems) -> None:
    """Each LINE emoji replaces the `$` at its UTF-16 `index` in the text."""
    units = None
    if text and not text.isascii():
        units = text.encode("utf-16-le")
    for i, emoji in enumerate(emojis):
        epath = f"{path}[{i}]"
        if type(emoji) is not dict:
            out.append((epath, NOT_OBJECT))
            continue
        index = check_int(emoji, "index", epath, out, minimum=0)
        check_str(emoji, "productId", epath, out)
        check_str(emoji, "emojiId", epath, out)
        if index is None or text is None:
            continue
        if units is None:
            ok = index < len(text) and text[index] == "$"
        else:
            ok = units[2 * index : 2 * index + 2] == b"$\x00"
        if not ok:
            out.append((f"{epath}.index", "Must point to a $ placeholder in text"))


def _text_v2(msg: dict, path: str, out: Problems) -> None:
    """Text with `{key}` placeholders filled from `substitution` (mentions, LINE emoji)."""
    check_str(msg, "text", path, out, TEXT_MAX)
    check_str(msg, "quoteToken", path, out, required=False)
    subs = get_object(msg, "substitution", path, out, required=False)
    if subs is None:
        return
    spath = f"{path}.substitution"
    if len(subs) > TEXTV2_SUBSTITUTIONS_MAX:
        out.append((spath, size_message(0, TEXTV2_SUBSTITUTIONS_MAX)))
    mentions = 0
    for key, sub in subs.items():
        kpath = f"{spath}.{key}"
        if type(sub) is not dict:
            out.append((kpath, NOT_OBJECT))
            continue
        kind = check_enum(sub, "type", kpath, out, ("mention", "emoji"), required=True)
        if kind == "emoji":
            check_str(sub, "productId", kpath, out)
            check_str(sub, "emojiId", kpath, out)
        elif kind == "mention":
            mentions += 1
            mentionee = get_object(sub, "mentionee", kpath, out)
            if mentionee is not None:
                mpath = f"{kpath}.mentionee"
                target = check_enum(mentionee, "type", mpath, out, ("user", "all"), required=True)
                if target == "user":
                    check_str(mentionee, "userId", mpath, out)
    if mentions > TEXTV2_MENTIONS_MAX:
        out.append((spath, f"Up to {TEXTV2_MENTIONS_MAX} mentions can be specified"))


def _sticker(msg: dict, path: str, out: Problems) -> None:
    check_str(msg, "packageId", path, out)
    check_str(msg, "stickerId", path, out)
    check_str(msg, "quoteToken", path, out, required=False)


def _image(msg: dict, path: str, out: Problems) -> None:
    check_https_url(msg, "originalContentUrl", path, out)
    check_https_url(msg, "previewImageUrl", path, out)


def _video(msg: dict, path: str, out: Problems) -> None:
    check_https_url(msg, "originalContentUrl", path, out)
    check_https_url(msg, "previewImageUrl", path, out)
    check_str(msg, "trackingId", path, out, VIDEO_TRACKING_ID_MAX, required=False)


def _audio(msg: dict, path: str, out: Problems) -> None:
    check_https_url(msg, "originalContentUrl", path, out)
    check_int(msg, "duration", path, out, minimum=0)


def _location(msg: dict, path: str, out: Problems) -> None:
    check_str(msg, "title", path, out, LOCATION_TEXT_MAX)
    check_str(msg, "address", path, out, LOCATION_TEXT_MAX)
    check_number(msg, "latitude", path, out)
    check_number(msg, "longitude", path, out)


def _imagemap(msg: dict, path: str, out: Problems) -> None:
    check_https_url(msg, "baseUrl", path, out)
    check_str(msg, "altText", path, out, ALT_TEXT_MAX)
    base_size = get_object(msg, "baseSize", path, out)
    if base_size is not None:
        bpath = f"{path}.baseSize"
        width = check_int(base_size, "width", bpath, out)
        if width is not None and width != IMAGEMAP_WIDTH:
            out.append((f"{bpath}.width", f"Must be {IMAGEMAP_WIDTH}"))
        check_int(base_size, "height", bpath, out, minimum=1)
    actions = get_array(msg, "actions", path, out, 0, IMAGEMAP_ACTIONS_MAX)
    if actions:
        for i, action in enumerate(actions):
            check_imagemap_action(action, f"{path}.actions[{i}]", out)
    video = get_object(msg, "video", path, out, required=False)
    if video is not None:
        vpath = f"{path}.video"
        check_https_url(video, "originalContentUrl", vpath, out)
        check_https_url(video, "previewImageUrl", vpath, out)
        check_area(video, "area", vpath, out)
        link = get_object(video, "externalLink", vpath, out, required=False)
        if link is not None:
            lpath = f"{vpath}.externalLink"
            check_action_uri(link, "linkUri", lpath, out, required=True)
            check_str(link, "label", lpath, out, IMAGEMAP_LINK_LABEL_MAX, over=grapheme_over)


def _coupon(msg: dict, path: str, out: Problems) -> None:
    check_str(msg, "couponId", path, out)
    check_str(msg, "deliveryTag", path, out, 30, required=False)


MESSAGE_TYPES = (
    "text", "textV2", "image", "video", "audio", "location", "sticker", "template",
    "imagemap", "flex", "coupon",
)  # fmt: skip

_MESSAGE_CHECKS = {
    "text": _text,
    "textV2": _text_v2,
    "sticker": _sticker,
    "image": _image,
    "video": _video,
    "audio": _audio,
    "location": _location,
    "imagemap": _imagemap,
    "template": check_template_message,
    "flex": check_flex_message,
    "coupon": _coupon,
}


# --- Narrowcast ---

AGE_VALUES = tuple(f"age_{n}" for n in range(15, 75, 5))
SUBSCRIPTION_PERIODS = ("day_7", "day_30", "day_90", "day_180", "day_365")
GENDERS = ("male", "female")
APP_TYPES = ("ios", "android")
AREAS = tuple(
    [f"jp_{n:02d}" for n in range(1, 48)]
    + [f"tw_{n:02d}" for n in range(1, 23)]
    + [f"th_{n:02d}" for n in range(1, 9)]
    + [f"id_{n:02d}" for n in range(1, 13)]
)
_ONE_OF_FILTERS = {"gender": GENDERS, "appType": APP_TYPES, "area": AREAS}
_RANGE_FILTERS = {"age": AGE_VALUES, "subscriptionPeriod": SUBSCRIPTION_PERIODS}
DEMOGRAPHIC_TYPES = ("operator", "age", "appType", "area", "gender", "subscriptionPeriod")
RECIPIENT_TYPES = ("operator", "audience", "redelivery")


def validate_narrowcast(body: Any) -> Problems:
    """Narrowcast: messages plus optional recipient, demographic filter and limit."""
    if type(body) is not dict:
        return [("", NOT_OBJECT)]
    out = validate_messages(body.get("messages"))
    recipient = body.get("recipient")
    if recipient is not None:
        leaves = _recipient(recipient, "recipient", out, 0)
        if leaves > NARROWCAST_RECIPIENTS_MAX:
            message = f"Up to {NARROWCAST_RECIPIENTS_MAX} audience or redelivery objects"
            out.append(("recipient", f"{message} can be specified"))
    flt = get_object(body, "filter", "", out, required=False)
    if flt is not None:
        demographic = flt.get("demographic")
        if demographic is not None:
            leaves = _demographic(demographic, "filter.demographic", out, 0)
            if leaves > NARROWCAST_FILTERS_MAX:
                message = f"Up to {NARROWCAST_FILTERS_MAX} demographic filter objects"
                out.append(("filter.demographic", f"{message} can be specified"))
    limit = get_object(body, "limit", "", out, required=False)
    if limit is not None:
        check_int(limit, "max", "limit", out, required=False, minimum=1)
        check_bool(limit, "upToRemainingQuota", "limit", out)
        check_bool(limit, "forbidPartialDelivery", "limit", out)
        forbid_partial = limit.get("forbidPartialDelivery") is True
        if forbid_partial and limit.get("upToRemainingQuota") is not True:
            message = "Can be true only when upToRemainingQuota is true"
            out.append(("limit.forbidPartialDelivery", message))
    check_bool(body, "notificationDisabled", "", out)
    return _top_level(out)


def _top_level(out: Problems) -> Problems:
    """Top-level fields were checked under parent "": drop the leading dot."""
    return [(p[1:] if p.startswith(".") else p, m) for p, m in out] if out else out


def _operator(node: dict, path: str, out: Problems, depth: int, child: Any) -> int:
    """`{type: operator}` with exactly one of and/or (non-empty arrays) or not (object).

    Returns the number of leaf objects below it, which LINE caps.
    """
    present = [key for key in ("and", "or", "not") if node.get(key) is not None]
    if len(present) != 1:
        out.append((path, "Exactly one of and, or, not must be specified"))
    if depth > MAX_DEPTH:
        out.append((path, "Nesting is too deep"))
        return 0
    leaves = 0
    for key in present:
        value = node[key]
        if key == "not":
            leaves += child(value, f"{path}.not", out, depth + 1)
        elif type(value) is not list:
            out.append((f"{path}.{key}", NOT_ARRAY))
        elif not value:
            out.append((f"{path}.{key}", MAY_NOT_BE_EMPTY))
        else:
            for i, item in enumerate(value):
                leaves += child(item, f"{path}.{key}[{i}]", out, depth + 1)
    return leaves


def _recipient(node: object, path: str, out: Problems, depth: int) -> int:
    if type(node) is not dict:
        out.append((path, NOT_OBJECT))
        return 0
    kind = check_enum(node, "type", path, out, RECIPIENT_TYPES, required=True)
    if kind == "audience":
        check_int(node, "audienceGroupId", path, out)
        return 1
    if kind == "redelivery":
        check_str(node, "requestId", path, out)
        return 1
    if kind == "operator":
        return _operator(node, path, out, depth, _recipient)
    return 0


def _demographic(node: object, path: str, out: Problems, depth: int) -> int:
    if type(node) is not dict:
        out.append((path, NOT_OBJECT))
        return 0
    kind = check_enum(node, "type", path, out, DEMOGRAPHIC_TYPES, required=True)
    if kind is None:
        return 0
    if kind == "operator":
        return _operator(node, path, out, depth, _demographic)
    if kind in _ONE_OF_FILTERS:
        values = _ONE_OF_FILTERS[kind]
        items = node.get("oneOf")
        if items is None:
            out.append((f"{path}.oneOf", MUST_BE_SPECIFIED))
        elif type(items) is not list:
            out.append((f"{path}.oneOf", NOT_ARRAY))
        elif not items:
            out.append((f"{path}.oneOf", MAY_NOT_BE_EMPTY))
        else:
            for i, item in enumerate(items):
                if item not in values:
                    out.append((f"{path}.oneOf[{i}]", one_of_message(values)))
        return 1
    values = _RANGE_FILTERS[kind]
    gte = check_enum(node, "gte", path, out, values, required=False)
    lt = check_enum(node, "lt", path, out, values, required=False)
    if node.get("gte") is None and node.get("lt") is None:
        out.append((path, "gte or lt must be specified"))
    elif gte and lt and values.index(gte) >= values.index(lt):
        out.append((f"{path}.lt", "Must be greater than gte"))
    return 1


# --- Rich menu ---


def validate_rich_menu(body: Any) -> Problems:
    """A rich menu object: size, selected, name, chatBarText and up to 20 tappable areas."""
    if type(body) is not dict:
        return [("", NOT_OBJECT)]
    out: Problems = []
    width = height = None
    size = get_object(body, "size", "", out)
    if size is not None:
        width = check_int(size, "width", "size", out)
        height = check_int(size, "height", "size", out)
        if width is not None and not RICH_MENU_WIDTH_MIN <= width <= RICH_MENU_WIDTH_MAX:
            out.append(
                ("size.width", f"Must be between {RICH_MENU_WIDTH_MIN} and {RICH_MENU_WIDTH_MAX}")
            )
            width = None
        if height is not None and height < RICH_MENU_HEIGHT_MIN:
            out.append(("size.height", f"Must be greater than or equal to {RICH_MENU_HEIGHT_MIN}"))
            height = None
        if width and height and width / height < RICH_MENU_RATIO_MIN:
            out.append(("size", f"width / height must be {RICH_MENU_RATIO_MIN} or more"))
    check_bool(body, "selected", "", out, required=True)
    check_str(body, "name", "", out, RICH_MENU_NAME_MAX, over=grapheme_over)
    check_str(body, "chatBarText", "", out, RICH_MENU_CHAT_BAR_TEXT_MAX, over=grapheme_over)
    areas = get_array(body, "areas", "", out, 0, RICH_MENU_AREAS_MAX)
    for i, area in enumerate(areas or ()):
        _rich_menu_area(area, f"areas[{i}]", width, height, out)
    return _top_level(out)


def _rich_menu_area(
    area: object, path: str, width: int | None, height: int | None, out: Problems
) -> None:
    if type(area) is not dict:
        out.append((path, NOT_OBJECT))
        return
    bounds = get_object(area, "bounds", path, out)
    if bounds is not None:
        bpath = f"{path}.bounds"
        x = check_int(bounds, "x", bpath, out, minimum=0)
        y = check_int(bounds, "y", bpath, out, minimum=0)
        w = check_int(bounds, "width", bpath, out, minimum=1)
        h = check_int(bounds, "height", bpath, out, minimum=1)
        outside_x = width is not None and x is not None and w is not None and x + w > width
        outside_y = height is not None and y is not None and h is not None and y + h > height
        if outside_x or outside_y:
            out.append((bpath, "Must be within the rich menu size"))
    action = area.get("action")
    if action is None:
        out.append((f"{path}.action", MUST_BE_SPECIFIED))
    else:
        check_action(action, f"{path}.action", RICH_MENU, out)
