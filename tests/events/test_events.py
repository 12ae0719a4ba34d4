"""Domain events: stored with the change they announce, delivered at least once to each
subscriber, immediate subscribers right after the commit, the poller as the fallback."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from enishi.db.base import utcnow
from enishi.events import poller, retention
from enishi.events import service as events
from enishi.events.models import DONE, FAILED, PENDING, DomainEvent, EventDelivery
from enishi.events.registry import Subscriber, subscribe, unsubscribe

NAME = "test.happened"


@pytest.fixture
def subscribed() -> Iterator[list[Subscriber]]:
    """Subscribers registered by the test, removed afterwards."""
    added: list[Subscriber] = []
    yield added
    for subscriber in added:
        unsubscribe(subscriber.name)


def _listen(added, name, handler, mode) -> None:
    subscriber = Subscriber(name, (NAME,), handler, mode)
    subscribe(subscriber)
    added.append(subscriber)


def _publish(state, n: int = 0) -> int:
    with state.sessions.begin() as session:
        row = events.publish(session, events.Event(NAME, utcnow(), payload={"n": n}))
        session.flush()
        return row.id


def _row(state, event_id: int) -> DomainEvent:
    with state.sessions() as session:
        return session.get(DomainEvent, event_id)


def test_an_event_nobody_listens_to_is_stored_as_done(state):
    row = _row(state, _publish(state))
    assert (row.name, row.status, row.payload) == (NAME, DONE, {"n": 0})
    assert row.processed_at is not None


def test_transaction_subscribers_share_the_publishers_fate(state, subscribed):
    def echo(session, event):
        events.publish(session, events.Event("test.echo", event.occurred_at))

    _listen(subscribed, "test.echo", echo, "transaction")
    with pytest.raises(RuntimeError), state.sessions.begin() as session:
        events.publish(session, events.Event(NAME, utcnow(), payload={"n": 1}))
        session.flush()
        raise RuntimeError("the change fails")
    with state.sessions() as session:
        assert session.scalar(select(func.count()).select_from(DomainEvent)) == 0
    _publish(state)
    with state.sessions() as session:
        assert sorted(session.scalars(select(DomainEvent.name))) == ["test.echo", NAME]


def test_queued_subscribers_get_each_event_once_and_a_failure_again(state, subscribed):
    seen: list[int] = []
    failures = [RuntimeError("first attempt")]

    def record(session, event):
        seen.append(event.id)
        if failures:
            raise failures.pop()

    _listen(subscribed, "test.queued", record, "queued")
    first, second = _publish(state, 1), _publish(state, 2)
    assert _row(state, first).status == PENDING
    assert poller.deliver_events(state) == 2
    assert seen == [first, second]
    assert _row(state, first).status == PENDING  # failed once: a retry is due later
    assert _row(state, second).status == DONE
    with state.sessions.begin() as session:  # the retry's time has come
        session.execute(update(DomainEvent).values(next_attempt_at=utcnow()))
    assert poller.deliver_events(state) == 1
    assert _row(state, first).status == DONE
    assert poller.deliver_events(state) == 0
    assert seen == [first, second, first]


def test_a_crash_between_the_work_and_its_record_redelivers(state, subscribed, monkeypatch):
    """Work outside the database happens before its delivery row is written: if the
    process dies in between, the event is delivered again (the subscriber tolerates it)."""
    calls: list[int] = []
    _listen(
        subscribed, "test.outside", lambda ctx, got: calls.extend(e.id for e in got), "immediate"
    )
    crash = RuntimeError("killed before the record")

    def dies(session, event, subscriber):
        raise crash

    monkeypatch.setattr(events, "record_delivery", dies)
    event_id = _publish(state)
    assert calls == [event_id]  # ran after the commit, then "crashed"
    monkeypatch.undo()
    with state.sessions.begin() as session:  # the grace for the hook is over
        session.execute(update(DomainEvent).values(next_attempt_at=utcnow()))
    assert poller.deliver_events(state) == 1
    assert calls == [event_id, event_id]
    assert _row(state, event_id).status == DONE


def test_immediate_subscribers_run_after_the_commit_not_after_a_rollback(state, subscribed):
    calls: list[tuple[int, bool]] = []

    def note(ctx, got):
        with ctx.sessions() as session:  # the publishing transaction is committed
            calls.extend((e.id, session.get(DomainEvent, e.id) is not None) for e in got)

    _listen(subscribed, "test.now", note, "immediate")
    with state.sessions() as session:
        events.publish(session, events.Event(NAME, utcnow()))
        session.flush()
        session.rollback()
    assert calls == []
    event_id = _publish(state)
    assert calls == [(event_id, True)]
    assert _row(state, event_id).status == DONE  # nobody else waits for it
    assert poller.deliver_events(state) == 0
    assert calls == [(event_id, True)]


def test_a_subscriber_that_keeps_failing_fails_the_event_for_good(state, subscribed, monkeypatch):
    monkeypatch.setattr(poller, "RETRY_DELAYS", (0.0,))

    def broken(session, event):
        raise ValueError("never works")

    _listen(subscribed, "test.broken", broken, "queued")
    event_id = _publish(state)
    poller.deliver_events(state)
    poller.deliver_events(state)
    row = _row(state, event_id)
    assert (row.status, row.attempts) == (FAILED, 2)
    assert "never works" in row.error


def test_delivered_events_past_the_retention_are_deleted(state, subscribed, monkeypatch):
    monkeypatch.setattr(retention, "_next_prune", {})
    _listen(subscribed, "test.kept", lambda session, event: None, "queued")
    old, recent = _publish(state, 1), _publish(state, 2)
    poller.deliver_events(state)
    pending = _publish(state, 3)
    with state.sessions.begin() as session:
        session.execute(
            update(DomainEvent)
            .where(DomainEvent.id.in_([old, pending]))
            .values(processed_at=utcnow() - timedelta(days=30))
        )
    assert retention.prune_delivered_events(state) == 1
    with state.sessions() as session:
        assert set(session.scalars(select(DomainEvent.id))) == {recent, pending}
        assert set(session.scalars(select(EventDelivery.event_id))) == {recent}


def test_a_released_savepoint_is_not_the_commit(state, subscribed):
    """SQLAlchemy signals after_commit when a savepoint is released: the hook waits for
    the transaction itself."""
    seen: list[bool] = []

    def visible(ctx, got):
        with ctx.sessions() as session:
            seen.extend(session.get(DomainEvent, e.id) is not None for e in got)

    _listen(subscribed, "test.saved", visible, "immediate")
    with state.sessions.begin() as session:
        with session.begin_nested():
            events.publish(session, events.Event(NAME, utcnow()))
        assert seen == []
    assert seen == [True]
