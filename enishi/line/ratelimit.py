"""Client-side token buckets that keep enishi under LINE's per-channel rate limits.

LINE limits each channel per endpoint with a token bucket (LINE_PLATFORM.md §1). Calls
made from one process share one bucket per (channel, endpoint) here, so a burst of work
(a backlog of follow events, each fetching a profile) waits instead of collecting 429s.
Several processes each hold their own buckets: their sum is what LINE sees.
"""

from __future__ import annotations

import threading
import time

# requests per second per channel, from LINE's table; extend as endpoints are used
LIMITS: dict[str, float] = {
    "profile": 2000.0,
    "push": 2000.0,
    "reply": 2000.0,
    "link_token": 2000.0,
    "multicast": 200.0,
    "narrowcast": 60.0 / 3600,
    "richmenu_link": 2000.0,
    "richmenu_unlink": 2000.0,
    "richmenu_bulk_link": 2000.0,
    "richmenu_bulk_unlink": 2000.0,
}


class TokenBucket:
    """`rate` tokens a second, holding at most `capacity`; thread-safe."""

    def __init__(self, rate: float, capacity: float | None = None) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.capacity = capacity if capacity is not None else rate
        self._tokens = self.capacity
        self._at = time.monotonic()
        self._lock = threading.Lock()

    def _reserve(self, tokens: float) -> float:
        """Take `tokens` now (possibly going into debt); the seconds to wait before use."""
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.rate)
            self._at = now
            self._tokens -= tokens
            return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    def reserve(self, tokens: float = 1.0) -> float:
        """Take `tokens` without blocking; the seconds the caller must wait before using
        them (for callers that sleep their own way, e.g. the asyncio sending dispatcher)."""
        return self._reserve(tokens)

    def acquire(self, tokens: float = 1.0) -> float:
        """Block until `tokens` may be spent; returns how long it waited. Callers are served
        in arrival order because each one reserves before sleeping."""
        wait = self._reserve(tokens)
        if wait > 0:
            time.sleep(wait)
        return wait


_buckets: dict[tuple[str, str], TokenBucket] = {}
_lock = threading.Lock()


def bucket(channel_id: str, endpoint: str) -> TokenBucket:
    """The process-wide bucket for one channel's endpoint. Its burst is a tenth of a
    second's worth, so a full burst followed by the steady rate stays under LINE's
    limit whatever LINE's own bucket held."""
    key = (channel_id, endpoint)
    with _lock:
        found = _buckets.get(key)
        if found is None:
            rate = LIMITS[endpoint]
            found = _buckets[key] = TokenBucket(rate, max(1.0, rate / 10))
        return found
