"""Every domain's pollers, grouped in lanes.

Each lane runs on a thread of its own, so a long job in one lane cannot delay another:
webhook events (and with them any reply) are processed while a million-friend delivery is
being planned. `enishi worker --lanes events,sending` lets a deployment split the lanes
across processes; several processes may run the same lane (they share the work through
the database).
"""

from __future__ import annotations

from enishi.worker.runner import Poller

EVENTS, SENDING, SCHEDULED, HEAVY = "events", "sending", "scheduled", "heavy"
LANE_NAMES = (EVENTS, SENDING, SCHEDULED, HEAVY)


def lanes() -> dict[str, list[Poller]]:
    """Lane name -> its pollers, in the order the lane runs them."""
    from enishi.delivery.planner import plan_deliveries
    from enishi.delivery.progress import record_outcomes
    from enishi.events.poller import deliver_events
    from enishi.events.retention import prune_delivered_events
    from enishi.sending.dispatcher import dispatch_requests
    from enishi.webhook.processor import process_pending_events
    from enishi.webhook.retention import prune_processed_events

    return {
        EVENTS: [process_pending_events, deliver_events],  # friend state, reactions, replies
        SENDING: [dispatch_requests, record_outcomes],  # to LINE at its limits
        SCHEDULED: [prune_processed_events, prune_delivered_events],  # housekeeping
        HEAVY: [plan_deliveries],  # large set-based writes
    }


def pollers() -> list[Poller]:
    """Every poller, lane after lane: one thread running them all (tests drive the whole
    worker step by step with it)."""
    return [poller for lane in lanes().values() for poller in lane]
