"""The dispatcher: an asyncio loop on its own thread that sends claimed outbound requests
to LINE as fast as LINE's limits allow and never faster, for every kind and producer.

One *lane* per account (LINE limits each channel separately) holds the channel's send
lease, claims due requests a second's worth at a time, and paces each endpoint with a
token bucket at LINE's rate (push 2,000/s, multicast 200/s, narrowcast 60/h…, times the
configured scale). The bucket holds half a second's worth, half of LINE's own, and at
most that many requests are unanswered at once, so a start at full speed or a stall that
bunches requests never overdraws LINE's bucket; a worker taking a channel over from
another right after it sent starts with an empty bucket. Outcomes are written back in
batches every 50 ms by one recorder. The dispatcher stops by itself after a few idle
seconds; the worker poller (`dispatch_requests`) starts it again when work appears.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import threading
import time
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from enishi.accounts.models import Account
from enishi.db.base import utcnow
from enishi.deps import AppState
from enishi.line.ratelimit import LIMITS, TokenBucket
from enishi.sending.kinds import KINDS
from enishi.sending.outbox import Outbox
from enishi.sending.outcomes import Job, Outcome, classify, expired
from enishi.sending.runtime import runtime_for
from enishi.sending.wire import LineWire, WireError

log = logging.getLogger(__name__)

BURST_SECONDS = 0.5  # our bucket: half of LINE's (which holds one second's worth)
QUEUE_LOW, QUEUE_HIGH = 0.5, 1.0  # seconds of work queued per endpoint: refill below low
SCOUT_INTERVAL = 0.25
REFRESH_MAX = 0.5
STATUS_EVERY = 0.1
FLUSH_INTERVAL = 0.05
IDLE_EXIT = 5.0
MAX_IN_FLIGHT = 512


def dispatch_requests(state: AppState) -> int:
    """Worker poller: keeps this process's dispatcher running while there is work and
    reports its progress (requests finished since the last call; 1 while it is busy)."""
    runtime = runtime_for(state)
    if runtime.dispatcher is None:
        runtime.dispatcher = Dispatcher(state, runtime.holder)
    dispatcher = runtime.dispatcher
    if not dispatcher.running:
        if not dispatcher.outbox.active_accounts():
            return 0
        dispatcher.start()
    dispatcher.poke()
    return dispatcher.progress(wait=0.05)


def dispatcher_options(state: AppState) -> dict[str, Any]:
    settings = state.settings
    lease = max(1.0, settings.delivery_lease_seconds)
    return {
        "scale": settings.delivery_rate_limit_scale,
        "timeout": settings.delivery_request_timeout,
        "lease": timedelta(seconds=lease),
        "channel_lease": timedelta(seconds=max(1.0, lease / 3)),
    }


class Dispatcher:
    def __init__(self, state: AppState, holder: str) -> None:
        options = dispatcher_options(state)
        self.settings, self.box, self.sessions = state.settings, state.box, state.sessions
        self.scale = options["scale"]
        self.timeout = options["timeout"]
        self.lease, self.channel_lease = options["lease"], options["channel_lease"]
        self.outbox = Outbox(state.sessions, holder, self.lease, self.channel_lease)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._stopping = threading.Event()
        self._lanes: dict[int, Lane] = {}
        self._pending: list[Outcome] = []
        self._recording = 0  # outcomes being written right now (no longer in _pending)
        self._finished = 0
        self._progress = threading.Condition()
        self._buckets: dict[tuple[int, str], TokenBucket] = {}

    def bucket(self, account_id: int, kind: str) -> TokenBucket:
        """The channel's bucket for an endpoint: kept for the dispatcher's life, so a lane that
        starts again does not start with a fresh burst."""
        key = (account_id, kind)
        if key not in self._buckets:
            rate = LIMITS[kind] * self.scale
            self._buckets[key] = TokenBucket(rate, max(1.0, rate * BURST_SECONDS))
        return self._buckets[key]

    # --- control (any thread) ----------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self._stopping.clear()
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(ready,), daemon=True, name="enishi-dispatch"
        )
        self._thread.start()
        ready.wait(5)

    def stop(self, timeout: float = 30.0) -> None:
        self._stopping.set()
        self.poke()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def poke(self) -> None:
        """Look for work now (e.g. a chunk was just planned)."""
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(self._wake_all)

    @property
    def busy(self) -> bool:
        try:
            if self._pending or self._recording:
                return True
            return any(lane.busy for lane in list(self._lanes.values()))
        except RuntimeError:  # the lanes changed while being read
            return True

    def progress(self, wait: float = 0.0) -> int:
        """Requests finished since the last call; 1 when none finished but work is under
        way (so a worker's run_until_idle keeps going)."""
        with self._progress:
            if not self._finished and wait and (self.busy or self.outbox.due_work()):
                self._progress.wait(wait)
            done, self._finished = self._finished, 0
        if done:
            return done
        return 1 if self.running and (self.busy or self.outbox.due_work()) else 0

    # --- the loop ----------------------------------------------------------------------------
    def _run(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main(ready))
        except Exception:
            log.exception("sending dispatcher failed")
        finally:
            self._loop = None
            loop.close()

    def _wake_all(self) -> None:
        if self._wake is not None:
            self._wake.set()
        for lane in list(self._lanes.values()):
            lane.wake.set()

    async def _main(self, ready: threading.Event) -> None:
        self._wake = asyncio.Event()
        ready.set()
        recorder = asyncio.create_task(self._recorder())
        tasks: dict[int, asyncio.Task] = {}
        idle_since = time.monotonic()
        while not self._stopping.is_set():
            try:
                accounts = await asyncio.to_thread(self.outbox.active_accounts)
            except Exception:
                log.exception("dispatch: could not read the accounts with work")
                accounts = []
            for account_id in accounts:
                if account_id not in tasks:
                    lane = self._lanes[account_id] = Lane(self, account_id)
                    tasks[account_id] = asyncio.create_task(lane.run())
            for account_id, task in list(tasks.items()):
                if task.done():
                    del tasks[account_id]
                    self._lanes.pop(account_id, None)
                    if not task.cancelled() and task.exception() is not None:
                        log.error("dispatch lane %s failed", account_id, exc_info=task.exception())
            if tasks or self._pending:
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since > IDLE_EXIT:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), SCOUT_INTERVAL)
            self._wake.clear()
        for lane in self._lanes.values():
            lane.stopping = True
            lane.wake.set()
        await asyncio.gather(*tasks.values(), return_exceptions=True)
        recorder.cancel()
        await self._flush()

    # --- outcomes ----------------------------------------------------------------------------
    def add(self, outcome: Outcome) -> None:
        self._pending.append(outcome)

    async def _recorder(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_INTERVAL)
            await self._flush()

    async def _flush(self) -> None:
        if not self._pending:
            return
        # counted as recording before leaving _pending: a worker asking whether anything
        # is under way never sees an outcome in neither (it would stop before the write)
        self._recording = len(self._pending)
        batch, self._pending = self._pending, []
        try:
            await asyncio.to_thread(self.outbox.record, batch)
        except Exception:
            log.exception("dispatch: could not record %d outcomes; retrying", len(batch))
            self._pending[:0] = batch
            self._recording = 0
            await asyncio.sleep(1.0)
            return
        with self._progress:
            self._finished += len(batch)
            self._recording = 0
            self._progress.notify_all()


class Lane:
    """One account's sending: its lease, queues, buckets and connections."""

    def __init__(self, dispatcher: Dispatcher, account_id: int) -> None:
        self.dispatcher, self.account_id = dispatcher, account_id
        self.rates = {kind: LIMITS[kind] * dispatcher.scale for kind in KINDS}
        self.buckets = {kind: dispatcher.bucket(account_id, kind) for kind in KINDS}
        self.queues: dict[str, collections.deque[Job]] = {k: collections.deque() for k in KINDS}
        self.kicks = {kind: asyncio.Event() for kind in KINDS}
        self.wake = asyncio.Event()
        # at most half a second of LINE's allowance unanswered per endpoint: if LINE (or
        # the path to it) stalls and then takes everything at once, its one-second bucket
        # still holds enough for what arrives together
        self.slots = {
            kind: asyncio.Semaphore(min(MAX_IN_FLIGHT, max(1, int(rate * BURST_SECONDS))))
            for kind, rate in self.rates.items()
        }
        self.gates: dict[str, set[int]] = {}  # gated sources: the ids that may be sent
        self.kinds: set[str] = set()  # kinds with pending requests
        self.open = False
        self.held_until = 0.0
        self.in_flight = 0
        self.stopping = False
        self.wire: LineWire | None = None

    @property
    def busy(self) -> bool:
        return self.in_flight > 0 or any(self.queues.values())

    async def run(self) -> None:
        dispatcher = self.dispatcher
        token = await asyncio.to_thread(self._token)
        self.wire = LineWire(dispatcher.settings.line_api_base, token, timeout=dispatcher.timeout)
        pumps = [asyncio.create_task(self._pump(kind)) for kind in KINDS]
        last_reclaim = 0.0
        waited_since: float | None = None  # since when another worker held the channel
        keep = dispatcher.channel_lease.total_seconds() * 2 / 3
        try:
            while not self.stopping:
                now = time.monotonic()  # before asking: the lease runs from the ask
                channel = await asyncio.to_thread(dispatcher.outbox.hold_channel, self.account_id)
                held = channel.held
                asked_for = time.monotonic() - now
                if asked_for > keep:  # the lease ran out while we asked: nothing was sent
                    log.warning(
                        "dispatch: the channel lease of account %s took %.1f s to %s",
                        self.account_id,
                        asked_for,
                        "renew" if held else "ask for",
                    )
                if held and self.held_until == 0.0 and waited_since is not None:
                    log.warning(  # rare: the worker that held it stopped renewing (died?)
                        "dispatch: took account %s's channel over after waiting %.1f s",
                        self.account_id,
                        now - waited_since,
                    )
                waited_since = None if held else (waited_since or now)
                if channel.recent:  # another worker was sending until just now: start empty
                    for bucket in self.buckets.values():
                        bucket.reserve(bucket.capacity)
                self.held_until = now + keep if held else 0.0
                self.gates, self.kinds, self.open = channel.gates, channel.kinds, channel.open
                if not self.open and not self.busy:
                    return
                if not held:  # another worker sends for this channel: wait for its lease
                    self._give_back_queued()
                    await self._sleep(keep / 2)
                    continue
                if now - last_reclaim > dispatcher.lease.total_seconds() / 3:
                    await asyncio.to_thread(dispatcher.outbox.reclaim_expired, self.account_id)
                    last_reclaim = now
                # while sending, look at the producers' gates every 0.1 s: a delivery's
                # pause or cancel stops this lane within that (what was claimed is given back)
                pause = await self._refill()
                await self._sleep(min(pause, STATUS_EVERY) if self.busy else pause)
        finally:
            self.stopping = True
            for kick in self.kicks.values():
                kick.set()
            await asyncio.gather(*pumps, return_exceptions=True)
            while self.in_flight:
                await asyncio.sleep(0.01)
            self._give_back_queued()
            try:
                await asyncio.to_thread(dispatcher.outbox.release_channel, self.account_id)
            except Exception:
                log.warning("dispatch: could not release the channel lease", exc_info=True)
            if self.wire is not None:
                await self.wire.close()

    def _token(self) -> str:
        with self.dispatcher.sessions() as session:
            sealed = session.scalar(
                select(Account.access_token_sealed).where(Account.id == self.account_id)
            )
        return self.dispatcher.box.open(sealed)

    async def _refill(self) -> float:
        """Claim work for each endpoint whose queue runs low; how long to sleep next."""
        sleep_for = REFRESH_MAX
        for kind in KINDS:
            queue, rate = self.queues[kind], self.rates[kind]
            if len(queue) < rate * QUEUE_LOW and self.open and kind in self.kinds:
                want = max(1, min(2000, int(rate * QUEUE_HIGH) - len(queue)))
                jobs, upcoming = await asyncio.to_thread(
                    self.dispatcher.outbox.claim, self.account_id, kind, self.gates, want
                )
                if jobs:
                    queue.extend(jobs)
                    self.kicks[kind].set()
                elif upcoming is not None:
                    ahead = (upcoming - utcnow()).total_seconds()
                    sleep_for = min(sleep_for, max(0.01, ahead))
            if queue:
                sleep_for = min(sleep_for, max(0.02, len(queue) / rate - QUEUE_LOW))
        return sleep_for

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.wake.wait(), seconds)
        self.wake.clear()

    def _may_send(self, job: Job) -> bool:
        if self.stopping:
            return False
        gate = self.gates.get(job.source)
        if gate is not None and job.source_id not in gate:
            return False
        if time.monotonic() >= self.held_until:
            return False
        # never start an attempt that could outlive the claim (another worker may retry it)
        margin = self.dispatcher.timeout + 1.0
        return (job.lease_until - utcnow()).total_seconds() > margin

    def _give_back_queued(self) -> None:
        for queue in self.queues.values():
            while queue:
                job = queue.popleft()
                self.dispatcher.add(Outcome(job, "release", utcnow(), attempted=False))

    async def _pump(self, kind: str) -> None:
        queue, bucket, kick = self.queues[kind], self.buckets[kind], self.kicks[kind]
        slots = self.slots[kind]
        while not self.stopping:
            if not queue:
                kick.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(kick.wait(), 0.2)
                continue
            await slots.acquire()
            job = queue[0]
            if self._may_send(job):
                wait = bucket.reserve()
                if wait > 0:
                    await asyncio.sleep(wait)
            if not queue or queue[0] is not job:  # given back while waiting
                slots.release()
                continue
            queue.popleft()
            if job.expires_at is not None and utcnow() >= job.expires_at:
                slots.release()
                self.dispatcher.add(expired(job))
                continue
            if not self._may_send(job):
                slots.release()
                self.dispatcher.add(Outcome(job, "release", utcnow(), attempted=False))
                continue
            self.in_flight += 1
            asyncio.create_task(self._send(job, bucket))

    async def _send(self, job: Job, bucket: TokenBucket) -> None:
        try:
            assert self.wire is not None
            try:
                response = await self.wire.send(job.method, job.path, job.body, job.retry_key)
                outcome = classify(job, response.status, response.headers, response.body)
                status = response.status
            except WireError as error:
                outcome = classify(job, None, {}, b"", error=str(error))
                status = None
            if status == 429 and outcome.action == "retry":  # LINE's bucket is dry: let it fill
                bucket.reserve(bucket.capacity)
            if outcome.action == "pause" and job.source in self.gates:
                self.gates[job.source].discard(job.source_id)
            self.dispatcher.add(outcome)
        except Exception as error:  # never lose a claimed request: give it back
            log.exception("dispatch: sending request %s failed", job.id)
            self.dispatcher.add(
                Outcome(job, "retry", utcnow(), error=repr(error)[:500], retry_at=utcnow())
            )
        finally:
            self.in_flight -= 1
            self.slots[job.kind].release()
