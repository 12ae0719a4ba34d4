"""Validate webhook bodies against LINE's webhook.yml, discriminators included.

openapi-core validates the `/callback` request body but does not follow `discriminator`
mappings, so each event, its source and its message content are also validated against
the concrete schema their `type` names (e.g. `follow` -> FollowEvent).
"""

from __future__ import annotations

import functools
import json
from typing import Any

import yaml
from openapi_schema_validator import OAS30Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from tests.emulator.openapi_check import SPEC_DIR

URI = "https://line.example/webhook.yml"


@functools.cache
def _document() -> dict[str, Any]:
    return yaml.safe_load((SPEC_DIR / "webhook.yml").read_text(encoding="utf-8"))


@functools.cache
def _validator(name: str) -> OAS30Validator:
    registry = Registry().with_resource(URI, Resource.from_contents(_document(),
                                                                    default_specification=DRAFT4))
    return OAS30Validator({"$ref": f"{URI}#/components/schemas/{name}"}, registry=registry)


def _mapping(schema_name: str) -> dict[str, str]:
    schema = _document()["components"]["schemas"][schema_name]
    return {k: v.rsplit("/", 1)[1] for k, v in schema["discriminator"]["mapping"].items()}


def _check(name: str, value: Any) -> None:
    errors = sorted(_validator(name).iter_errors(value), key=str)
    if errors:
        raise AssertionError(f"{name}: {errors[0].message} at {list(errors[0].absolute_path)}")


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
