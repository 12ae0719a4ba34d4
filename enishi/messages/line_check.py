"""LINE's own validate endpoints asked about messages before they are sent: LINE's
refusals become problems that name the field, in LINE's words."""

from __future__ import annotations

from typing import Any

from enishi.line.errors import LineError
from enishi.line.gateway import LineGateway
from enishi.messages.personalize import MessageTemplate
from enishi.messages.validation import Problem, Problems


def validate_with_line(*, line: LineGateway, messages: list[dict[str, Any]], path: str) -> Problems:
    """Ask LINE's validate endpoint (push when personalized, multicast when shared) about a
    sample rendering of the messages; LINE's details become field problems."""
    problems: Problems = []
    template = MessageTemplate(messages)
    validate = line.validate_push if template.personalized else line.validate_multicast
    for attempt in (1, 2):  # once more after a network or server error
        try:
            validate(template.sample())
            break
        except (ValueError, TypeError) as error:  # the SDK refused it; LINE was not asked
            detail = str(error)[:300]
            problems.append(
                Problem(
                    f"{path}.messages",
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
                problems += line_problems(error, path)
            else:  # unreachable: say so, do not pretend it is valid
                problems.append(
                    Problem(
                        path,
                        f"LINE's validate endpoint could not be reached: {error.message}",
                        "line_unreachable",
                        {"detail": error.message},
                    )
                )
    return problems


def line_problems(error: LineError, here: str) -> Problems:
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
