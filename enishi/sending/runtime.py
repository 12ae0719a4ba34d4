"""Per-process sending state attached to an AppState: this worker's identity (for leases)
and its dispatcher. Dropped (and the dispatcher stopped) when the AppState goes away."""

from __future__ import annotations

import os
import socket
import threading
import uuid
import weakref
from dataclasses import dataclass
from typing import Any

from enishi.deps import AppState

_lock = threading.Lock()


@dataclass
class Runtime:
    holder: str  # this worker's name in leases
    dispatcher: Any = None  # dispatcher.Dispatcher, created on first use


_runtimes: dict[int, Runtime] = {}


def _drop(key: int) -> None:
    runtime = _runtimes.pop(key, None)
    if runtime is not None and runtime.dispatcher is not None:
        runtime.dispatcher.stop()


def runtime_for(state: AppState) -> Runtime:
    key = id(state)
    with _lock:
        runtime = _runtimes.get(key)
        if runtime is None:
            holder = f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
            runtime = _runtimes[key] = Runtime(holder)
            weakref.finalize(state, _drop, key)
        return runtime


def holder_id(state: AppState) -> str:
    return runtime_for(state).holder
