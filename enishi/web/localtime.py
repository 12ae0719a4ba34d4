"""Times on pages: stored in UTC, shown in the account's time zone."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo


def local_time(timezone: str | None, *, seconds: bool = False) -> Callable[[datetime | None], str]:
    """A formatter for templates: `when(dt)` → "2025-04-01 09:30" in the account's zone
    ("2025-04-01 09:30:15" with `seconds`, as the audit log shows it)."""
    zone = ZoneInfo(timezone or "Asia/Tokyo")
    pattern = "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"

    def when(moment: datetime | None) -> str:
        return moment.astimezone(zone).strftime(pattern) if moment else ""

    return when
