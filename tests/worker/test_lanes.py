"""Worker lanes: a long job in one lane does not delay webhook events in another, and
`enishi worker --lanes` runs only the lanes it is given."""

from __future__ import annotations

import threading
import time

from sqlalchemy import select
from typer.testing import CliRunner

from enishi.cli.main import app as cli
from enishi.friends.models import Friend
from enishi.webhook.models import DONE, WebhookEvent
from enishi.worker.registry import EVENTS, HEAVY, LANE_NAMES, lanes, pollers
from enishi.worker.runner import Lanes
from tests.webhook.events import deliver, follow

USER = "U" + "1" * 32


def test_every_poller_runs_in_exactly_one_lane():
    by_lane = lanes()
    assert tuple(by_lane) == LANE_NAMES
    names = [poller.__name__ for poller in pollers()]
    assert len(names) == len(set(names))
    assert sorted(names) == sorted(p.__name__ for lane in by_lane.values() for p in lane)
    assert [p.__name__ for p in by_lane[EVENTS]] == ["process_pending_events", "deliver_events"]
    assert "plan_deliveries" in [p.__name__ for p in by_lane[HEAVY]]


def test_webhook_events_are_processed_while_a_heavy_job_runs(client, state, api_account):
    started, processed = threading.Event(), threading.Event()

    def long_job(_state) -> int:
        """A job that holds its lane until the event is processed (or 30 s pass): one
        thread for every poller would wait here the whole 30 s."""
        started.set()
        processed.wait(30)
        return 0

    runner = Lanes(state, {**lanes(), HEAVY: [long_job]}, idle_sleep=0.02)
    runner.start()
    try:
        assert started.wait(10)
        stored = time.monotonic()
        deliver(client, api_account, follow(USER, 1_700_000_000_000))
        while _status(state) != DONE and time.monotonic() < stored + 30:
            time.sleep(0.01)
        latency = time.monotonic() - stored
        processed.set()
    finally:
        processed.set()
        runner.stop()
    assert _status(state) == DONE
    # well under a second on a quiet machine; the bound leaves room for a loaded one and
    # is still far from the 30 s the event would wait behind the job in a single thread
    print(f"processed {latency:.3f} s after it was stored, the heavy job still running")
    assert latency < 5.0
    with state.sessions() as session:
        assert session.scalar(select(Friend.line_user_id)) == USER


def _status(state) -> str | None:
    with state.sessions() as session:
        return session.scalar(select(WebhookEvent.status))


def test_worker_refuses_unknown_lanes():
    result = CliRunner().invoke(cli, ["worker", "--lanes", "events,bogus"])
    assert result.exit_code == 2
    assert "bogus" in result.output and "不明なレーン" in result.output
