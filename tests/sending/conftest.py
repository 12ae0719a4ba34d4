"""Sending tests: enishi next to the LINE emulator over real HTTP; requests are enqueued as
a producer would, and the emulator's records (inboxes, per-user rich menus) are the truth."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from enishi.sending.runtime import runtime_for
from tests.e2e_support import E2E, e2e, start_e2e, start_emulator  # noqa: F401


@pytest.fixture
def start_sending(start_e2e: Callable[..., E2E]) -> Iterator[Callable[..., E2E]]:  # noqa: F811
    """Factory: start_sending(friends=5, **start_e2e keywords); the dispatcher is stopped
    before the database goes away."""
    started: list[E2E] = []

    def start(*, friends: int = 5, **spec: Any) -> E2E:
        spec.setdefault("quota_limit", None)
        env = start_e2e(friends=friends, **spec)
        started.append(env)
        return env

    yield start
    for env in started:
        dispatcher = runtime_for(env.state).dispatcher
        if dispatcher is not None:
            dispatcher.stop()
