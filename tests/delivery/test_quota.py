"""The monthly quota: refused with a clear message, or a random part within the quota."""

from __future__ import annotations

from sqlalchemy import update

from enishi.accounts.models import Account
from enishi.delivery.planner import plan_deliveries

MESSAGE = [{"type": "text", "text": "お知らせ"}]


def test_refused_when_over_the_quota(start_env):
    env = start_env(friends=30, quota_limit=20)
    delivery = env.create(name="too many", audience={"type": "all"}, messages=MESSAGE)
    response = env.call("POST", f"/deliveries/{delivery['id']}/schedule")
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "quota_exceeded" and error["field"] == "quota_mode"
    assert "30" in error["message"] and "20" in error["message"]
    assert env.status(delivery["id"]) == "draft" and not env.received()


def test_refused_at_start_when_the_quota_shrank(start_env):
    env = start_env(friends=30)
    delivery = env.create(name="shrunk", audience={"type": "all"}, messages=MESSAGE)
    assert env.call("POST", f"/deliveries/{delivery['id']}/schedule").status_code == 200
    with env.state.sessions.begin() as session:  # the plan's own limit is lowered meanwhile
        session.execute(update(Account).values(monthly_quota=10))
    out = env.finish(delivery["id"])
    assert out["status"] == "failed" and "10" in out["error"] and "30" in out["error"]
    assert out["error_code"] == "quota_exceeded"
    assert not env.received()


def test_partial_sends_to_a_random_part_within_the_quota(start_env):
    env = start_env(friends=60, quota_limit=25)
    first = env.send(
        name="partial",
        audience={"type": "all"},
        quota_mode="partial",
        holdout_share=0.2,
        seed=3,
        messages=MESSAGE,
    )
    progress = first["progress"]
    assert progress["sent"] == 25 and sum(env.received().values()) == 25
    assert progress["held_out"] + progress["skipped"] + 25 == 60
    skipped = env.recipients(first["id"], status="skipped")
    assert skipped and all(r["error"] == "quota" for r in skipped)
    sent_ids = sorted(r["friend_id"] for r in env.recipients(first["id"], status="sent"))
    assert sent_ids != sorted(env.friends.values())[:25]  # random, not the first 25

    quota = env.call("GET", "/quota").json()
    assert quota["limit"] == 25 and quota["used"] == 25 and quota["remaining"] == 0
    assert quota["line_type"] == "limited" and quota["enishi_sent"] == 25


def test_running_deliveries_hold_their_quota(start_env):
    env = start_env(friends=40, quota_limit=50)
    first = env.create(name="first", audience={"type": "all"}, messages=MESSAGE)
    assert env.call("POST", f"/deliveries/{first['id']}/schedule").status_code == 200
    while plan_deliveries(env.state):  # planned, nothing sent yet
        pass
    quota = env.call("GET", "/quota").json()
    assert quota["reserved"] == 40 and quota["remaining"] == 10
    second = env.create(name="second", audience={"type": "all"}, messages=MESSAGE)
    response = env.call("POST", f"/deliveries/{second['id']}/schedule")
    assert response.status_code == 409 and "40" in response.json()["error"]["message"]
