"""Personalized LINE messages: variables in any string of a message, rendered per friend.

Variables: `{{display_name}}`, `{{member_id}}`, `{{attr.<key>}}`, each with an optional
default for friends who lack the value: `{{display_name|お客様}}`. Inside URL fields the
value is percent-encoded. A friend without the value and no default gets an empty string.

Rendering works on the messages' JSON text, not on the object tree: the messages are
serialized once, and each friend's copy is one regular-expression substitution (values
JSON-escaped), which keeps 100,000 personalized pushes cheap to plan. Used by deliveries
now, and by scenarios, replies and the inbox next.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import orjson

from enishi.messages.validation import Problem, Problems, validate_messages

_VARIABLE = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_NAME = re.compile(r"^(display_name|member_id|attr\.[a-z0-9_]{1,64})$")
URL_KEYS = frozenset(
    {
        "uri",
        "linkUri",
        "desktop",
        "originalContentUrl",
        "previewImageUrl",
        "baseUrl",
        "thumbnailImageUrl",
        "imageUrl",
        "iconUrl",
        "url",
    }
)
SAMPLE = {"display_name": "山田 花子", "member_id": "M0000000001"}
DEFAULT_SAMPLE = "サンプル"


@dataclass(frozen=True)
class Variable:
    name: str  # display_name | member_id | attr.<key>
    default: str | None


@dataclass
class FriendContext:
    display_name: str | None = None
    member_id: str | None = None
    attrs: dict[str, Any] = field(default_factory=dict)

    def value(self, name: str) -> str | None:
        if name == "display_name":
            return self.display_name or None
        if name == "member_id":
            return self.member_id or None
        raw = self.attrs.get(name[5:])
        if raw is None or raw == "":
            return None
        if isinstance(raw, float) and raw.is_integer():
            return str(int(raw))
        return str(raw)


def parse_variable(inner: str) -> Variable | None:
    name, bar, default = inner.partition("|")
    name = name.strip()
    if not _NAME.match(name):
        return None
    return Variable(name, default if bar else None)


def variables_in(obj: Any, path: str = "") -> tuple[list[Variable], Problems]:
    """Every variable used in a message tree, and the malformed ones as problems."""
    found: list[Variable] = []
    problems: Problems = []
    if isinstance(obj, str):
        for match in _VARIABLE.finditer(obj):
            variable = parse_variable(match.group(1))
            if variable is None:
                problems.append(
                    Problem(
                        path,
                        f"unknown variable {match.group(0)!r}: use "
                        "{{display_name}}, {{member_id}} or {{attr.<key>}}",
                        "unknown_variable",
                        {"variable": match.group(0)},
                    )
                )
            else:
                found.append(variable)
    elif isinstance(obj, dict):
        for key, value in obj.items():
            more, bad = variables_in(value, f"{path}.{key}" if path else str(key))
            found += more
            problems += bad
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            more, bad = variables_in(value, f"{path}[{i}]")
            found += more
            problems += bad
    return found, problems


def _mark_urls(obj: Any, key: str | None = None) -> Any:
    """A copy where variables inside URL fields become `{{@name|default}}` (percent-encode)."""
    if isinstance(obj, str):
        if key in URL_KEYS:
            return _VARIABLE.sub(lambda m: "{{@" + m.group(1).lstrip() + "}}", obj)
        return obj
    if isinstance(obj, dict):
        return {k: _mark_urls(v, k) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_mark_urls(v, key) for v in obj]
    return obj


class MessageTemplate:
    """Messages (1–5 LINE message objects), ready to render per friend."""

    def __init__(self, messages: list[dict[str, Any]]) -> None:
        self.messages = messages
        variables, _ = variables_in(messages)
        self.variables = variables
        self.personalized = bool(variables)
        self.attr_keys = sorted({v.name[5:] for v in variables if v.name.startswith("attr.")})
        self._json = orjson.dumps(_mark_urls(messages)).decode()

    def render(self, context: FriendContext) -> list[dict[str, Any]]:
        if not self.personalized:
            return orjson.loads(self._json)

        def fill(match: re.Match[str]) -> str:
            inner = match.group(1)
            encode = inner.startswith("@")
            # the default sits in JSON text here: read it back as a JSON string
            name, bar, default = (inner[1:] if encode else inner).partition("|")
            value = context.value(name.strip())
            if value is None:
                value = orjson.loads(f'"{default}"') if bar else ""
            if encode:
                value = quote(value, safe="")
            return orjson.dumps(value).decode()[1:-1]

        return orjson.loads(_VARIABLE.sub(fill, self._json))

    def sample(self) -> list[dict[str, Any]]:
        """Rendered with a plausible value for every variable (for validation)."""
        return self.render(
            FriendContext(
                display_name=SAMPLE["display_name"],
                member_id=SAMPLE["member_id"],
                attrs={v.name[5:]: DEFAULT_SAMPLE for v in self.variables},
            )
        )


def check_messages(messages: Any, path: str, *, attribute_keys: set[str]) -> Problems:
    """Local checks of messages: LINE's limits (on a sample rendering) and variables, with
    `attribute_keys` the account's defined attributes."""
    problems: Problems = []
    shape = validate_messages(messages, path)
    if shape and not isinstance(messages, list):
        return shape
    variables, bad = variables_in(messages, path)
    problems += bad
    for variable in variables:
        key = variable.name[5:]
        if variable.name.startswith("attr.") and key not in attribute_keys:
            problems.append(
                Problem(
                    path,
                    f"{{{{attr.{key}}}}}: no attribute {key!r} is defined",
                    "unknown_attribute",
                    {"variable": f"{{{{attr.{key}}}}}", "key": key},
                )
            )
    if bad:
        return problems + shape
    return problems + validate_messages(MessageTemplate(messages).sample(), path)


def variables_in_urls(obj: Any, key: str | None = None) -> bool:
    if isinstance(obj, str):
        return key in URL_KEYS and bool(_VARIABLE.search(obj))
    if isinstance(obj, dict):
        return any(variables_in_urls(v, k) for k, v in obj.items())
    if isinstance(obj, list):
        return any(variables_in_urls(v, key) for v in obj)
    return False
