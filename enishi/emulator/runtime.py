"""The running emulator: state plus the machinery that acts on it (one per server)."""

from __future__ import annotations

import logging
import os
import pickle
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from enishi.emulator.ratelimit import RateLimiter
from enishi.emulator.simulator import Simulator
from enishi.emulator.state import Channel, EmulatorState
from enishi.emulator.webhooks import WebhookSender

log = logging.getLogger(__name__)

STATE_FORMAT = 1


@dataclass
class Emulator:
    state: EmulatorState
    limiter: RateLimiter
    webhooks: WebhookSender
    simulator: Simulator
    state_file: Path | None = None
    # real seconds between simulator ticks while the clock runs; 0 = only on request
    tick_seconds: float = 0.5
    background: list = field(default_factory=list)
    _follower_order: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        state: EmulatorState,
        *,
        rate_limit_scale: float = 1.0,
        state_file: Path | None = None,
        webhook_retry_delays: tuple[float, ...] | None = None,
        tick_seconds: float = 0.5,
    ) -> Emulator:
        webhooks = (
            WebhookSender(state, retry_delays=webhook_retry_delays)
            if webhook_retry_delays is not None
            else WebhookSender(state)
        )
        return cls(
            state=state,
            limiter=RateLimiter(rate_limit_scale),
            webhooks=webhooks,
            simulator=Simulator(state, webhooks, seed=state.seed),
            state_file=state_file,
            tick_seconds=tick_seconds,
        )

    def follower_order(self, channel: Channel) -> list[str]:
        """A stable order of the channel's users for paging followers/ids; friends are only
        ever added, so the cached list is extended, never rebuilt."""
        order = self._follower_order.setdefault(channel.channel_id, [])
        if len(order) < len(channel.friends):
            order.extend(list(channel.friends)[len(order) :])
        return order

    def save(self) -> None:
        """Write the state atomically, so a crash mid-write never leaves a broken file."""
        if self.state_file is None:
            return
        path = self.state_file
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            pickle.dump(
                {"format": STATE_FORMAT, "state": self.state}, f, protocol=pickle.HIGHEST_PROTOCOL
            )
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        log.info("emulator state saved to %s", path)


def load_state(path: Path) -> EmulatorState | None:
    """The state saved by a previous run, or None when there is no file yet.

    The file is the emulator's own pickle: load only files this emulator wrote.
    """
    if not path.exists():
        return None
    with path.open("rb") as f:
        data = pickle.load(f)  # noqa: S301 - our own state file, written by Emulator.save
    if not isinstance(data, dict) or data.get("format") != STATE_FORMAT:
        raise ValueError(f"{path} is not an enishi emulator state file of format {STATE_FORMAT}")
    return data["state"]
