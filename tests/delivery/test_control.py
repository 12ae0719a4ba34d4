"""Timing and control: spread over a window, pause, resume, cancel mid-delivery."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from enishi.delivery.models import Delivery
from enishi.sending.models import OutboundRequest
from enishi.worker.runner import Worker

SLOW = 0.01  # LINE's limits × 0.01: 20 pushes/s


def test_pause_resume_and_cancel_mid_delivery(start_env):
    env = start_env(
        friends=150, rate_limit_scale=SLOW, settings={"delivery_rate_limit_scale": SLOW}
    )
    body = {
        "audience": {"type": "all"},
        "messages": [{"type": "text", "text": "{{display_name}}さんへ"}],
    }
    first = env.create(name="pause me", **body)
    env.call("POST", f"/deliveries/{first['id']}/schedule")
    worker = Worker(env.state, env.e2e.worker.pollers, idle_sleep=0.02)
    worker.start()
    try:
        deadline = time.monotonic() + 30
        while sum(env.received().values()) < 30 and time.monotonic() < deadline:
            time.sleep(0.02)
        paused = env.call("POST", f"/deliveries/{first['id']}/pause").json()
        assert paused["status"] == "paused"
        time.sleep(0.5)  # what was already on its way to LINE lands
        at_pause = sum(env.received().values())
        time.sleep(1.5)
        assert sum(env.received().values()) == at_pause  # nothing more while paused
        assert at_pause < 150
        assert env.call("POST", f"/deliveries/{first['id']}/pause").status_code == 409
        resumed = env.call("POST", f"/deliveries/{first['id']}/resume").json()
        assert resumed["status"] == "sending"
        done = env.finish_running(first["id"])
        assert done["status"] == "done" and done["progress"]["sent"] == 150
        assert set(env.received().values()) == {1}

        second = env.create(name="cancel me", **body)
        env.call("POST", f"/deliveries/{second['id']}/schedule")
        deadline = time.monotonic() + 30
        while sum(env.received().values()) < 180 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert env.call("POST", f"/deliveries/{second['id']}/cancel").status_code == 200
        time.sleep(0.5)
        at_cancel = sum(env.received().values())
        out = env.finish_running(second["id"])
        time.sleep(1.0)
        assert sum(env.received().values()) == at_cancel < 300
    finally:
        worker.stop()
    progress = out["progress"]
    assert out["status"] == "cancelled"
    assert progress["sent"] == at_cancel - 150
    assert progress["cancelled"] == 150 - progress["sent"] and progress["queued"] == 0
    cancelled = env.recipients(second["id"], status="cancelled")
    assert len(cancelled) == progress["cancelled"]
    assert all(len(env.inbox(r["line_user_id"])) == 1 for r in cancelled)
    assert env.call("POST", f"/deliveries/{second['id']}/resume").status_code == 409


def test_spread_over_a_window(start_env):
    env = start_env(friends=40)
    until = datetime.now(UTC) + timedelta(seconds=4)
    delivery = env.create(
        name="spread",
        audience={"type": "all"},
        spread_until=until.isoformat(),
        messages=[{"type": "text", "text": "{{display_name}}"}],
    )
    started = time.monotonic()
    out = (
        env.finish(delivery["id"])
        if env.call("POST", f"/deliveries/{delivery['id']}/schedule").status_code == 200
        else None
    )
    assert out is not None and out["progress"]["sent"] == 40
    with env.state.sessions() as session:
        rows = session.execute(
            select(OutboundRequest.due_at, OutboundRequest.sent_at).order_by(OutboundRequest.id)
        ).all()
        started_at = session.scalar(select(Delivery.started_at))
    due = [r.due_at for r in rows]
    # the n requests are spread evenly from the start to the window's end: the last is due
    # (n-1)/n of the way (however long a loaded machine took to start the delivery)
    window = (until - started_at).total_seconds()
    assert due == sorted(due) and due[0] == started_at
    assert abs((due[-1] - due[0]).total_seconds() - window * 39 / 40) < 0.01
    assert all(r.sent_at >= r.due_at for r in rows)  # never before its time
    assert time.monotonic() - started > 2.0
    assert due[-1] <= until


def test_scheduled_for_later_waits(start_env):
    env = start_env(friends=5)
    later = datetime.now(UTC) + timedelta(hours=1)
    delivery = env.create(
        name="later",
        audience={"type": "all"},
        send_at=later.isoformat(),
        messages=[{"type": "text", "text": "hi"}],
    )
    out = env.call("POST", f"/deliveries/{delivery['id']}/schedule").json()
    assert out["status"] == "scheduled"
    env.e2e.worker.run_until_idle(10)
    assert env.status(delivery["id"]) == "scheduled" and not env.received()
    assert env.call("POST", f"/deliveries/{delivery['id']}/pause").json()["status"] == "paused"
    assert env.call("POST", f"/deliveries/{delivery['id']}/resume").json()["status"] == "scheduled"
    cancelled = env.call("POST", f"/deliveries/{delivery['id']}/cancel").json()
    assert cancelled["status"] == "cancelled" and cancelled["finished_at"]
