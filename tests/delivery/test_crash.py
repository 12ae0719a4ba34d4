"""`enishi worker` killed with SIGKILL mid-delivery, several times, and restarted — and two
workers sharing the database: every friend gets the message exactly once, nothing is lost,
and LINE's (scaled) rate limits are never exceeded."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from enishi.delivery.models import DeliveryChannelLease

ROOT = Path(__file__).resolve().parents[2]
ENISHI = str(Path(sys.executable).with_name("enishi"))
SCALE = 0.05  # push 100/s, multicast 10/s


def start_worker(env, log: Path, *, wait: bool = True) -> subprocess.Popen:
    """`enishi worker` in its own process; its log goes to a file (a pipe nobody reads
    would block it once full)."""
    settings = env.state.settings
    variables = {
        **os.environ,
        "ENISHI_DATABASE_URL": settings.database_url,
        "ENISHI_SECRET_KEY": settings.secret_key,
        "ENISHI_PUBLIC_BASE_URL": settings.public_base_url,
        "ENISHI_LINE_API_BASE": settings.line_api_base,
        "ENISHI_LINE_DATA_API_BASE": settings.line_data_api_base,
        "ENISHI_SQLITE_SYNCHRONOUS": "NORMAL",
        "ENISHI_DELIVERY_RATE_LIMIT_SCALE": str(SCALE),
        "ENISHI_DELIVERY_LEASE_SECONDS": "3",
        "ENISHI_DELIVERY_REQUEST_TIMEOUT": "1",
    }
    with log.open("ab") as stderr:
        process = subprocess.Popen(
            [ENISHI, "worker"], env=variables, cwd=ROOT, stdout=subprocess.PIPE, stderr=stderr
        )
    if wait:
        assert process.stdout is not None
        process.stdout.readline()  # "worker running"
    return process


def kill(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)


def sender_pid(env) -> int:
    """The pid of the worker holding the channel's send lease (holder = host:pid:random)."""
    with env.state.sessions() as session:
        holder = session.scalar(select(DeliveryChannelLease.holder))
    return int(holder.split(":")[1])


def wait_for(predicate, timeout: float, log: Path, state=None) -> None:
    """Until `predicate()`; a stall raises with `state()` (what the test sees) and the
    workers' log."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            seen = state() if state is not None else ""
            raise TimeoutError(f"{seen}\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.02)


@pytest.mark.parametrize("workers", [1, 2])
def test_sigkill_mid_delivery_still_exactly_once(start_env, workers, tmp_path):
    log = tmp_path / "workers.log"
    env = start_env(friends=1200, rate_limit_scale=SCALE)
    delivery = env.create(
        name="crash",
        audience={"type": "all"},
        seed=9,
        arms=[
            {"name": "P", "share": 0.9, "messages": [{"type": "text", "text": "{{display_name}}"}]},
            {"name": "M", "share": 0.1, "messages": [{"type": "text", "text": "共通"}]},
        ],
    )
    scheduled = env.call("POST", f"/deliveries/{delivery['id']}/schedule")
    assert scheduled.status_code == 200, scheduled.text
    env.faults({"*": {"drop_rate": 0.05}})  # and LINE loses some answers
    processes = [start_worker(env, log) for _ in range(workers)]
    try:
        for kill_number in range(3):  # ~1,080 pushes at 100/s: kill the sender every ~120
            floor = env.counters().get("push", 0) + 120

            def seen(kill_number=kill_number) -> str:
                with env.state.sessions() as session:
                    lease = session.execute(select(DeliveryChannelLease.__table__)).all()
                alive = [(p.pid, p.poll()) for p in processes]
                return f"kill {kill_number}: {env.counters()}, lease {lease}, workers {alive}"

            wait_for(lambda floor=floor: env.counters().get("push", 0) >= floor, 120, log, seen)
            victim = next(p for p in processes if p.pid == sender_pid(env))
            kill(victim)
            processes[processes.index(victim)] = start_worker(env, log, wait=False)
        assert env.status(delivery["id"]) == "sending"  # every kill was mid-delivery
        out = env.finish_running(delivery["id"], timeout=180)
    finally:
        for process in processes:
            kill(process)
    assert out["status"] == "done", out
    assert out["progress"]["sent"] == 1200 and out["progress"]["failed"] == 0
    assert env.received() == Counter(dict.fromkeys(env.friends, 1))
    counters = env.counters()
    # one sender per channel at a time; a takeover less than a second after the previous
    # holder stopped starts with an empty bucket, so LINE's is never overdrawn
    assert counters.get("rate_limited", 0) == 0
    assert counters.get("retry_key_conflicts", 0) > 0  # lost answers and orphans were resent
    recipients = env.recipients(delivery["id"])
    assert all(r["status"] == "sent" and r["sent_at"] for r in recipients)
