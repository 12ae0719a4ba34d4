"""The segment conditions that read tables of domains above segments (clicks, purchases,
events, deliveries, inflow routes): the language (language.py) names them; the domain that
owns the tables registers how each compiles (its segment_conditions.py, via
enishi/wiring.py), so segments imports no domain above it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# (compiler, node, path) -> a clause and its cost, or a list of them (see compiler.py)
Compile = Callable[[Any, Any, str], Any]

_conditions: dict[str, Compile] = {}
_references: dict[str, Any] = {}


def register_condition(key: str, compile: Compile) -> None:
    _conditions[key] = compile


def register_reference(what: str, model: Any) -> None:
    """A table whose ids a condition may name (checked to belong to the account)."""
    _references[what] = model


def compile_condition(compiler: Any, node: Any, path: str) -> Any:
    try:
        compile = _conditions[node.key]
    except KeyError:
        raise RuntimeError(f"no compiler for the {node.key!r} condition: wire() first") from None
    return compile(compiler, node, path)


def reference(what: str) -> Any:
    return _references[what]
