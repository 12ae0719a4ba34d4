"""The emulator's clock: real time by default, or simulated time that runs faster or jumps.

Everything time-dependent in the emulator (webhook timestamps, reply-token expiry, retry-key
lifetime, quota months, virtual friends' behaviour) reads this clock, so a test or the demo
can live through 90 days in seconds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone

JST = timezone(timedelta(hours=9), "JST")


@dataclass
class SimClock:
    """Simulated time = anchor + (real seconds since anchor) x speed.

    speed 1.0 follows the wall clock; 0 freezes time (only `advance` moves it); 60 makes a
    real second a simulated minute.
    """

    speed: float = 1.0
    _anchor_sim: float = field(default_factory=time.time)
    _anchor_real: float = field(default_factory=time.monotonic)

    def now(self) -> float:
        """Simulated time in seconds since the epoch."""
        return self._anchor_sim + (time.monotonic() - self._anchor_real) * self.speed

    def now_ms(self) -> int:
        return int(self.now() * 1000)

    def now_dt(self) -> datetime:
        return datetime.fromtimestamp(self.now(), JST)

    def set(self, sim_seconds: float) -> None:
        self._anchor_sim = sim_seconds
        self._anchor_real = time.monotonic()

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        self.set(self.now() + seconds)

    def __getstate__(self) -> dict:
        # monotonic time means nothing in another process: keep the simulated instant
        return {"speed": self.speed, "now": self.now()}

    def __setstate__(self, state: dict) -> None:
        self.speed = state["speed"]
        self.set(state["now"])

    def set_speed(self, speed: float) -> None:
        if speed < 0:
            raise ValueError("speed must be >= 0")
        self.set(self.now())
        self.speed = speed


def jst_date(sim_seconds: float) -> str:
    """yyyyMMdd in UTC+9, the date format of LINE's statistics endpoints."""
    return datetime.fromtimestamp(sim_seconds, JST).strftime("%Y%m%d")


def jst_month(sim_seconds: float) -> str:
    return datetime.fromtimestamp(sim_seconds, JST).strftime("%Y-%m")


def is_date(value: str) -> bool:
    """A real calendar date written yyyyMMdd, as LINE's `date` parameters are."""
    if len(value) != 8 or not (value.isascii() and value.isdigit()):
        return False
    try:
        datetime.strptime(value, "%Y%m%d")
    except ValueError:
        return False
    return True


def iso_ms(sim_seconds: float) -> str:
    """ISO 8601 in UTC with milliseconds, as LINE's progress endpoints answer."""
    moment = datetime.fromtimestamp(sim_seconds, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
