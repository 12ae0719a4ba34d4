"""What a delivery says: arms of 1–5 LINE messages, personalization variables, validation.

Variables (in any string of a message): `{{display_name}}`, `{{member_id}}`,
`{{attr.<key>}}`, each with an optional default for friends who lack the value:
`{{display_name|お客様}}`. Inside URL fields the value is percent-encoded. A friend without
the value and no default gets an empty string.

Rendering works on the arm's JSON text, not on the object tree: the arm is serialized once,
and each friend's copy is one regular-expression substitution (values JSON-escaped), which
keeps 100,000 personalized pushes cheap to plan.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from enishi.delivery.models import HOLDOUT_ARM
from enishi.delivery.validation import Problem, Problems, validate_messages
from enishi.friends.models import AttributeDef
from enishi.line.errors import LineError
from enishi.line.gateway import LineGateway

ARMS_MAX = 10
ARM_NAME = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
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


class ArmTemplate:
    """One arm's messages, ready to render per friend."""

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


# --- arms ------------------------------------------------------------------------------------
def normalize_arms(arms: Any) -> tuple[list[dict[str, Any]], Problems]:
    """Arms with names and shares (equal shares when none are given), and problems."""
    problems: Problems = []
    if not isinstance(arms, list) or not 1 <= len(arms) <= ARMS_MAX:
        return [], [
            Problem("arms", f"must hold 1 to {ARMS_MAX} arms", "arms_count", {"max": ARMS_MAX})
        ]
    out = []
    names = set()
    shares_given = [isinstance(arm, dict) and arm.get("share") is not None for arm in arms]
    if any(shares_given) and not all(shares_given):
        problems.append(
            Problem("arms", "give a share for every arm, or for none (equal shares)", "shares_some")
        )
    for i, arm in enumerate(arms):
        here = f"arms[{i}]"
        if not isinstance(arm, dict):
            problems.append(
                Problem(here, "must be an object with name, share and messages", "not_object")
            )
            continue
        name = arm.get("name") or chr(ord("A") + i)
        if not isinstance(name, str) or not ARM_NAME.match(name) or name == HOLDOUT_ARM:
            problems.append(
                Problem(
                    f"{here}.name",
                    "must be 1-64 letters, digits, _ or - (and not 'holdout')",
                    "arm_name",
                )
            )
        elif name in names:
            problems.append(
                Problem(
                    f"{here}.name",
                    f"arm name {name!r} is used twice",
                    "arm_name_twice",
                    {"name": name},
                )
            )
        names.add(name)
        share = arm.get("share")
        if share is None:
            share = 1 / len(arms)
        elif not isinstance(share, int | float) or not 0 < share <= 1:
            problems.append(Problem(f"{here}.share", "must be a number in (0, 1]", "share_range"))
            share = 0
        out.append({"name": name, "share": float(share), "messages": arm.get("messages")})
    total = sum(arm["share"] for arm in out)
    if out and not problems and abs(total - 1) > 1e-6:
        problems.append(
            Problem(
                "arms",
                f"shares must add up to 1 (they add up to {total:g})",
                "shares_total",
                {"total": f"{total * 100:g}"},
            )
        )
    return out, problems


def check_arms(
    session: Session, account_id: int, arms: list[dict[str, Any]], track_links: str
) -> Problems:
    """Local checks of every arm: LINE's limits (on a sample rendering) and variables."""
    problems: Problems = []
    defined = set(
        session.scalars(select(AttributeDef.key).where(AttributeDef.account_id == account_id))
    )
    for i, arm in enumerate(arms):
        here = f"arms[{i}].messages"
        messages = arm.get("messages")
        shape = validate_messages(messages, here)
        if shape and not isinstance(messages, list):
            problems += shape
            continue
        variables, bad = variables_in(messages, here)
        problems += bad
        for variable in variables:
            key = variable.name[5:]
            if variable.name.startswith("attr.") and key not in defined:
                problems.append(
                    Problem(
                        here,
                        f"{{{{attr.{key}}}}}: no attribute {key!r} is defined",
                        "unknown_attribute",
                        {"variable": f"{{{{attr.{key}}}}}", "key": key},
                    )
                )
        if bad:
            problems += shape
            continue
        problems += validate_messages(ArmTemplate(messages).sample(), here)
        if track_links == "delivery" and _variables_in_urls(messages):
            problems.append(
                Problem(
                    here,
                    "URLs with variables need per-friend link tracking "
                    "(track_links=friend) or none (off)",
                    "url_variables_tracking",
                )
            )
    return sorted(set(problems), key=problems.index)


def _variables_in_urls(obj: Any, key: str | None = None) -> bool:
    if isinstance(obj, str):
        return key in URL_KEYS and bool(_VARIABLE.search(obj))
    if isinstance(obj, dict):
        return any(_variables_in_urls(v, k) for k, v in obj.items())
    if isinstance(obj, list):
        return any(_variables_in_urls(v, key) for v in obj)
    return False


def validate_with_line(*, line: LineGateway, arms: list[dict[str, Any]]) -> Problems:
    """Ask LINE's validate endpoints (push for personalized arms, multicast for shared) about
    a sample rendering of each arm; LINE's details become field problems."""
    problems: Problems = []
    for i, arm in enumerate(arms):
        template = ArmTemplate(arm["messages"])
        here = f"arms[{i}]"
        validate = line.validate_push if template.personalized else line.validate_multicast
        for attempt in (1, 2):  # once more after a network or server error
            try:
                validate(template.sample())
                break
            except (ValueError, TypeError) as error:  # the SDK refused it; LINE was not asked
                detail = str(error)[:300]
                problems.append(
                    Problem(
                        f"{here}.messages",
                        f"not a LINE message object: {detail}"[:300],
                        "line_sdk_refused",
                        {"detail": detail},
                    )
                )
                break
            except LineError as error:
                if attempt == 1 and (not error.reached or error.status >= 500):
                    continue
                if error.reached:
                    problems += _line_problems(error, here)
                else:  # unreachable: say so, do not pretend it is valid
                    problems.append(
                        Problem(
                            here,
                            f"LINE's validate endpoint could not be reached: {error.message}",
                            "line_unreachable",
                            {"detail": error.message},
                        )
                    )
    return problems


def _line_problems(error: LineError, here: str) -> Problems:
    """LINE's refusal as problems; `params["line"]` keeps LINE's own words (English)."""
    message = error.message
    if not error.details:
        return [Problem(f"{here}.messages", f"LINE: {message}", "line_refused", {"line": message})]
    problems = []
    for detail in error.details:
        said = detail.message or message
        path = f"{here}.{detail.property or 'messages'}"
        line = f"{said} ({message})" if said != message else said
        problems.append(Problem(path, f"LINE: {said}", "line_refused", {"line": line}))
    return problems
