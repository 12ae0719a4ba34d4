"""LINE misbehaving: 5xx, timeouts, lost answers, 429 bursts, and LINE's rate limits.
Every friend still gets the message exactly once (counted in the emulator's inboxes)."""

from __future__ import annotations

import time
from collections import Counter

from enishi.delivery.planner import plan_deliveries
from enishi.worker.runner import Worker
from tests.delivery.conftest import Env

FAST = {"delivery_request_timeout": 0.4, "delivery_lease_seconds": 6}


def exactly_once(env: Env, users) -> None:
    received = env.received()
    assert {u: received.get(u, 0) for u in users} == dict.fromkeys(users, 1)


def test_errors_timeouts_and_lost_answers_deliver_exactly_once(start_env):
    env = start_env(friends=400, settings=FAST)
    # every push first takes longer than enishi waits (a timeout), multicasts fail with 500
    env.faults({"push": {"latency_ms": 600}, "multicast": {"force_status": 500, "force_count": 2}})
    delivery = env.create(
        name="faults",
        audience={"type": "all"},
        seed=1,
        arms=[
            {"name": "P", "messages": [{"type": "text", "text": "{{display_name}}さん"}]},
            {"name": "M", "messages": [{"type": "text", "text": "みなさんへ"}]},
        ],
    )
    assert env.call("POST", f"/deliveries/{delivery['id']}/schedule").status_code == 200
    worker = Worker(env.state, env.e2e.worker.pollers, idle_sleep=0.02)
    worker.start()
    try:
        deadline = time.monotonic() + 20
        while env.counters().get("push", 0) < 60 and time.monotonic() < deadline:
            time.sleep(0.05)
        # then 5% errors, 5% accepted-but-lost answers and 429 bursts until the end
        env.faults(
            {
                "push": {"error_rate": 0.05, "drop_rate": 0.05},
                "multicast": {"error_rate": 0.05, "drop_rate": 0.05},
                "*": {"force_status": 429, "force_count": 5},
            }
        )
        out = env.finish_running(delivery["id"], timeout=120)
    finally:
        worker.stop()
    assert out["status"] == "done"
    assert out["progress"]["sent"] == 400 and out["progress"]["failed"] == 0
    exactly_once(env, env.friends)
    counters = env.counters()
    assert counters.get("retry_key_conflicts", 0) > 0  # resent after lost answers: 409
    assert counters["push"] > out["requests"]["sent"] - 1  # retries happened
    recipients = env.recipients(delivery["id"])
    assert [r for r in recipients if not r["line_request_id"]] == []
    # the request id on record is the one that delivered (the original, on a 409)
    for r in recipients[:50]:
        assert env.inbox(r["line_user_id"])[0].request_id == r["line_request_id"]


def test_other_4xx_fail_with_lines_reason(start_env):
    env = start_env(friends=5)
    env.faults({"push": {"force_status": 400, "force_count": 1}})
    out = env.send(
        name="bad",
        audience={"type": "all"},
        messages=[{"type": "text", "text": "{{display_name}}"}],
    )
    assert out["progress"]["failed"] == 1 and out["progress"]["sent"] == 4
    failed = env.recipients(out["id"], status="failed")
    assert len(failed) == 1 and failed[0]["error"].startswith("LINE 400")
    assert env.inbox(failed[0]["line_user_id"]) == []


def test_monthly_limit_pauses_the_delivery(start_env):
    env = start_env(friends=8, quota_limit=3)
    delivery = env.create(
        name="over",
        audience={"type": "all"},
        quota_mode="partial",
        messages=[{"type": "text", "text": "{{display_name}}"}],
    )
    # partial: enishi plans 3; LINE's quota then drops under what remains
    assert env.call("POST", f"/deliveries/{delivery['id']}/schedule").status_code == 200
    while plan_deliveries(env.state):  # started and planned: 3 friends chosen at random
        pass
    env.e2e.control("PATCH", "", json={"quota_limit": 1})
    env.e2e.worker.run_until_idle(60)
    out = env.call("GET", f"/deliveries/{delivery['id']}").json()
    assert out["status"] == "paused" and "monthly limit" in out["error"]
    assert out["error_code"] == "line_monthly_limit"
    assert out["progress"]["sent"] == 1 and out["progress"]["queued"] == 2
    env.e2e.control("PATCH", "", json={"quota_limit": 100})
    assert env.call("POST", f"/deliveries/{delivery['id']}/resume").status_code == 200
    out = env.finish(delivery["id"])
    assert out["status"] == "done" and out["progress"]["sent"] == 3
    assert out["error"] is None and out["error_code"] is None  # resumed: cleared
    assert sum(env.received().values()) == 3


def test_scaled_rate_limits_are_never_exceeded(start_env):
    """The emulator enforces LINE's limits × 0.02 (push 40/s, multicast 4/s) and so does the
    dispatcher: no 429 from the limiter, and no slower than the limits need."""
    scale = 0.02
    env = start_env(
        friends=4000, rate_limit_scale=scale, settings={"delivery_rate_limit_scale": scale}
    )
    users = list(env.friends)
    first = env.create(
        name="push",
        audience={"type": "list", "line_user_ids": users[:160]},
        messages=[{"type": "text", "text": "{{display_name}}さん"}],
    )
    second = env.create(
        name="multicast",
        track_links="off",
        audience={"type": "list", "line_user_ids": users[160:]},
        messages=[{"type": "text", "text": "同じ内容"}],
    )
    started = time.monotonic()
    for delivery in (first, second):
        assert env.call("POST", f"/deliveries/{delivery['id']}/schedule").status_code == 200
    for delivery in (first, second):
        env.finish(delivery["id"], timeout=120)
    elapsed = time.monotonic() - started
    counters = env.counters()
    assert counters.get("rate_limited", 0) == 0
    assert counters["push"] == 160 and counters["multicast"] == 8
    exactly_once(env, users)
    # 160 pushes at 40/s after a 20-request burst take 3.5 s; 8 multicasts at 4/s, 2 s
    # (how close to the limits it runs is bench/delivery.py's figure)
    assert elapsed >= 3.3
    assert Counter(e.kind for u in users for e in env.inbox(u)) == {"push": 160, "multicast": 3840}
