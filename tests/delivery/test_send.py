"""End to end against the emulator over HTTP: who receives what, in which arm, how."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from sqlalchemy import insert, select

from enishi.friends.models import AttributeDef, FriendAttribute, FriendTag, Tag
from enishi.segments.models import Segment
from enishi.sending.models import OutboundRequest
from enishi.tracking.models import Click

A_TEXT = "{{display_name|お客様}}さん、セールのご案内です https://shop.example/sale"
B_TEXT = "セール開催中"


def by_user(recipients: list[dict]) -> dict[str, dict]:
    return {r["line_user_id"]: r for r in recipients}


def test_arms_holdout_personalization_and_transport(start_env):
    env = start_env(friends=120)
    out = env.send(
        name="AB",
        audience={"type": "all"},
        holdout_share=0.2,
        seed=42,
        arms=[
            {"name": "A", "share": 0.5, "messages": [{"type": "text", "text": A_TEXT}]},
            {"name": "B", "share": 0.5, "messages": [{"type": "text", "text": B_TEXT}]},
        ],
    )
    assert out["status"] == "done"
    recipients = by_user(env.recipients(out["id"]))
    assert set(recipients) == set(env.friends)  # every following friend is targeted once
    arms = Counter(r["arm"] for r in recipients.values())
    assert 10 <= arms["holdout"] <= 40 and arms["A"] > 20 and arms["B"] > 20
    multicast_ids = set()
    for user_id, recipient in recipients.items():
        inbox = env.inbox(user_id)
        name = env.channel.friends[user_id].display_name
        if recipient["arm"] == "holdout":
            assert inbox == [] and recipient["status"] == "held_out"
            continue
        assert recipient["status"] == "sent" and len(inbox) == 1
        entry = inbox[0]
        assert entry.request_id == recipient["line_request_id"]
        text = entry.messages[0]["text"]
        if recipient["arm"] == "A":  # personalized and tracked per friend: one push each
            assert entry.kind == "push"
            assert text.startswith(f"{name}さん、セールのご案内です http://")
            assert "/c/" in text and "shop.example" not in text
        else:  # identical payloads: multicast
            assert entry.kind == "multicast" and text == B_TEXT
            multicast_ids.add(entry.request_id)
    counters = env.counters()
    assert counters["push"] == arms["A"]
    assert counters["multicast"] == len(multicast_ids) == 1
    progress = out["progress"]
    assert progress == {
        "targeted": 120,
        "queued": 0,
        "sent": arms["A"] + arms["B"],
        "failed": 0,
        "cancelled": 0,
        "held_out": arms["holdout"],
        "skipped": 0,
    }


def test_same_seed_assigns_the_same_arms(start_env):
    env = start_env(friends=60)
    body = {
        "audience": {"type": "all"},
        "holdout_share": 0.3,
        "seed": 5,
        "track_links": "off",
        "arms": [
            {"messages": [{"type": "text", "text": "a"}]},
            {"messages": [{"type": "text", "text": "b"}]},
        ],
    }
    first = env.send(name="one", **body)
    second = env.send(name="two", **body)
    arms_of = [{r["friend_id"]: r["arm"] for r in env.recipients(d["id"])} for d in (first, second)]
    assert arms_of[0] == arms_of[1]


def test_multicast_batches_of_at_most_500(start_env):
    env = start_env(friends=1200)
    out = env.send(
        name="big",
        audience={"type": "all"},
        track_links="off",
        messages=[{"type": "text", "text": "全員に同じメッセージ"}],
    )
    with env.state.sessions() as session:
        sizes = sorted(
            len(p["to"])
            for p in session.scalars(
                select(OutboundRequest.payload).where(OutboundRequest.source_id == out["id"])
            )
        )
    assert sizes == [200, 500, 500]
    assert env.counters()["multicast"] == 3 and "push" not in env.counters()
    assert env.received() == Counter(dict.fromkeys(env.friends, 1))


def test_attributes_member_ids_and_defaults(start_env):
    env = start_env(friends=20, member_every=2)
    with env.state.sessions.begin() as session:
        city = AttributeDef(account_id=env.e2e.account_id, key="city", label="都市", type="text")
        session.add(city)
        session.flush()
        some = sorted(env.friends.values())[:5]
        session.execute(
            insert(FriendAttribute),
            [
                {
                    "friend_id": fid,
                    "attribute_def_id": city.id,
                    "value_text": f"市{fid}",
                    "updated_at": datetime.now(UTC),
                }
                for fid in some
            ],
        )
    text = "{{display_name}} / {{member_id|未連携}} / {{attr.city|どこか}}"
    out = env.send(name="vars", audience={"type": "all"}, messages=[{"type": "text", "text": text}])
    assert out["progress"]["sent"] == 20
    members = {r["line_user_id"]: r for r in env.recipients(out["id"])}
    with env.state.sessions() as session:
        from enishi.friends.models import Friend

        rows = session.execute(
            select(Friend.id, Friend.line_user_id, Friend.member_id, Friend.display_name)
        ).all()
    for fid, user_id, member, name in rows:
        expected = f"{name} / {member or '未連携'} / {f'市{fid}' if fid in some else 'どこか'}"
        assert [e.messages[0]["text"] for e in env.inbox(user_id)] == [expected]
        assert members[user_id]["status"] == "sent"


def test_segment_list_and_test_send_audiences(start_env):
    env = start_env(friends=30, member_every=3)
    users = sorted(env.friends, key=env.friends.get)
    with env.state.sessions.begin() as session:
        tag = Tag(account_id=env.e2e.account_id, name="VIP")
        session.add(tag)
        session.flush()
        session.execute(
            insert(FriendTag),
            [
                {"friend_id": env.friends[u], "tag_id": tag.id, "tagged_at": datetime.now(UTC)}
                for u in users[:7]
            ],
        )
        segment = Segment(
            account_id=env.e2e.account_id,
            name="VIP",
            definition={"version": 1, "where": {"tags": {"any": ["VIP"]}}},
        )
        session.add(segment)
        session.flush()
        segment_id = segment.id
    message = [{"type": "text", "text": "VIP限定"}]
    out = env.send(
        name="seg", audience={"type": "segment", "segment_id": segment_id}, messages=message
    )
    assert {u for u, n in env.received().items() if n} == set(users[:7])
    assert out["audience_count"] == 7

    listed = users[10:14] + ["U" + "0" * 32]
    delivery = env.create(
        name="list", messages=message, audience={"type": "list", "line_user_ids": listed}
    )
    assert delivery["audience"]["matched"] == 4
    with env.state.sessions() as session:
        from enishi.friends.models import Friend

        member_users = dict(
            session.execute(
                select(Friend.member_id, Friend.line_user_id).where(Friend.member_id.is_not(None))
            ).all()
        )
    members = sorted(member_users)[:2]
    response = env.call("POST", f"/deliveries/{delivery['id']}/list", json={"member_ids": members})
    assert response.status_code == 422  # one list holds one kind of ID
    added = env.call(
        "POST",
        f"/deliveries/{delivery['id']}/list",
        json={"line_user_ids": [member_users[m] for m in members]},
    ).json()
    assert added == {"uploaded": 2, "matched": 2, "unmatched": 0, "unmatched_sample": []}
    env.call("POST", f"/deliveries/{delivery['id']}/schedule")
    env.finish(delivery["id"])
    expected_list = set(users[10:14]) | {member_users[m] for m in members}
    got = {u for u, n in env.received().items() if n} - set(users[:7])
    assert got == expected_list - set(users[:7])

    before = env.received()
    test = env.send(
        name="test",
        audience={"type": "friend", "line_user_id": users[-1], "arm": "B"},
        holdout_share=0.9,
        arms=[
            {"name": "A", "messages": [{"type": "text", "text": "A案"}]},
            {"name": "B", "messages": [{"type": "text", "text": "B案"}]},
        ],
    )
    assert test["progress"]["sent"] == 1  # a test send is never held out
    assert env.received() - before == Counter({users[-1]: 1})
    assert env.inbox(users[-1])[-1].messages[0]["text"] == "B案"


def test_tracked_links_lead_back_to_the_delivery(start_env):
    env = start_env(friends=6)
    out = env.send(
        name="links",
        audience={"type": "all"},
        messages=[{"type": "text", "text": "見てね https://shop.example/item/1"}],
    )
    user = next(iter(env.friends))
    url = env.inbox(user)[0].messages[0]["text"].split(" ")[1]
    env.e2e.act(user, "open_link", url=url)
    with env.state.sessions() as session:
        clicks = session.execute(select(Click.friend_id, Click.delivery_id)).all()
    assert clicks == [(env.friends[user], out["id"])]


def test_blocked_friends_are_never_targeted(start_env):
    env = start_env(friends=10)
    user = next(iter(env.friends))
    env.e2e.act(user, "block")
    env.e2e.settle()
    out = env.send(
        name="after block", audience={"type": "all"}, messages=[{"type": "text", "text": "hi"}]
    )
    assert out["audience_count"] == 9 and user not in env.received()
