"""Every domain's pollers, in the order the worker runs them."""

from __future__ import annotations

from enishi.worker.runner import Poller


def pollers() -> list[Poller]:
    from enishi.delivery.outbound import register_producer
    from enishi.delivery.planner import plan_deliveries
    from enishi.delivery.progress import record_outcomes
    from enishi.sending.dispatcher import dispatch_requests
    from enishi.webhook.processor import process_pending_events
    from enishi.webhook.retention import prune_processed_events

    register_producer()  # before the dispatcher runs: a source without one is never sent
    return [
        process_pending_events,
        plan_deliveries,
        dispatch_requests,
        record_outcomes,
        prune_processed_events,
    ]
