"""GET /api/v1/deliveries/compare: seed 000's experiment — the same message to "clicked
within 50 days" and to "51+ days" as two segments — and two arms of one delivery."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from enishi.delivery.stats import Sample, mean_difference, proportion_difference
from tests.delivery.report_helpers import buy, click, tracked_url

MESSAGE = [{"type": "text", "text": "新作のご案内 https://shop.example/new"}]
D = timedelta(days=1)


def segment(env, name: str, where: dict) -> int:
    response = env.call(
        "POST", "/segments", json={"name": name, "definition": {"version": 1, "where": where}}
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


def test_seed_000_recent_clickers_vs_the_rest(start_env):
    env = start_env(friends=120)
    now = datetime.now(UTC)
    users = sorted(env.friends, key=env.friends.get)
    recent, lapsed = users[:40], users[40:80]  # the last 40 never clicked
    link = env.call("POST", "/links", json={"url": "https://shop.example/old"}).json()
    for group, ago in ((recent, 10 * D), (lapsed, 80 * D)):
        for user in group:
            path = f"/links/{link['id']}/tracked-url"
            url = env.call("GET", path, params={"line_user_id": user}).json()["url"]
            click(url, now - ago)
    active = segment(env, "クリック50日以内", {"clicked": {"within_days": 50}})
    inactive = segment(env, "クリック51日以上", {"clicked": {"not_within_days": 50}})
    a = env.send(
        name="50日以内", audience={"type": "segment", "segment_id": active}, messages=MESSAGE
    )
    b = env.send(
        name="51日以上", audience={"type": "segment", "segment_id": inactive}, messages=MESSAGE
    )
    assert (a["progress"]["sent"], b["progress"]["sent"]) == (40, 80)
    b_users = users[40:]

    clickers = {"a": recent[:20], "b": b_users[:8]}
    for user in clickers["a"] + clickers["b"]:
        click(tracked_url(env, user))
    buyers = {"a": [(u, 5000) for u in recent[:12]], "b": [(u, 3000) for u in b_users[:3]]}
    buy(env, [(u, amount, now + timedelta(minutes=5)) for u, amount in buyers["a"] + buyers["b"]])

    response = env.call("GET", "/deliveries/compare", params={"a": a["id"], "b": b["id"]})
    assert response.status_code == 200, response.text
    body = response.json()
    ga, gb = body["a"]["group"], body["b"]["group"]
    assert body["a"]["delivery_name"] == "50日以内" and body["b"]["arm"] is None
    assert (ga["sent"], ga["unique_clicks"], ga["converters"], ga["revenue_jpy"]) == (
        40,
        20,
        12,
        60000,
    )
    assert (gb["sent"], gb["unique_clicks"], gb["converters"], gb["revenue_jpy"]) == (
        80,
        8,
        3,
        9000,
    )
    assert ga["roas"] == 60000 / (40 * 3.0) and gb["roas"] == 9000 / (80 * 3.0)
    assert body["overlap_friends"] == 0

    ctr = proportion_difference(20, 40, 8, 80)
    cvr = proportion_difference(12, 40, 3, 80)
    revenue = mean_difference(Sample(40, 60000, 12 * 5000.0**2), Sample(80, 9000, 3 * 3000.0**2))
    for got, want in ((body["ctr_diff"], ctr), (body["cvr_diff"], cvr)):
        assert (got["estimate"], got["ci_low"], got["ci_high"]) == (
            want.estimate,
            want.low,
            want.high,
        )
        assert got["significant"] and got["method"] == "newcombe"
    got = body["revenue_per_recipient_diff"]
    assert got["estimate"] == revenue.estimate == 60000 / 40 - 9000 / 80
    assert abs(got["ci_low"] - revenue.low) < 1e-9 and abs(got["df"] - revenue.df) < 1e-9
    assert got["significant"] and body["status"] == "ok" and body["conclusive"]
    assert "CTR" in body["message"] and "CVR" in body["message"]

    # the other way round: the signs flip
    back = env.call("GET", "/deliveries/compare", params={"a": b["id"], "b": a["id"]}).json()
    assert back["ctr_diff"]["estimate"] == -ctr.estimate


def test_two_arms_of_one_delivery_and_bad_requests(start_env):
    env = start_env(friends=60)
    out = env.send(
        name="AB",
        audience={"type": "all"},
        holdout_share=0.2,
        seed=9,
        arms=[
            {"name": "A", "messages": MESSAGE},
            {"name": "B", "messages": [{"type": "text", "text": "別の案 https://shop.example/b"}]},
        ],
    )
    recipients = env.recipients(out["id"])
    arm = {name: [r["line_user_id"] for r in recipients if r["arm"] == name] for name in "AB"}
    for user in arm["A"][:5] + arm["B"][:2]:
        click(tracked_url(env, user))
    params = {"a": out["id"], "a_arm": "A", "b": out["id"], "b_arm": "B"}
    body = env.call("GET", "/deliveries/compare", params=params).json()
    assert body["a"]["group"]["sent"] == len(arm["A"]) and body["a"]["arm"] == "A"
    assert body["b"]["group"]["unique_clicks"] == 2 and body["overlap_friends"] == 0
    want = proportion_difference(5, len(arm["A"]), 2, len(arm["B"]))
    assert body["ctr_diff"]["ci_low"] == want.low
    assert body["status"] == "too_small" and not body["conclusive"]  # nobody bought
    assert body["cvr_diff"]["estimate"] == 0 and not body["cvr_diff"]["significant"]

    # the same delivery against itself as a whole overlaps entirely
    whole = env.call(
        "GET", "/deliveries/compare", params={"a": out["id"], "a_arm": "A", "b": out["id"]}
    )
    assert whole.json()["overlap_friends"] == len(arm["A"]) and not whole.json()["conclusive"]

    for params, status, field in (
        ({"a": out["id"], "a_arm": "C", "b": out["id"]}, 422, "a_arm"),
        ({"a": out["id"], "b": out["id"], "b_arm": "holdout"}, 422, "b_arm"),
        ({"a": out["id"], "b": out["id"]}, 422, "b"),
        ({"a": out["id"], "b": 999999}, 404, "b"),
        ({"a": out["id"]}, 422, "b"),
    ):
        response = env.call("GET", "/deliveries/compare", params=params)
        assert response.status_code == status, response.text
        assert response.json()["error"]["field"] == field
