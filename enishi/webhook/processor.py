"""Placeholder until the webhook processor lands."""

from enishi.deps import AppState


def process_pending_events(state: AppState) -> int:
    return 0
