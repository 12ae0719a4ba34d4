"""Validate webhook bodies against LINE's webhook.yml, discriminators included.

openapi-core validates the `/callback` request body but does not follow `discriminator`
mappings, so each event, its source and its message content are also validated against
the concrete schema their `type` names (e.g. `follow` -> FollowEvent).
"""

from __future__ import annotations

import json
from typing import Any

from tests.emulator.openapi_check import check_schema, document


def _mapping(schema_name: str) -> dict[str, str]:
    schema = document("webhook")["components"]["schemas"][schema_name]
    return {k: v.rsplit("/", 1)[1] for k, v in schema["discriminator"]["mapping"].items()}


def _check(name: str, value: Any) -> None:
    check_schema("webhook", name, value)


def check_event(event: dict[str, Any]) -> None:
    concrete = _mapping("Event").get(event.get("type"))
    if concrete is None:
        raise AssertionError(f"unknown event type {event.get('type')!r}")
    _check(concrete, event)
    if "source" in event:
        _check(_mapping("Source")[event["source"]["type"]], event["source"])
    if event["type"] == "message":
        _check(_mapping("MessageContent")[event["message"]["type"]], event["message"])


def check_callback(body: bytes | str) -> list[dict[str, Any]]:
    """Validate a whole webhook request body; returns its events."""
    data = json.loads(body)
    _check("CallbackRequest", data)
    for event in data["events"]:
        check_event(event)
    return data["events"]
