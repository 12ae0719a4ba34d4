"""Action objects, quick replies, imagemap actions and templates.

An action is checked against the place it appears in (`ActionContext`): LINE accepts a
different set of action types and label lengths in quick replies, templates, Flex
Messages, image carousels and rich menus, and only some of them require a label.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from enishi.emulator.validation_base import (
    ACTION_DATA_MAX,
    ACTION_TEXT_MAX,
    ALT_TEXT_MAX,
    BUTTONS_ACTIONS_MAX,
    BUTTONS_TEXT_MAX,
    BUTTONS_TEXT_WITH_IMAGE_OR_TITLE_MAX,
    CAROUSEL_ACTIONS_MAX,
    CAROUSEL_COLUMNS_MAX,
    CAROUSEL_TEXT_MAX,
    CAROUSEL_TEXT_WITH_IMAGE_OR_TITLE_MAX,
    CLIPBOARD_TEXT_MAX,
    CONFIRM_ACTIONS,
    CONFIRM_TEXT_MAX,
    FLEX_LABEL_MAX,
    IMAGE_CAROUSEL_LABEL_MAX,
    IMAGEMAP_MESSAGE_TEXT_MAX,
    LABEL_MAX,
    MUST_BE_SPECIFIED,
    NOT_OBJECT,
    NOT_STRING,
    QUICK_REPLY_ITEMS_MAX,
    RICH_MENU_ALIAS_ID_MAX,
    TEMPLATE_TITLE_MAX,
    Problems,
    check_action_uri,
    check_enum,
    check_https_url,
    check_int,
    check_str,
    get_array,
    get_object,
    grapheme_over,
    one_of_message,
)


class ActionContext(NamedTuple):
    """Where an action sits: which types LINE allows there, and its label rule."""

    types: tuple[str, ...]
    label_max: int
    label_required: bool


_COMMON = ("postback", "message", "uri", "datetimepicker", "clipboard")
# camera, cameraRoll and location work only as quick-reply buttons.
QUICK_REPLY = ActionContext((*_COMMON, "camera", "cameraRoll", "location"), LABEL_MAX, True)
TEMPLATE = ActionContext(_COMMON, LABEL_MAX, True)
DEFAULT_ACTION = ActionContext(_COMMON, LABEL_MAX, False)  # template defaultAction
IMAGE_CAROUSEL = ActionContext(_COMMON, IMAGE_CAROUSEL_LABEL_MAX, False)
FLEX = ActionContext(_COMMON, FLEX_LABEL_MAX, False)
# richmenuswitch works only in rich menus.
RICH_MENU = ActionContext((*_COMMON, "richmenuswitch"), LABEL_MAX, False)

INPUT_OPTIONS = ("closeRichMenu", "openRichMenu", "openKeyboard", "openVoice")
DATETIME_MODES = ("date", "time", "datetime")
# Formats and ranges from the datetime picker reference.
_DATETIME_FORMATS = {
    "date": (re.compile(r"\d{4}-\d{2}-\d{2}"), "1900-01-01", "2100-12-31", "YYYY-MM-DD"),
    "time": (re.compile(r"\d{2}:\d{2}"), "00:00", "23:59", "HH:mm"),
    "datetime": (
        re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}"),
        "1900-01-01T00:00",
        "2100-12-31T23:59",
        "YYYY-MM-DDTHH:mm",
    ),
}


def check_action(action: object, path: str, ctx: ActionContext, out: Problems) -> None:
    """One action object at `path` (e.g. `messages[0].template.actions[2]`)."""
    if type(action) is not dict:
        out.append((path, NOT_OBJECT))
        return
    kind = action.get("type")
    if kind is None:
        out.append((f"{path}.type", MUST_BE_SPECIFIED))
        return
    if kind not in ctx.types:
        out.append((f"{path}.type", one_of_message(ctx.types)))
        return
    check_str(
        action, "label", path, out, ctx.label_max, required=ctx.label_required, over=grapheme_over
    )
    check = _ACTION_CHECKS.get(kind)
    if check is not None:
        check(action, path, out)


def _postback(action: dict, path: str, out: Problems) -> None:
    check_str(action, "data", path, out, ACTION_DATA_MAX, allow_empty=True)
    display = check_str(
        action, "displayText", path, out, ACTION_TEXT_MAX, required=False, over=grapheme_over
    )
    text = check_str(action, "text", path, out, ACTION_TEXT_MAX, required=False, over=grapheme_over)
    if display is not None and text is not None:
        out.append((f"{path}.text", "Cannot be specified together with displayText"))
    check_enum(action, "inputOption", path, out, INPUT_OPTIONS, required=False)
    check_str(action, "fillInText", path, out, ACTION_TEXT_MAX, required=False, over=grapheme_over)


def _message(action: dict, path: str, out: Problems) -> None:
    check_str(action, "text", path, out, ACTION_TEXT_MAX, over=grapheme_over)


def _uri(action: dict, path: str, out: Problems) -> None:
    check_action_uri(action, "uri", path, out, required=True)
    alt = get_object(action, "altUri", path, out, required=False)
    if alt is not None:
        check_action_uri(alt, "desktop", f"{path}.altUri", out, required=False)


def _datetimepicker(action: dict, path: str, out: Problems) -> None:
    check_str(action, "data", path, out, ACTION_DATA_MAX, allow_empty=True)
    mode = check_enum(action, "mode", path, out, DATETIME_MODES, required=True)
    if mode is None:
        return
    pattern, lowest, highest, shape = _DATETIME_FORMATS[mode]
    values = {}
    for key in ("initial", "max", "min"):
        v = action.get(key)
        if v is None:
            continue
        if type(v) is not str or not pattern.fullmatch(v):
            out.append((f"{path}.{key}", f"Must be in the format {shape}"))
            continue
        v = v.replace("t", "T")
        if not lowest <= v <= highest:
            out.append((f"{path}.{key}", f"Must be between {lowest} and {highest}"))
            continue
        values[key] = v
    low, high, initial = values.get("min"), values.get("max"), values.get("initial")
    if low and high and low >= high:
        out.append((f"{path}.max", "Must be greater than min"))
    elif initial and ((low and initial < low) or (high and initial > high)):
        out.append((f"{path}.initial", "Must be between min and max"))


def _clipboard(action: dict, path: str, out: Problems) -> None:
    check_str(action, "clipboardText", path, out, CLIPBOARD_TEXT_MAX)


def _richmenuswitch(action: dict, path: str, out: Problems) -> None:
    check_str(action, "richMenuAliasId", path, out, RICH_MENU_ALIAS_ID_MAX)
    check_str(action, "data", path, out, ACTION_DATA_MAX, allow_empty=True)


_ACTION_CHECKS = {
    "postback": _postback,
    "message": _message,
    "uri": _uri,
    "datetimepicker": _datetimepicker,
    "clipboard": _clipboard,
    "richmenuswitch": _richmenuswitch,
    # camera, cameraRoll and location carry only a label.
}


def check_actions(
    obj: dict, key: str, parent: str, ctx: ActionContext, out: Problems, min_n: int, max_n: int
) -> list | None:
    actions = get_array(obj, key, parent, out, min_n, max_n)
    if actions is not None:
        base = f"{parent}.{key}"
        for i, action in enumerate(actions):
            check_action(action, f"{base}[{i}]", ctx, out)
    return actions


# --- Quick reply ---


def check_quick_reply(quick_reply: object, path: str, out: Problems) -> None:
    """`quickReply`: up to 13 buttons, each `{type: "action", action, imageUrl?}`."""
    if type(quick_reply) is not dict:
        out.append((path, NOT_OBJECT))
        return
    items = get_array(quick_reply, "items", path, out, 0, QUICK_REPLY_ITEMS_MAX)
    if items is None:
        return
    for i, item in enumerate(items):
        item_path = f"{path}.items[{i}]"
        if type(item) is not dict:
            out.append((item_path, NOT_OBJECT))
            continue
        check_enum(item, "type", item_path, out, ("action",), required=True)
        if item.get("imageUrl") is not None:
            check_https_url(item, "imageUrl", item_path, out)
        action = item.get("action")
        if action is None:
            out.append((f"{item_path}.action", MUST_BE_SPECIFIED))
        else:
            check_action(action, f"{item_path}.action", QUICK_REPLY, out)


# --- Imagemap actions: their own types, each with a tappable area ---

IMAGEMAP_ACTION_TYPES = ("uri", "message", "clipboard")


def check_area(obj: dict, key: str, parent: str, out: Problems) -> None:
    area = get_object(obj, key, parent, out)
    if area is not None:
        path = f"{parent}.{key}"
        for k in ("x", "y"):
            check_int(area, k, path, out, minimum=0)
        for k in ("width", "height"):
            check_int(area, k, path, out, minimum=1)


def check_imagemap_action(action: object, path: str, out: Problems) -> None:
    if type(action) is not dict:
        out.append((path, NOT_OBJECT))
        return
    kind = check_enum(action, "type", path, out, IMAGEMAP_ACTION_TYPES, required=True)
    if kind == "uri":
        check_action_uri(action, "linkUri", path, out, required=True)
    elif kind == "message":
        check_str(action, "text", path, out, IMAGEMAP_MESSAGE_TEXT_MAX)
    elif kind == "clipboard":
        check_str(action, "clipboardText", path, out, CLIPBOARD_TEXT_MAX)
    if action.get("label") is not None and type(action["label"]) is not str:
        out.append((f"{path}.label", NOT_STRING))
    check_area(action, "area", path, out)


# --- Template messages ---

TEMPLATE_TYPES = ("buttons", "confirm", "carousel", "image_carousel")
ASPECT_RATIOS = ("rectangle", "square")
IMAGE_SIZES = ("cover", "contain")


def check_template_message(msg: dict, path: str, out: Problems) -> None:
    check_str(msg, "altText", path, out, ALT_TEXT_MAX)
    template = get_object(msg, "template", path, out)
    if template is None:
        return
    tpath = f"{path}.template"
    kind = check_enum(template, "type", tpath, out, TEMPLATE_TYPES, required=True)
    if kind is not None:
        _TEMPLATE_CHECKS[kind](template, tpath, out)


def _image_options(obj: dict, path: str, out: Problems) -> None:
    check_enum(obj, "imageAspectRatio", path, out, ASPECT_RATIOS, required=False)
    check_enum(obj, "imageSize", path, out, IMAGE_SIZES, required=False)


def _text_with_optional_image(
    obj: dict, path: str, out: Problems, plain_max: int, short_max: int
) -> None:
    """Buttons and carousel columns: the text limit drops when an image or title is shown."""
    if obj.get("thumbnailImageUrl") is not None:
        check_https_url(obj, "thumbnailImageUrl", path, out)
    title = check_str(
        obj, "title", path, out, TEMPLATE_TITLE_MAX, required=False, over=grapheme_over
    )
    has_image = obj.get("thumbnailImageUrl") is not None
    limit = short_max if has_image or title else plain_max
    check_str(obj, "text", path, out, limit, over=grapheme_over)
    if obj.get("defaultAction") is not None:
        check_action(obj["defaultAction"], f"{path}.defaultAction", DEFAULT_ACTION, out)


def _buttons(template: dict, path: str, out: Problems) -> None:
    _image_options(template, path, out)
    _text_with_optional_image(
        template, path, out, BUTTONS_TEXT_MAX, BUTTONS_TEXT_WITH_IMAGE_OR_TITLE_MAX
    )
    check_actions(template, "actions", path, TEMPLATE, out, 1, BUTTONS_ACTIONS_MAX)


def _confirm(template: dict, path: str, out: Problems) -> None:
    check_str(template, "text", path, out, CONFIRM_TEXT_MAX, over=grapheme_over)
    check_actions(template, "actions", path, TEMPLATE, out, CONFIRM_ACTIONS, CONFIRM_ACTIONS)


def _carousel(template: dict, path: str, out: Problems) -> None:
    _image_options(template, path, out)
    columns = get_array(template, "columns", path, out, 1, CAROUSEL_COLUMNS_MAX)
    if columns is None:
        return
    counts = set()
    for i, column in enumerate(columns):
        cpath = f"{path}.columns[{i}]"
        if type(column) is not dict:
            out.append((cpath, NOT_OBJECT))
            continue
        _text_with_optional_image(
            column, cpath, out, CAROUSEL_TEXT_MAX, CAROUSEL_TEXT_WITH_IMAGE_OR_TITLE_MAX
        )
        actions = check_actions(column, "actions", cpath, TEMPLATE, out, 1, CAROUSEL_ACTIONS_MAX)
        if actions is not None:
            counts.add(len(actions))
    # LINE renders columns side by side and rejects carousels whose columns differ.
    if len(counts) > 1:
        out.append((f"{path}.columns", "All columns must have the same number of actions"))


def _image_carousel(template: dict, path: str, out: Problems) -> None:
    columns = get_array(template, "columns", path, out, 1, CAROUSEL_COLUMNS_MAX)
    if columns is None:
        return
    for i, column in enumerate(columns):
        cpath = f"{path}.columns[{i}]"
        if type(column) is not dict:
            out.append((cpath, NOT_OBJECT))
            continue
        check_https_url(column, "imageUrl", cpath, out)
        action = column.get("action")
        if action is None:
            out.append((f"{cpath}.action", MUST_BE_SPECIFIED))
        else:
            check_action(action, f"{cpath}.action", IMAGE_CAROUSEL, out)


_TEMPLATE_CHECKS = {
    "buttons": _buttons,
    "confirm": _confirm,
    "carousel": _carousel,
    "image_carousel": _image_carousel,
}

__all__ = [
    "DEFAULT_ACTION",
    "FLEX",
    "IMAGE_CAROUSEL",
    "QUICK_REPLY",
    "RICH_MENU",
    "TEMPLATE",
    "ActionContext",
    "check_action",
    "check_actions",
    "check_area",
    "check_imagemap_action",
    "check_quick_reply",
    "check_template_message",
]
