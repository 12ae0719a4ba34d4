"""Processed webhook events past the retention are deleted; pending and failed ones never."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from enishi.db.base import utcnow
from enishi.webhook import retention
from enishi.webhook.models import WebhookEvent
from tests.webhook.events import USER_A, USER_B, USER_C, deliver, follow, text

T0 = 1_700_000_000_000  # ms


def _age(state, days: float, **where) -> None:
    """Pretend the matching events were processed `days` ago."""
    with state.sessions.begin() as session:
        query = update(WebhookEvent).values(processed_at=utcnow() - timedelta(days=days))
        for column, value in where.items():
            query = query.where(getattr(WebhookEvent, column) == value)
        session.execute(query)


def _remaining(state) -> list[tuple[str, str]]:
    with state.sessions() as session:
        rows = session.execute(
            select(WebhookEvent.line_user_id, WebhookEvent.status).order_by(WebhookEvent.id)
        )
        return [tuple(r) for r in rows]


def test_only_processed_events_past_the_retention_are_deleted(
    client, state, api_account, worker, monkeypatch
):
    monkeypatch.setattr(retention, "_next_prune", {})
    deliver(client, api_account, follow(USER_A, T0), text(USER_A, T0 + 1, "こんにちは"))
    deliver(client, api_account, follow(USER_B, T0 + 2))
    worker.run_until_idle()
    deliver(client, api_account, follow(USER_C, T0 + 3))  # stays pending: no worker pass
    _age(state, 40)  # every row, the pending one included
    _age(state, 10, line_user_id=USER_B)  # B's follow: processed recently
    with state.sessions.begin() as session:
        session.execute(
            update(WebhookEvent)
            .where(WebhookEvent.type == "message")
            .values(status="failed", error="boom")
        )

    retention._next_prune.clear()  # the worker's passes above already pruned (nothing)
    assert retention.prune_processed_events(state) == 1  # A's follow
    assert _remaining(state) == [(USER_A, "failed"), (USER_B, "done"), (USER_C, "pending")]


def test_batches_until_done_then_waits_an_hour(client, state, api_account, monkeypatch):
    monkeypatch.setattr(retention, "_next_prune", {})
    monkeypatch.setattr(retention, "PRUNE_BATCH", 2)
    deliver(client, api_account, *(follow(f"U{i:032x}", T0 + i) for i in range(5)))
    with state.sessions.begin() as session:
        session.execute(update(WebhookEvent).values(status="done"))
    _age(state, 31)

    assert [retention.prune_processed_events(state) for _ in range(4)] == [2, 2, 1, 0]
    assert _remaining(state) == []
    # a new old event waits for the next hourly pass
    deliver(client, api_account, follow(USER_A, T0 + 9))
    with state.sessions.begin() as session:
        session.execute(update(WebhookEvent).values(status="done"))
    _age(state, 31)
    assert retention.prune_processed_events(state) == 0
    assert len(_remaining(state)) == 1


def test_zero_days_keeps_everything(client, state, api_account, monkeypatch):
    monkeypatch.setattr(retention, "_next_prune", {})
    monkeypatch.setattr(state.settings, "webhook_retention_days", 0)
    deliver(client, api_account, follow(USER_A, T0))
    with state.sessions.begin() as session:
        session.execute(update(WebhookEvent).values(status="done"))
    _age(state, 3650)
    assert retention.prune_processed_events(state) == 0
    assert len(_remaining(state)) == 1
