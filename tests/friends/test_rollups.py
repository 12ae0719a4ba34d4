"""Rollups rebuilt from clicks, conversions and messages, checked against a computation in
plain Python."""

from __future__ import annotations

import random
from datetime import timedelta

from sqlalchemy import select

from enishi.accounts.service import create_account
from enishi.friends.models import Friend, FriendActivity
from enishi.friends.rollups import check_rollups, rebuild_rollups
from enishi.tracking.models import Click, Conversion, Link
from tests.friends.conftest import T0, make_friend

FIELDS = (
    "last_click_at",
    "click_count",
    "last_purchase_at",
    "purchase_count",
    "revenue_jpy",
    "last_message_at",
)


def _world(state, account_id, other_id, n=60, seed=3):
    """Friends with random clicks, purchases, messages (and other activity); some have none.
    Another account's events share nothing. The independent truth, per friend id."""
    rng = random.Random(seed)
    truth = {}
    with state.sessions.begin() as session:
        link = Link(account_id=account_id, url="https://x.example/")
        session.add(link)
        session.flush()
        for i in range(n):
            friend = make_friend(session, account_id, i + 1)
            clicks = [
                T0 + timedelta(seconds=rng.randrange(10**6))
                for _ in range(rng.choice([0, 0, 1, 3, 8]))
            ]
            buys = [
                (T0 + timedelta(seconds=rng.randrange(10**6)), rng.randrange(100, 90_000))
                for _ in range(rng.choice([0, 0, 1, 2]))
            ]
            messages = [
                T0 + timedelta(seconds=rng.randrange(10**6)) for _ in range(rng.choice([0, 1, 4]))
            ]
            session.add_all(
                Click(account_id=account_id, link_id=link.id, friend_id=friend.id, clicked_at=at)
                for at in clicks
            )
            session.add_all(
                Conversion(
                    account_id=account_id,
                    order_id=f"o{i}-{j}",
                    friend_id=friend.id,
                    amount_jpy=amount,
                    occurred_at=at,
                )
                for j, (at, amount) in enumerate(buys)
            )
            session.add_all(
                FriendActivity(
                    account_id=account_id, friend_id=friend.id, kind="message", at=at, data={}
                )
                for at in messages
            )
            # other activity never counts as a message, however recent
            session.add(
                FriendActivity(
                    account_id=account_id,
                    friend_id=friend.id,
                    kind="postback",
                    at=T0 + timedelta(days=90),
                    data={},
                )
            )
            truth[friend.id] = {
                "last_click_at": max(clicks, default=None),
                "click_count": len(clicks),
                "last_purchase_at": max((at for at, _ in buys), default=None),
                "purchase_count": len(buys),
                "revenue_jpy": sum(a for _, a in buys),
                "last_message_at": max(messages, default=None),
            }
        # an unattributed conversion (no friend) and another account's friend
        session.add(
            Conversion(account_id=account_id, order_id="nobody", amount_jpy=5, occurred_at=T0)
        )
        stranger = make_friend(session, other_id, 999, click_count=42)
        session.add(
            Conversion(
                account_id=other_id,
                order_id="theirs",
                friend_id=stranger.id,
                amount_jpy=7,
                occurred_at=T0,
            )
        )
    return truth


def _stored(state, account_id):
    with state.sessions() as session:
        return {
            f.id: {k: getattr(f, k) for k in FIELDS}
            for f in session.scalars(select(Friend).where(Friend.account_id == account_id))
        }


def _corrupt(state, account_id, rng):
    with state.sessions.begin() as session:
        for friend in session.scalars(select(Friend).where(Friend.account_id == account_id)):
            choice = rng.randrange(4)
            if choice == 0:
                friend.click_count, friend.last_click_at = 999, T0 - timedelta(days=1)
            elif choice == 1:
                friend.revenue_jpy, friend.purchase_count = -1, 0
                friend.last_purchase_at = None
            elif choice == 2:
                friend.last_message_at = T0 + timedelta(days=400)


def test_rebuild_matches_an_independent_computation(client, state, api_account):
    with state.sessions.begin() as session:
        other = create_account(
            session,
            state.box,
            name="他店",
            channel_id="2000000002",
            channel_secret="s" * 32,
            access_token="t",
        ).id
    truth = _world(state, api_account.id, other)
    rng = random.Random(11)
    _corrupt(state, api_account.id, rng)
    with state.sessions() as session:
        mismatches = check_rollups(session, api_account.id)
    stored = _stored(state, api_account.id)
    wrong = {(fid, k) for fid in truth for k in FIELDS if stored[fid][k] != truth[fid][k]}
    assert wrong, "the corruption must have broken something"
    assert {(m.friend_id, m.field) for m in mismatches} == wrong
    for m in mismatches:
        assert m.expected == truth[m.friend_id][m.field]
        assert m.stored == stored[m.friend_id][m.field]

    with state.sessions.begin() as session:
        changed = rebuild_rollups(session, api_account.id)
    assert changed == len({(fid, _group(k)) for fid, k in wrong})
    assert _stored(state, api_account.id) == truth
    with state.sessions() as session:
        assert check_rollups(session, api_account.id) == []
        assert session.scalar(select(Friend.click_count).where(Friend.account_id == other)) == 42
    with state.sessions.begin() as session:
        assert rebuild_rollups(session, api_account.id) == 0  # idempotent: nothing to fix


def _group(field):
    return {"last_click_at": "clicks", "click_count": "clicks", "last_message_at": "messages"}.get(
        field, "purchases"
    )


def test_rebuild_only_the_given_friends(client, state, api_account):
    with state.sessions.begin() as session:
        other = create_account(
            session,
            state.box,
            name="他店",
            channel_id="2000000002",
            channel_secret="s" * 32,
            access_token="t",
        ).id
    truth = _world(state, api_account.id, other, n=30)
    with state.sessions.begin() as session:
        for friend in session.scalars(select(Friend).where(Friend.account_id == api_account.id)):
            friend.click_count = 500
    ids = sorted(truth)
    chosen = ids[::2]
    with state.sessions.begin() as session:
        rebuild_rollups(session, api_account.id, friend_ids=iter(chosen))
    stored = _stored(state, api_account.id)
    for fid in ids:
        if fid in chosen:
            assert stored[fid] == truth[fid]
        else:
            assert stored[fid]["click_count"] == 500
    with state.sessions.begin() as session:
        rebuild_rollups(session, api_account.id, friend_ids=[])
        rebuild_rollups(session, api_account.id, friend_ids=ids)
    assert _stored(state, api_account.id) == truth
