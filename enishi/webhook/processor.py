"""The worker that turns stored webhook events into friend state.

Each pass claims a batch of pending events in event order (on PostgreSQL with
`FOR UPDATE SKIP LOCKED`, so several workers share the inbox; on SQLite the transaction
takes the write lock first), handles them, marks each done, skipped or failed, and commits.
One friend's events are handled in order: an event waits while an earlier pending event of
the same friend is outside this batch (locked by another worker, or waiting for a retry).

A batch is first handled in one go, its writes flushed together and its marks written in
one statement, so a batch costs a few round trips rather than several per event. If any
event fails, the whole batch is rolled back and handled again carefully, each event in a
savepoint, so one bad event is marked failed alone. Handlers publish domain events; the
profiles of new followers are fetched by an immediate subscriber (subscribers.py) right
after the commit, so no transaction stays open across calls to LINE.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, bindparam, exists, literal, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from enishi.accounts.models import Account
from enishi.db.base import utcnow
from enishi.db.engine import is_postgres
from enishi.deps import AppState
from enishi.friends.models import FOLLOWING, Friend
from enishi.line.errors import LineError
from enishi.line.ratelimit import bucket
from enishi.webhook.handlers import Context, Event, handle
from enishi.webhook.models import DONE, FAILED, PENDING, SKIPPED, WebhookEvent

log = logging.getLogger(__name__)

BATCH_SIZE = 100
# seconds before each retry of a failed attempt; after the last one the event is failed
RETRY_DELAYS: tuple[float, ...] = (5.0, 30.0, 120.0, 600.0)
ERROR_MAX = 2000
PROFILE_TIMEOUT = (3.0, 5.0)  # connect, read (seconds)
PROFILE_BACKOFF_S = 60.0  # after LINE could not be reached for an account
PROFILE_SWEEP_EVERY_S = 30.0
PROFILE_SWEEP_BATCH = 100
SQLITE_YIELD_MIN_S, SQLITE_YIELD_MAX_S = 0.03, 0.1  # pause after a batch (see below)

TABLE = WebhookEvent.__table__
MARK = (
    update(TABLE)
    .where(TABLE.c.id == bindparam("m_id"))
    .values(
        status=bindparam("m_status"),
        attempts=bindparam("m_attempts"),
        processed_at=bindparam("m_at"),
        error=bindparam("m_error"),
        retry_at=bindparam("m_retry"),
    )
)

# (LINE API base, account id) -> monotonic time to try LINE again after a failure
_profile_backoff: dict[tuple[str, int], float] = {}
_next_sweep = 0.0


class _Redo(Exception):
    """An event failed in the one-go pass: handle the batch again, event by event."""


def process_pending_events(state: AppState) -> int:
    """One batch of the inbox (and any profiles still missing); the work done."""
    started = time.monotonic()
    with state.sessions() as session:
        ctx = Context(session, state)
        try:
            handled = _process_batch(ctx, careful=False)
            session.commit()
        except _Redo:
            session.rollback()
            ctx = Context(session, state)
            handled = _process_batch(ctx, careful=True)
            session.commit()
    if handled and not is_postgres(state.engine):
        _yield_write_lock(time.monotonic() - started)
    return handled + sweep_missing_profiles(state)


def _yield_write_lock(held: float) -> None:
    """SQLite has one writer. A worker that claims its next batch at once starves the
    webhook intake and tracked links, whose commits wait in SQLite's busy handler (which
    polls every 25-100 ms): leave them a window at least that long."""
    time.sleep(min(SQLITE_YIELD_MAX_S, max(SQLITE_YIELD_MIN_S, held)))


# --- claiming ------------------------------------------------------------------------------
def _claim(session: Session, limit: int) -> list[Any]:
    now = utcnow()
    due = and_(TABLE.c.status == PENDING, or_(TABLE.c.retry_at.is_(None), TABLE.c.retry_at <= now))
    query = select(TABLE).where(due).order_by(TABLE.c.event_ts, TABLE.c.id).limit(limit)
    if is_postgres(session.get_bind()):
        query = query.with_for_update(skip_locked=True)
    else:
        # SQLite: an idle inbox costs a read, not the write lock; otherwise take the write
        # lock before reading, so two processes cannot both claim an event
        if session.scalar(select(TABLE.c.id).where(due).limit(1)) is None:
            return []
        session.connection().exec_driver_sql("BEGIN IMMEDIATE")
    return list(session.execute(query))


def _earlier_pending_elsewhere(session: Session, events: Sequence[Event]) -> set[int]:
    """Ids of claimed events that have an earlier pending event of the same friend that is
    not in the batch: they must wait for it."""
    ids = [e.id for e in events if e.line_user_id is not None]
    if not ids:
        return set()
    w, e = TABLE.alias("w"), TABLE.alias("e")
    earlier: ColumnElement[bool] = or_(
        e.c.event_ts < w.c.event_ts, and_(e.c.event_ts == w.c.event_ts, e.c.id < w.c.id)
    )
    blocker = exists().where(
        e.c.account_id == w.c.account_id,
        e.c.line_user_id == w.c.line_user_id,
        # inline, so the planner can match the partial index ix_webhook_events_user_pending
        e.c.status == literal(PENDING, literal_execute=True),
        earlier,
        e.c.id.not_in(ids),
    )
    return set(session.scalars(select(w.c.id).where(w.c.id.in_(ids), blocker)))


# --- processing ----------------------------------------------------------------------------
def _process_batch(ctx: Context, *, careful: bool) -> int:
    session = ctx.session
    events = _claim(session, BATCH_SIZE)
    if not events:
        return 0
    waiting = _earlier_pending_elsewhere(session, events)
    ctx.prefetch([e for e in events if e.id not in waiting])
    held: set[tuple[int, str]] = set()  # friends with an earlier event not done in this batch
    marks: list[dict[str, Any]] = []
    for event in events:
        friend_key = (event.account_id, event.line_user_id or "")
        if event.id in waiting or (event.line_user_id and friend_key in held):
            if event.line_user_id:
                held.add(friend_key)
            continue
        mark = _handle_careful(ctx, event) if careful else _handle_fast(ctx, event)
        marks.append(mark)
        if mark["m_status"] == PENDING and event.line_user_id:
            held.add(friend_key)
    try:
        session.flush()
    except Exception as error:  # e.g. a constraint only the database could check
        if careful:
            raise
        raise _Redo from error
    if marks:
        session.connection().execute(MARK, marks)
    return len(marks)


def _mark(event: Event, status: str, error: str | None = None, retry=None) -> dict[str, Any]:
    return {
        "m_id": event.id,
        "m_status": status,
        "m_attempts": event.attempts + 1,
        "m_at": utcnow(),
        "m_error": error[:ERROR_MAX] if error else None,
        "m_retry": retry,
    }


def _outcome(event: Event, skipped: str | None) -> dict[str, Any]:
    return _mark(event, DONE) if skipped is None else _mark(event, SKIPPED, skipped)


def _handle_fast(ctx: Context, event: Event) -> dict[str, Any]:
    try:
        return _outcome(event, handle(ctx, event))
    except Exception as error:
        raise _Redo from error


def _handle_careful(ctx: Context, event: Event) -> dict[str, Any]:
    """Handle one event in a savepoint; a failure is marked for a retry or for good."""
    session = ctx.session
    try:
        with session.begin_nested():
            skipped = handle(ctx, event)
            session.flush()
    except Exception as error:
        ctx.forget()
        return _failed(event, error)
    return _outcome(event, skipped)


def _failed(event: Event, error: Exception) -> dict[str, Any]:
    text = f"{type(error).__name__}: {getattr(error, 'orig', None) or error}"
    attempt = event.attempts + 1
    if attempt <= len(RETRY_DELAYS):
        log.warning(
            "webhook event %s (%s) failed, attempt %d; will retry: %s",
            event.id,
            event.type,
            attempt,
            text[:300],
        )
        retry = utcnow() + timedelta(seconds=RETRY_DELAYS[attempt - 1])
        return _mark(event, PENDING, text, retry)
    log.error(
        "webhook event %s (%s) failed for good after %d attempts: %s",
        event.id,
        event.type,
        attempt,
        text[:300],
    )
    return _mark(event, FAILED, text)


# --- profiles ------------------------------------------------------------------------------
def fetch_profiles(state: AppState, wanted: Sequence[tuple[int, int, str]]) -> int:
    """Fetch LINE profiles for (account id, friend id, user id), within the profile rate
    limit. A 404 leaves the profile empty (fetched); a network or server error leaves
    `profile_fetched_at` unset, so the sweep fetches it later. Never raises for LINE."""
    by_account: dict[int, dict[int, str]] = {}
    for account_id, friend_id, user_id in wanted:
        by_account.setdefault(account_id, {})[friend_id] = user_id
    done = 0
    for account_id, friends in by_account.items():
        backoff_key = (state.settings.line_api_base, account_id)
        if _profile_backoff.get(backoff_key, 0.0) > time.monotonic():
            continue
        with state.sessions() as session:
            account = session.get(Account, account_id)
        if account is None:
            continue
        line = state.line_for(account)
        limiter = bucket(account.channel_id, "profile")
        updates: list[dict] = []
        for friend_id, user_id in friends.items():
            limiter.acquire()
            values: dict = {"profile_fetched_at": utcnow()}
            try:
                profile = line.profile(user_id, timeout=PROFILE_TIMEOUT)
            except LineError as error:
                if error.status != 404:
                    _back_off(
                        backoff_key, f"HTTP {error.status}" if error.reached else error.message
                    )
                    break
            except Exception as error:  # a bad response
                _back_off(backoff_key, type(error).__name__)
                break
            else:
                values.update(
                    display_name=profile.display_name[:200],
                    picture_url=profile.picture_url and profile.picture_url[:1000],
                    status_message=profile.status_message and profile.status_message[:1000],
                    language=profile.language and profile.language[:20],
                )
            updates.append({"id": friend_id, **values})
        if updates:
            with state.sessions.begin() as session:
                for values in updates:
                    session.execute(
                        update(Friend).where(Friend.id == values["id"]).values(**values)
                    )
            done += len(updates)
    return done


def _back_off(key: tuple[str, int], reason: str) -> None:
    _profile_backoff[key] = time.monotonic() + PROFILE_BACKOFF_S
    log.warning(
        "LINE profile fetch failed for account %s (%s); retrying in %.0f s",
        key[1],
        reason,
        PROFILE_BACKOFF_S,
    )


def sweep_missing_profiles(state: AppState, *, force: bool = False) -> int:
    """Every PROFILE_SWEEP_EVERY_S: following friends whose profile was never fetched (LINE
    was unreachable at their follow, or they were imported)."""
    global _next_sweep
    now = time.monotonic()
    if not force and now < _next_sweep:
        return 0
    _next_sweep = now + PROFILE_SWEEP_EVERY_S
    base = state.settings.line_api_base
    resting = [a for (b, a), until in _profile_backoff.items() if b == base and until > now]
    with state.sessions() as session:
        rows = session.execute(
            select(Friend.account_id, Friend.id, Friend.line_user_id)
            .where(
                Friend.status == FOLLOWING,
                Friend.profile_fetched_at.is_(None),
                Friend.account_id.not_in(resting),
            )
            .order_by(Friend.id)
            .limit(PROFILE_SWEEP_BATCH)
        ).all()
    done = fetch_profiles(state, [tuple(row) for row in rows])
    if len(rows) == PROFILE_SWEEP_BATCH and done:
        _next_sweep = now  # more to do: continue on the next pass
    return done
