"""Parsing segment definitions (the language is in language.py): shape and JSON types, with
every error at the path of its node. What needs the account is checked by the compiler."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from enishi.segments.language import (
    COMBINATORS,
    LANGUAGE_VERSION,
    LEAVES,
    MAX_DEPTH,
    MAX_NODES,
    SUPPORTED_VERSIONS,
    AllOf,
    AnyOf,
    Condition,
    Definition,
    MemberLinked,
    Node,
    NotOf,
    SegmentError,
    SegmentInvalid,
    Status,
)

_UNION_MEMBERS = {"int", "float", "str", "bool", "date", "datetime", "none"}


def _loc(path: str, loc: tuple) -> str:
    out = path
    for part in loc:
        if part == "__root__" or (
            isinstance(part, str) and (part in _UNION_MEMBERS or "[" in part)
        ):  # which member of a union failed
            continue
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


_MESSAGES = {
    "extra_forbidden": "unknown field",
    "missing": "required",
    "int_type": "must be a whole number",
    "float_type": "must be a number",
    "bool_type": "must be true or false",
    "string_type": "must be a string",
    "list_type": "must be a list",
}


class _Parser:
    def __init__(self) -> None:
        self.errors: list[SegmentError] = []
        self.nodes = 0

    def error(self, path: str, code: str, message: str) -> None:
        self.errors.append(SegmentError(path=path, code=code, message=message))

    def condition(self, raw: Any, path: str, depth: int) -> Condition | None:
        self.nodes += 1
        if self.nodes == MAX_NODES + 1:
            self.error(path, "too_large", f"a definition has at most {MAX_NODES} conditions")
        if depth > MAX_DEPTH:
            self.error(path, "too_deep", f"conditions nest at most {MAX_DEPTH} deep")
            return None
        if not isinstance(raw, dict) or len(raw) != 1:
            got = (
                (f"keys {sorted(raw)}" if raw else "an empty object")
                if isinstance(raw, dict)
                else type(raw).__name__
            )
            self.error(
                path, "not_a_condition", f"a condition is an object with exactly one key; got {got}"
            )
            return None
        ((key, body),) = raw.items()
        here = f"{path}.{key}"
        if key in ("all", "any"):
            if not isinstance(body, list):
                self.error(here, "invalid", f"{key} takes a list of conditions")
                return None
            if key == "any" and not body:
                self.error(here, "invalid", "any needs at least one condition")
                return None
            items = [self.condition(c, f"{here}[{i}]", depth + 1) for i, c in enumerate(body)]
            if any(item is None for item in items):
                return None
            return AllOf(items=items) if key == "all" else AnyOf(items=items)
        if key == "not":
            item = self.condition(body, here, depth + 1)
            return None if item is None else NotOf(item=item)
        model = LEAVES.get(key)
        if model is None:
            self.error(
                path,
                "unknown_condition",
                f"unknown condition {key!r}; expected one of "
                f"{', '.join(COMBINATORS + tuple(LEAVES))}",
            )
            return None
        return self.leaf(model, body, here)

    def leaf(self, model: type[Node], body: Any, path: str) -> Node | None:
        shorthand = isinstance(body, str)
        if model is Status:
            body = {"values": [body] if shorthand else body}
        elif model is MemberLinked:
            body = {"linked": body}
        elif not isinstance(body, dict):
            self.error(path, "invalid", "must be an object")
            return None
        try:
            return model.model_validate(body)
        except ValidationError as exc:
            seen: set[str] = set()
            for err in exc.errors():
                loc = tuple(err["loc"])
                if model in (Status, MemberLinked):
                    loc = loc[2:] if shorthand else loc[1:]  # the wrapper the shorthand fills
                where = _loc(path, loc)
                if where in seen:  # a union's members each failed: one error is enough
                    continue
                seen.add(where)
                message = _MESSAGES.get(err["type"], err["msg"].removeprefix("Value error, "))
                self.error(where, err["type"], message)
            return None


def parse_definition(raw: Any) -> Definition:
    """The parsed definition, or SegmentInvalid listing every error with its path."""
    parser = _Parser()
    if isinstance(raw, Definition):
        return raw
    if not isinstance(raw, dict):
        raise SegmentInvalid(
            [SegmentError(path="", code="invalid", message="a definition is a JSON object")]
        )
    unknown = sorted(set(raw) - {"version", "where"})
    for name in unknown:
        parser.error(name, "extra_forbidden", "unknown field; a definition has version and where")
    version = raw.get("version")
    if version is None:
        parser.error("version", "missing", f"required (this enishi writes {LANGUAGE_VERSION})")
    elif type(version) is not int or version not in SUPPORTED_VERSIONS:
        parser.error(
            "version",
            "unsupported_version",
            f"unsupported version {version!r}; supported: {list(SUPPORTED_VERSIONS)}",
        )
    if "where" not in raw:
        parser.error("where", "missing", "required: the condition friends must meet")
        where = None
    else:
        where = parser.condition(raw["where"], "where", 1)
    if parser.errors or where is None:
        raise SegmentInvalid(parser.errors)
    return Definition(version=version, where=where)
