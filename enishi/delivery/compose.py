"""What a delivery says: arms of 1–5 LINE messages (enishi/messages/ personalizes and
validates them), their names and shares."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from enishi.delivery.models import HOLDOUT_ARM
from enishi.friends.models import AttributeDef
from enishi.line.gateway import LineGateway
from enishi.messages.line_check import validate_with_line as validate_messages_with_line
from enishi.messages.personalize import check_messages, variables_in_urls
from enishi.messages.validation import Problem, Problems

ARMS_MAX = 10
ARM_NAME = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")


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
        local = check_messages(messages, here, attribute_keys=defined)
        problems += local
        malformed = not isinstance(messages, list) or any(
            p.reason == "unknown_variable" for p in local
        )
        if track_links == "delivery" and not malformed and variables_in_urls(messages):
            problems.append(
                Problem(
                    here,
                    "URLs with variables need per-friend link tracking "
                    "(track_links=friend) or none (off)",
                    "url_variables_tracking",
                )
            )
    return sorted(set(problems), key=problems.index)


def validate_with_line(*, line: LineGateway, arms: list[dict[str, Any]]) -> Problems:
    """LINE's validate endpoints about a sample rendering of each arm."""
    problems: Problems = []
    for i, arm in enumerate(arms):
        problems += validate_messages_with_line(
            line=line, messages=arm["messages"], path=f"arms[{i}]"
        )
    return problems
