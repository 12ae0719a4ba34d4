"""End to end against the emulator: a delivery with a holdout and two arms is sent, virtual
friends open the tracked links in their inboxes, buy (the emulator's shop reports each
order to /api/v1/conversions) and block; the report equals the ground truth read from the
emulator's inboxes and orders."""

from __future__ import annotations

from collections import Counter, defaultdict

from tests.delivery.report_helpers import TRACKED, arm_of, report

A_TEXT = "{{display_name}}さん、秋の新作です https://shop.example/autumn"
B_TEXT = "秋の新作が入荷しました https://shop.example/autumn?b"


def test_report_equals_the_emulators_ground_truth(start_env):
    # the emulator's clock runs with the wall clock (tests freeze it by default), so its
    # friends click, buy and block after the send as enishi's clock sees it
    env = start_env(friends=150, speed=1.0)
    env.e2e.control(
        "PATCH",
        "",
        json={
            "shop_callback_url": f"{env.e2e.base_url}/api/v1/conversions",
            "shop_callback_headers": env.e2e.headers,
        },
    )
    out = env.send(
        name="秋の新作",
        audience={"type": "all"},
        holdout_share=0.2,
        seed=2026,
        arms=[
            {"name": "A", "messages": [{"type": "text", "text": A_TEXT}]},
            {"name": "B", "messages": [{"type": "text", "text": B_TEXT}]},
        ],
    )
    # ground truth 1: who received which arm, from the emulator's inboxes
    arm_of_user: dict[str, str] = {}
    for user in env.friends:
        inbox = env.inbox(user)
        if not inbox:
            arm_of_user[user] = "holdout"
            continue
        (entry,) = inbox
        text = entry.messages[0]["text"]
        arm_of_user[user] = "B" if text.startswith("秋の新作が入荷") else "A"
    members = defaultdict(list)
    for user in sorted(arm_of_user):
        members[arm_of_user[user]].append(user)
    assert len(members["holdout"]) >= 15 and len(members["A"]) >= 30 and len(members["B"]) >= 30

    # the friends act: every third opens the link (some twice), some of those buy,
    # some buy without clicking, held-out friends buy too, and a few block
    clicks: Counter[str] = Counter()
    for arm in ("A", "B"):
        for i, user in enumerate(members[arm][::3]):
            url = TRACKED.search(env.inbox(user)[0].messages[0]["text"]).group(0)
            for _ in range(2 if i % 4 == 0 else 1):
                opened = env.e2e.act(user, "open_link", url=url)
                assert opened["chain"][0]["status"] == 302
                clicks[user] += 1
    buyers = list(clicks)[::2]
    walk_ins = [u for arm in ("A", "B") for u in members[arm][1::3][:4]]  # never clicked
    held_out_buyers = members["holdout"][:5]
    for n, user in enumerate(buyers + walk_ins + held_out_buyers):
        env.e2e.act(user, "purchase", amount=1000 + 250 * n)
    blockers = [members["A"][2], members["B"][2], members["holdout"][-1]]
    for user in blockers:
        env.e2e.act(user, "block")
    env.e2e.settle()

    # ground truth 2: the orders the emulator's shop recorded (and reported to enishi)
    orders = [o for o in env.channel.orders if o["callback"] == "ok"]
    assert len(orders) == len(buyers) + len(walk_ins) + len(held_out_buyers)
    spent = Counter()
    for order in orders:
        spent[order["line_user_id"]] += order["amount"]

    body = report(env, out["id"])
    assert body["final"] and body["totals"]["targeted"] == 150
    for arm in ("A", "B"):
        group, people = arm_of(body, arm), members[arm]
        clickers = [u for u in people if clicks[u]]
        attributed = [u for u in clickers if u in spent]
        assert group["targeted"] == group["sent"] == len(people)
        assert group["failed"] == 0 and group["held_out"] == 0
        assert group["clicks"] == sum(clicks[u] for u in people)
        assert group["unique_clicks"] == len(clickers)
        assert group["conversions"] == group["converters"] == len(attributed)
        assert group["revenue_jpy"] == sum(spent[u] for u in attributed)
        assert group["cost_jpy"] == 3.0 * len(people)
        assert group["roas"] == group["revenue_jpy"] / (3.0 * len(people))
        assert group["blocks_48h"] == sum(1 for u in blockers if u in people)
    holdout = body["holdout"]
    assert holdout["held_out"] == len(members["holdout"]) and holdout["sent"] == 0
    assert holdout["blocks_48h"] == 1 and holdout["revenue_jpy"] == 0
    assert body["anonymous_clicks"] == 0

    cmp = body["holdout_comparison"]
    treated = members["A"] + members["B"]
    assert cmp["treated"]["friends"] == len(treated)
    assert cmp["treated"]["converters"] == sum(1 for u in treated if u in spent)
    assert cmp["treated"]["revenue_jpy"] == sum(spent[u] for u in treated)
    assert cmp["holdout"]["friends"] == len(members["holdout"])
    assert cmp["holdout"]["converters"] == len(held_out_buyers)
    assert cmp["holdout"]["revenue_jpy"] == sum(spent[u] for u in held_out_buyers)
    assert not cmp["window_closed"] and not cmp["conclusive"]  # sent seconds ago
    assert cmp["conversion_rate_diff"]["method"] == "newcombe"
    by_arm = {c["arm"]: c for c in body["holdout_comparison_by_arm"]}
    assert by_arm["A"]["treated"]["revenue_jpy"] == sum(spent[u] for u in members["A"])
