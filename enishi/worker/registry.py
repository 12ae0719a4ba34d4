"""Every domain's pollers, in the order the worker runs them."""

from __future__ import annotations

from enishi.worker.runner import Poller


def pollers() -> list[Poller]:
    from enishi.delivery.dispatcher import dispatch_requests
    from enishi.delivery.planner import plan_deliveries
    from enishi.delivery.progress import record_outcomes
    from enishi.events.poller import deliver_events
    from enishi.events.retention import prune_delivered_events
    from enishi.webhook.processor import process_pending_events
    from enishi.webhook.retention import prune_processed_events

    return [
        process_pending_events,
        deliver_events,
        plan_deliveries,
        dispatch_requests,
        record_outcomes,
        prune_processed_events,
        prune_delivered_events,
    ]
