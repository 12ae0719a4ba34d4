"""GET /api/v1/deliveries/{id}/report: per-arm figures and the holdout comparison, from
deliveries sent to the emulator, clicks on the tracked URLs and orders posted to the API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from enishi.accounts.models import Account
from enishi.delivery.planner import plan_deliveries
from enishi.delivery.stats import Sample, mean_difference, proportion_difference
from enishi.sending.models import OutboundRequest
from tests.delivery.report_helpers import (
    arm_of,
    block,
    buy,
    click,
    report,
    shift_back,
    tracked_url,
)

A_TEXT = "{{display_name}}さん、セールです https://shop.example/a"
B_TEXT = "セール開催中 https://shop.example/b"
H = timedelta(hours=1)
D = timedelta(days=1)


def assert_interval(estimate: dict, interval) -> None:
    assert estimate["estimate"] == interval.estimate
    assert estimate["ci_low"] == interval.low and estimate["ci_high"] == interval.high
    assert estimate["significant"] == interval.significant


def test_report_per_arm_holdout_and_both_attributions(start_env):
    env = start_env(friends=80)
    env.faults({"push": {"force_status": 400, "force_count": 1}})  # one recipient fails
    out = env.send(
        name="AB",
        audience={"type": "all"},
        holdout_share=0.25,
        seed=11,
        arms=[
            {"name": "A", "messages": [{"type": "text", "text": A_TEXT}]},
            {"name": "B", "messages": [{"type": "text", "text": B_TEXT}]},
        ],
    )
    recipients = env.recipients(out["id"])
    users = {arm: [r for r in recipients if r["arm"] == arm] for arm in ("A", "B", "holdout")}
    sent = {
        arm: [r["line_user_id"] for r in rs if r["status"] == "sent"] for arm, rs in users.items()
    }
    failed = [r for r in recipients if r["status"] == "failed"]
    assert len(failed) == 1 and len(sent["A"]) >= 15 and len(sent["B"]) >= 15
    t0 = shift_back(env, out["id"], 10 * D)  # sent 10 days ago: the 7-day window is over

    a_clickers, b_clickers = sent["A"][:10], sent["B"][:6]
    for user in a_clickers + b_clickers:
        click(tracked_url(env, user), t0 + H)
    click(tracked_url(env, a_clickers[0]), t0 + 2 * H)  # a second click: not a new clicker
    late = sent["A"][-1]  # clicks and buys on day 8: click-attributed, outside the window
    click(tracked_url(env, late), t0 + 7 * D + 12 * H)
    with env.api() as api:
        link = api.get("/api/v1/links", params={"delivery_id": out["id"]}).json()["items"][0]
    click(link["tracked_url"])  # a friend-less (multicast-style) click

    holdout = [r["line_user_id"] for r in users["holdout"]]
    orders = [(u, 1000 * (i + 1), t0 + 2 * H) for i, u in enumerate(a_clickers[:4])]
    orders += [(u, 3000, t0 + 3 * H) for u in b_clickers[:2]]
    orders += [(late, 7000, t0 + 7 * D + 13 * H)]
    orders += [(u, 500, t0 + 5 * H) for u in holdout[:3]]  # held out, bought anyway
    orders += [(sent["A"][12], 800, t0 + D)]  # in the window, never clicked
    orders += [(sent["B"][10], 900, t0 - H)]  # before the send: counted nowhere
    orders += [(failed[0]["line_user_id"], 600, t0 + 4 * H)]  # intent to treat
    orders += [(a_clickers[1], 400, t0 + 6 * H)]  # a second order of one buyer
    buy(env, orders)

    friend = env.friends
    block(env, friend[sent["A"][5]], t0 + H)  # within 48 h of the send
    block(env, friend[sent["B"][5]], t0 + 49 * H)  # too late to count
    block(env, friend[holdout[-1]], t0 + 2 * H)  # the holdout's baseline

    body = report(env, out["id"])
    assert body["final"] and body["track_links"] == "friend"
    assert body["cost_per_message_jpy"] == 3.0 and body["attribution_window_days"] == 7
    a, b, h, total = arm_of(body, "A"), arm_of(body, "B"), body["holdout"], body["totals"]
    n = {arm: len(users[arm]) for arm in users}
    failed_arm = failed[0]["arm"]
    for group, arm in ((a, "A"), (b, "B")):
        assert group["targeted"] == n[arm] and group["sent"] == len(sent[arm])
        assert group["failed"] == (1 if arm == failed_arm else 0)
        assert group["cost_jpy"] == 3.0 * len(sent[arm])
    reasons = arm_of(body, failed_arm)["failed_by_reason"]
    assert len(reasons) == 1 and reasons[0]["count"] == 1
    assert reasons[0]["reason"] == failed[0]["error"] and reasons[0]["reason"].startswith(
        "LINE 400"
    )
    assert (h["targeted"], h["held_out"], h["sent"]) == (n["holdout"], n["holdout"], 0)
    assert total["targeted"] == 80 and total["held_out"] == n["holdout"]
    assert total["sent"] == len(sent["A"]) + len(sent["B"])

    assert (a["clicks"], a["unique_clicks"]) == (12, 11)
    assert (b["clicks"], b["unique_clicks"]) == (6, 6)
    assert a["ctr"] == 11 / len(sent["A"]) and body["anonymous_clicks"] == 1
    assert (total["clicks"], total["unique_clicks"]) == (18, 17)

    a_revenue = 1000 + 2000 + 3000 + 4000 + 7000 + 400
    assert (a["conversions"], a["converters"], a["revenue_jpy"]) == (6, 5, a_revenue)
    assert (b["conversions"], b["converters"], b["revenue_jpy"]) == (2, 2, 6000)
    assert a["cvr"] == 5 / len(sent["A"])
    assert a["roas"] == a_revenue / (3.0 * len(sent["A"]))
    assert total["revenue_jpy"] == a_revenue + 6000 and h["revenue_jpy"] == 0
    assert (a["blocks_48h"], b["blocks_48h"], h["blocks_48h"]) == (1, 0, 1)
    assert total["blocks_48h"] == 1 and h["block_rate"] == 1 / n["holdout"]

    cmp = body["holdout_comparison"]
    assert cmp["window_closed"] and cmp["arm"] == "total"
    assert cmp["window_start"].startswith(t0.replace(microsecond=0).isoformat()[:19])
    treated_n = n["A"] + n["B"]
    # in the window: A's 4 + the second order, B's 2, the never-clicked one, the failed one
    treated_revenue: dict[str, int] = {}
    start = t0.replace(microsecond=0)
    for user, amount, at in orders:
        if start <= at < start + 7 * D and user not in holdout:
            treated_revenue[user] = treated_revenue.get(user, 0) + amount
    assert cmp["treated"] == {
        "friends": treated_n,
        "converters": len(treated_revenue),
        "conversions": 9,
        "revenue_jpy": sum(treated_revenue.values()),
        "conversion_rate": len(treated_revenue) / treated_n,
        "revenue_per_friend": sum(treated_revenue.values()) / treated_n,
    }
    assert cmp["holdout"]["converters"] == 3 and cmp["holdout"]["revenue_jpy"] == 1500
    rate = proportion_difference(len(treated_revenue), treated_n, 3, n["holdout"])
    assert_interval(cmp["conversion_rate_diff"], rate)
    revenue = mean_difference(
        Sample(
            treated_n,
            sum(treated_revenue.values()),
            float(sum(v * v for v in treated_revenue.values())),
        ),
        Sample(n["holdout"], 1500, 3 * 500.0**2),
    )
    assert cmp["revenue_per_friend_diff"]["estimate"] == revenue.estimate
    assert abs(cmp["revenue_per_friend_diff"]["ci_low"] - revenue.low) < 1e-6
    assert abs(cmp["incremental_revenue_jpy"]["estimate"] - revenue.estimate * treated_n) < 1e-6
    cost = 3.0 * total["sent"]
    assert cmp["cost_jpy"] == cost
    assert abs(cmp["incremental_roas"]["ci_high"] - revenue.high * treated_n / cost) < 1e-9
    # some 20 held-out friends and a dozen buyers: say so, rather than conclude
    assert cmp["status"] == "too_small" and not cmp["conclusive"]
    assert "ホールドアウトが" in cmp["message"] and "少なすぎ" in cmp["message"]
    by_arm = {c["arm"]: c for c in body["holdout_comparison_by_arm"]}
    assert set(by_arm) == {"A", "B"} and by_arm["B"]["treated"]["friends"] == n["B"]


def test_holdout_comparison_finds_a_real_effect_and_waits_for_the_window(start_env):
    env = start_env(friends=300)
    out = env.send(
        name="lift",
        audience={"type": "all"},
        holdout_share=0.5,
        seed=3,
        track_links="off",
        messages=[{"type": "text", "text": "週末セール"}],
    )
    recipients = env.recipients(out["id"])
    treated = [r["line_user_id"] for r in recipients if r["arm"] != "holdout"]
    holdout = [r["line_user_id"] for r in recipients if r["arm"] == "holdout"]
    assert len(treated) > 100 and len(holdout) > 100
    t0 = shift_back(env, out["id"], 10 * D)
    orders = [(u, 2000, t0 + 6 * H) for u in treated[:60]]
    orders += [(u, 2000, t0 + 6 * H) for u in holdout[:6]]
    buy(env, orders)

    cmp = report(env, out["id"])["holdout_comparison"]
    assert cmp["status"] == "ok" and cmp["window_closed"] and cmp["conclusive"]
    rate = proportion_difference(60, len(treated), 6, len(holdout))
    assert_interval(cmp["conversion_rate_diff"], rate)
    assert rate.significant and cmp["conversion_rate_diff"]["significant"]
    assert cmp["revenue_per_friend_diff"]["significant"]
    assert cmp["revenue_per_friend_diff"]["ci_low"] > 0
    expected = (60 * 2000 / len(treated) - 6 * 2000 / len(holdout)) * len(treated)
    assert abs(cmp["incremental_revenue_jpy"]["estimate"] - expected) < 1e-6
    assert abs(cmp["incremental_conversions"]["estimate"] - rate.estimate * len(treated)) < 1e-9
    assert abs(cmp["incremental_roas"]["estimate"] - expected / (3.0 * len(treated))) < 1e-9
    assert "有意です" in cmp["message"]
    assert report(env, out["id"])["holdout_comparison_by_arm"] == []  # one arm: the total

    with env.state.sessions.begin() as session:  # a 30-day window is not over yet
        session.execute(update(Account).values(attribution_window_days=30))
    cmp = report(env, out["id"])["holdout_comparison"]
    assert cmp["status"] == "ok" and not cmp["window_closed"] and not cmp["conclusive"]
    assert "暫定値" in cmp["message"]

    plain = env.send(
        name="no holdout",
        audience={"type": "all"},
        track_links="off",
        messages=[{"type": "text", "text": "hi"}],
    )
    body = report(env, plain["id"])
    assert body["holdout"] is None
    assert body["holdout_comparison"]["status"] == "no_holdout"
    assert body["holdout_comparison"]["conversion_rate_diff"] is None
    assert body["totals"]["ctr"] == 0 and body["totals"]["sent"] == 300


def test_report_of_a_draft_and_of_another_account(start_env):
    env = start_env(friends=3)
    draft = env.create(
        name="draft", audience={"type": "all"}, messages=[{"type": "text", "text": "x"}]
    )
    body = report(env, draft["id"])
    assert body["totals"]["targeted"] == 0 and body["started_at"] is None
    assert body["holdout_comparison"]["status"] == "not_started"
    assert body["totals"]["roas"] is None and body["totals"]["ctr"] is None
    missing = env.call("GET", "/deliveries/999999/report")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_outcomes_are_exact_before_they_are_recorded(start_env):
    """Planned but not yet recorded: recipients read `queued`, and take their request's
    outcome as soon as the dispatcher has one."""
    env = start_env(friends=40)
    delivery = env.create(
        name="途中",
        audience={"type": "all"},
        holdout_share=0.25,
        seed=5,
        messages=[{"type": "text", "text": "{{display_name}}さん"}],  # a push each
    )
    assert env.call("POST", f"/deliveries/{delivery['id']}/schedule").status_code == 200
    while plan_deliveries(env.state):
        pass
    body = report(env, delivery["id"])
    held_out = body["totals"]["held_out"]
    assert body["totals"]["queued"] == 40 - held_out and body["totals"]["sent"] == 0
    assert not body["final"] and body["holdout"]["held_out"] == held_out
    with env.state.sessions.begin() as session:  # what the dispatcher writes, unrecorded
        first, second, *_ = session.scalars(
            select(OutboundRequest).where(OutboundRequest.source_id == delivery["id"])
        )
        first.status, first.sent_at = "sent", datetime.now(UTC)
        second.status, second.error = "failed", "LINE 400: The user hasn't added the LINE OA"
    body = report(env, delivery["id"])
    total = body["totals"]
    assert (total["queued"], total["sent"], total["failed"]) == (40 - held_out - 2, 1, 1)
    assert total["failed_by_reason"] == [
        {"reason": "LINE 400: The user hasn't added the LINE OA", "count": 1}
    ]
    assert total["cost_jpy"] == 3.0
