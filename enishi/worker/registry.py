"""Every domain's pollers, in the order the worker runs them."""

from __future__ import annotations

from enishi.worker.runner import Poller


def pollers() -> list[Poller]:
    from enishi.webhook.processor import process_pending_events

    return [process_pending_events]
