"""The background worker: a loop over pollers that find work in the database.

Needs no broker: each poller claims rows (with FOR UPDATE SKIP LOCKED on PostgreSQL, so
several workers can share one database; SQLite has one writer anyway), does the work and
marks it done in the same transaction. The pollers are grouped in lanes, each on a thread
of its own (`Lanes`); `enishi serve` runs the lanes beside the web server, `enishi worker`
runs them on their own.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from enishi.deps import AppState

log = logging.getLogger(__name__)

Poller = Callable[[AppState], int]  # does a batch of work; returns how much it did


class Worker:
    def __init__(
        self,
        state: AppState,
        pollers: Sequence[Poller],
        *,
        idle_sleep: float = 0.1,
        error_sleep: float = 2.0,
        name: str = "enishi-worker",
    ) -> None:
        self.state = state
        self.name = name
        self.pollers = list(pollers)
        self.idle_sleep = idle_sleep
        self.error_sleep = error_sleep
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> int:
        """One pass over every poller; returns the work done (used by tests)."""
        done = 0
        for poller in self.pollers:
            try:
                done += poller(self.state)
            except Exception:
                log.exception("worker poller %s failed", getattr(poller, "__name__", poller))
                self._stop.wait(self.error_sleep)
        return done

    def run_until_idle(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while self.run_once():
            if time.monotonic() > deadline:
                raise TimeoutError("worker still busy")

    def run(self) -> None:
        while not self._stop.is_set():
            if not self.run_once():
                self._stop.wait(self.idle_sleep)

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name=self.name, daemon=True)
        self._thread.start()

    def request_stop(self) -> None:
        self._stop.set()

    def stop(self, timeout: float = 30.0) -> None:
        self.request_stop()
        if self._thread is not None:
            self._thread.join(timeout)


class Lanes:
    """One Worker thread per lane (enishi/worker/registry.py), started and stopped together."""

    def __init__(self, state: AppState, lanes: dict[str, Sequence[Poller]], **options) -> None:
        self.workers = {
            name: Worker(state, pollers, name=f"enishi-worker-{name}", **options)
            for name, pollers in lanes.items()
        }

    def start(self) -> None:
        for worker in self.workers.values():
            worker.start()

    def stop(self, timeout: float = 30.0) -> None:
        for worker in self.workers.values():
            worker.request_stop()
        for worker in self.workers.values():
            worker.stop(timeout)
