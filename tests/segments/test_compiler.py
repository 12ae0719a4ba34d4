"""Every leaf and combinator compiled to SQL gives exactly the friends a plain-Python
evaluation of the same definition gives, over the same random world (both backends)."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from enishi.segments.compiler import segment_friend_ids_query
from enishi.segments.service import count_segment, preview
from tests.segments import reference
from tests.segments.dataset import NOW, build_world


@pytest.fixture
def world(state):
    with state.sessions.begin() as session:
        return build_world(session, state.box)


def leaf_cases(world) -> list[dict]:
    d1, d2, _ = world.deliveries
    link = next(i for i, d in world.links.items() if d == d2)
    return [
        {"status": "following"},
        {"status": ["blocked", "unknown"]},
        {"followed_days": {"gte": 7, "lt": 30}},
        {"followed_days": {"gt": 50}},
        {"followed_days": {"lte": 2}},
        {"followed_days": {"eq": 30}},
        {"followed_at": {"from": "2024-12-01", "to": "2025-01-31"}},
        {"followed_at": {"from": "2025-02-01T00:00:00+09:00"}},
        {"followed_at": {"to": "2024-11-30T23:59:59Z"}},
        {"inflow_route": {"code": "shop_qr"}},
        {"inflow_route": {"codes": ["instagram", "flyer"]}},
        {"inflow_route": {"id": world.routes["flyer"]}},
        {"inflow_route": {"none": True}},
        {"member_linked": True},
        {"member_linked": False},
        {"attribute": {"key": "age", "gte": 20, "lt": 40}},
        {"attribute": {"key": "age", "between": [25, 35]}},
        {"attribute": {"key": "age", "in": [18, 70]}},
        {"attribute": {"key": "age", "ne": 30}},
        {"attribute": {"key": "age", "eq": 29}},
        {"attribute": {"key": "age", "gt": 39.5}},
        {"attribute": {"key": "age", "is_empty": True}},
        {"attribute": {"key": "gender", "eq": "female"}},
        {"attribute": {"key": "gender", "in": ["male", "other"]}},
        {"attribute": {"key": "gender", "ne": "female"}},
        {"attribute": {"key": "gender", "is_empty": False}},
        {"attribute": {"key": "birthday", "between": ["1980-01-01", "1999-12-31"]}},
        {"attribute": {"key": "birthday", "lte": "1970-06-30"}},
        {"attribute": {"key": "pref", "eq": "東京都"}},
        {"attribute": {"key": "pref", "in": ["大阪府", "福岡県"]}},
        {"tags": {"any": ["VIP", "新規"]}},
        {"tags": {"all": ["VIP", "セール好き"]}},
        {"tags": {"none": ["VIP"]}},
        {"tags": {"any": ["新規"], "none": ["セール好き"]}},
        {"clicked": {"within_days": 50}},
        {"clicked": {"not_within_days": 50}},
        {"clicked": {"within_days": 7}},
        {"clicked": {"within_days": 90, "delivery_id": d1}},
        {"clicked": {"not_within_days": 30, "delivery_id": d2}},
        {"clicked": {"within_days": 200, "link_id": link}},
        {"click_count": {"gte": 3, "within_days": 90}},
        {"click_count": {"lte": 1, "within_days": 30}},
        {"click_count": {"eq": 0, "within_days": 50}},
        {"click_count": {"gte": 5}},
        {"click_count": {"lt": 2}},
        {"click_count": {"gt": 1, "lte": 4, "within_days": 120}},
        {"click_count": {"gte": 2, "delivery_id": d1}},
        {"click_count": {"gte": 1, "within_days": 60, "link_id": link}},
        {"purchased": {"within_days": 30}},
        {"purchased": {"not_within_days": 90}},
        {"purchase_count": {"gte": 2}},
        {"purchase_count": {"gte": 2, "within_days": 180}},
        {"purchase_count": {"lte": 1, "within_days": 90}},
        {"purchase_count": {"eq": 0}},
        {"revenue": {"gte": 10000}},
        {"revenue": {"gte": 9800, "within_days": 180}},
        {"revenue": {"gt": 5000, "lt": 20000, "within_days": 365}},
        {"revenue": {"lte": 3000}},
        {"revenue": {"lte": 3000, "within_days": 60}},
        {"revenue": {"eq": 0, "within_days": 30}},
        {"purchase_count": {"lt": 2, "within_days": 60}},
        {"bought": {"sku": "TEA-01"}},
        {"bought": {"skus": ["CUP-01", "BAG-01"], "within_days": 90}},
        {"event": {"name": "cart_abandoned", "within_days": 2}},
        {"event": {"name": "cart_abandoned", "within_hours": 36, "no_purchase_since": True}},
        {"event": {"name": "page_view", "within_days": 5, "min_count": 2}},
        {
            "event": {
                "name": "cart_abandoned",
                "within_days": 7,
                "min_count": 2,
                "no_purchase_since": True,
            }
        },
        {"delivery": {"id": d1, "received": True}},
        {"delivery": {"id": d2, "received": False}},
        {"delivery": {"id": d1, "clicked": True}},
        {"delivery": {"id": d2, "received": True, "clicked": False}},
        {"sample": {"percent": 10, "seed": 42}},
        {"sample": {"percent": 50, "seed": 7}},
        {"sample": {"percent": 0.5, "seed": 1}},
        {"sample": {"percent": 100, "seed": 3}},
    ]


def compiled(state, world, definition, now=NOW) -> set[int]:
    with state.sessions() as session:
        query = segment_friend_ids_query(session, world.account_id, definition, now=now)
        return set(session.scalars(query))


def test_every_leaf_matches_the_reference(state, world):
    nonempty = 0
    for condition in leaf_cases(world):
        definition = {"version": 1, "where": condition}
        expected = reference.audience(world, definition, NOW)
        assert compiled(state, world, definition) == expected, condition
        nonempty += bool(expected)
    assert nonempty >= 60  # the world is rich enough that the leaves are really tested


def test_every_leaf_negated_and_combined(state, world):
    cases = leaf_cases(world)
    for i, condition in enumerate(cases):
        other = cases[(i * 7 + 3) % len(cases)]
        for where in (
            {"not": condition},
            {"all": [condition, other]},
            {"any": [condition, {"not": other}]},
        ):
            definition = {"version": 1, "where": where}
            assert compiled(state, world, definition) == reference.audience(
                world, definition, NOW
            ), where


def test_random_definitions(state, world):
    """Random trees of all / any / not over every leaf, nested up to four deep."""
    rng = random.Random(5)
    cases = leaf_cases(world)

    def tree(depth: int) -> dict:
        if depth >= 4 or rng.random() < 0.35:
            return rng.choice(cases)
        kind = rng.choice(["all", "any", "not"])
        if kind == "not":
            return {"not": tree(depth + 1)}
        return {kind: [tree(depth + 1) for _ in range(rng.randint(1, 4))]}

    sizes = set()
    for _ in range(60):
        definition = {"version": 1, "where": tree(0)}
        expected = reference.audience(world, definition, NOW)
        assert compiled(state, world, definition) == expected, definition
        sizes.add(len(expected))
    assert len(sizes) > 15


def test_seed_000_groups_split_the_audience(state, world):
    """「50日以内にクリック」 and 「51日以上前」 (incl. never clicked) partition the audience."""
    recent = {"version": 1, "where": {"clicked": {"within_days": 50}}}
    stale = {"version": 1, "where": {"clicked": {"not_within_days": 50}}}
    everyone = {"version": 1, "where": {"all": []}}
    a, b = compiled(state, world, recent), compiled(state, world, stale)
    assert a and b and not a & b
    assert a | b == compiled(state, world, everyone)
    never = {
        fid
        for fid in b
        if world.friends[fid]["status"] == "following"
        and not any(c["friend_id"] == fid for c in world.clicks)
    }
    assert never and never <= b


def test_now_is_a_parameter(state, world):
    """The same definition a month earlier: windows move with `now`."""
    definition = {"version": 1, "where": {"clicked": {"within_days": 30}}}
    earlier = NOW - timedelta(days=40)
    # data after `now` does not exist in a real database; the reference counts it the same way
    assert compiled(state, world, definition, earlier) == reference.audience(
        world, definition, earlier
    )
    assert compiled(state, world, definition, earlier) != compiled(state, world, definition)
    with state.sessions() as session, pytest.raises(ValueError):
        segment_friend_ids_query(
            session, world.account_id, definition, now=NOW.replace(tzinfo=None)
        )


def test_blocked_friends_are_never_targeted(state, world):
    definition = {"version": 1, "where": {"status": ["blocked", "unknown"]}}
    assert compiled(state, world, definition) == set()
    with state.sessions() as session:
        assert count_segment(session, world.account_id, definition, now=NOW) == 0


def test_preview_count_equals_the_query(state, world):
    rng = random.Random(9)
    for condition in rng.sample(leaf_cases(world), 25):
        definition = {"version": 1, "where": condition}
        with state.sessions() as session:
            ids = set(
                session.scalars(
                    segment_friend_ids_query(session, world.account_id, definition, now=NOW)
                )
            )
            result = preview(session, world.account_id, definition, now=NOW)
            counted = session.scalar(
                select(func.count()).select_from(
                    segment_friend_ids_query(
                        session, world.account_id, definition, now=NOW
                    ).subquery()
                )
            )
        assert result.count == len(ids) == counted
        assert len(result.sample) == min(20, len(ids))
        assert {f.id for f in result.sample} <= ids
        assert [f.id for f in result.sample] == sorted(ids, reverse=True)[:20]
