"""Webhook tests: the emulator and the end-to-end fixtures, and a clean profile backoff."""

from __future__ import annotations

import pytest

from enishi.webhook import processor
from tests.e2e_support import e2e, start_e2e, start_emulator  # noqa: F401


@pytest.fixture(autouse=True)
def _fresh_profile_state(monkeypatch):
    """Profile backoff and the sweep timer are per process: start each test clean."""
    monkeypatch.setattr(processor, "_profile_backoff", {})
    monkeypatch.setattr(processor, "_next_sweep", 0.0)
