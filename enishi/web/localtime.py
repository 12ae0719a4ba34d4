"""Times on pages: stored in UTC, shown in the account's time zone."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo


def local_time(timezone: str | None) -> Callable[[datetime | None], str]:
    """A formatter for templates: `when(dt)` → "2025-04-01 09:30" in the account's zone."""
    zone = ZoneInfo(timezone or "Asia/Tokyo")

    def when(moment: datetime | None) -> str:
        return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M") if moment else ""

    return when
