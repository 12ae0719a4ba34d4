"""Producers: who puts requests in the outbox, and how each takes part in sending.

The dispatcher knows nothing of deliveries or scenarios. A producer registers, per
source, what the dispatcher must ask it: which of its requests may go out now (a paused
delivery's may not), which accounts have its work under way, what a channel-wide refusal
(monthly limit, refused token) does to its work, and how it takes in outcomes — in the
dispatcher's own transaction, or later by its own poller reading `recorded`. A source
without a registered producer is never sent (its rows wait), so nothing goes out that no
one will account for.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Select

from enishi.sending.models import SYSTEM

if TYPE_CHECKING:
    from enishi.sending.outcomes import Outcome


@dataclass(frozen=True)
class Producer:
    source: str
    # ids (source_id) whose requests may be sent now, for one account or all (None); a
    # producer without it may always send
    sendable: Callable[[int | None], Select] | None = None
    # accounts with work of this producer under way (their lanes keep running while it
    # plans); needed with `sendable`
    active_accounts: Callable[[], Select] | None = None
    # LINE refused the whole channel (monthly limit, token): hold the producer's work with
    # (connection, source_id, error, code); without it such a request fails
    pause: Callable[[Connection, int, str, str], None] | None = None
    # terminal outcomes, in the dispatcher's transaction (the rows are marked recorded)
    take_outcomes: Callable[[Connection, list[Outcome]], None] | None = None
    # outcomes are taken in later by the producer's own poller (rows stay unrecorded)
    records_later: bool = False


_producers: dict[str, Producer] = {}


def register(producer: Producer) -> None:
    """Register (or replace) the producer of a source; idempotent."""
    if (producer.sendable is None) != (producer.active_accounts is None):
        raise ValueError("a gated producer gives both sendable and active_accounts")
    _producers[producer.source] = producer


def producers() -> dict[str, Producer]:
    return dict(_producers)


def producer(source: str) -> Producer | None:
    return _producers.get(source)


# the system's own messages (notices, tests): always sendable, nothing to record
register(Producer(SYSTEM))
