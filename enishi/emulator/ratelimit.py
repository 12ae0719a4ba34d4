"""LINE's per-channel, per-endpoint rate limits as token buckets (LINE_PLATFORM.md §1).

Each endpoint (method + path) of each channel has its own bucket. A bucket holds one
window's worth of requests and refills continuously, so "60/hour" allows a burst of 60 and
then one request a minute. Rates can be scaled down for tests (`--rate-limit-scale`); a
scale of 0 turns limiting off.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

# limit class -> (requests, per seconds)
LIMITS: dict[str, tuple[int, float]] = {
    "hourly60": (60, 3600.0),  # narrowcast, broadcast, insight, webhook test
    "audience": (60, 60.0),
    "webhook_endpoint": (1000, 60.0),
    "hourly100": (100, 3600.0),  # create/delete rich menu, delete alias, batch progress
    "richmenu_batch": (3, 3600.0),
    "multicast": (200, 1.0),
    "default": (2000, 1.0),  # push, reply, profile, followers, linkToken, rich-menu link...
}


@dataclass
class TokenBucket:
    capacity: float
    rate: float  # tokens per second
    tokens: float
    updated: float

    def take(self, now: float) -> bool:
        tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if tokens >= 1.0:
            self.tokens = tokens - 1.0
            return True
        self.tokens = tokens
        return False


class RateLimiter:
    def __init__(self, scale: float = 1.0) -> None:
        self.scale = scale
        self._buckets: dict[tuple[str, str], TokenBucket] = {}

    @property
    def enabled(self) -> bool:
        return self.scale > 0

    def allow(self, channel_id: str, endpoint: str, limit_class: str) -> bool:
        """Take one token for (channel, endpoint); False means answer 429."""
        if self.scale <= 0:
            return True
        key = (channel_id, endpoint)
        bucket = self._buckets.get(key)
        now = time.monotonic()
        if bucket is None:
            count, window = LIMITS[limit_class]
            capacity = max(1.0, count * self.scale)
            bucket = TokenBucket(capacity, count * self.scale / window, capacity, now)
            self._buckets[key] = bucket
        return bucket.take(now)

    def reset(self) -> None:
        self._buckets.clear()
