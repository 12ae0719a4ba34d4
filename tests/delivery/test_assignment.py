"""Holdout and arm assignment: random, seeded, reproducible, honest shares."""

from __future__ import annotations

from collections import Counter

from enishi.delivery.assignment import Assigner, draw


def test_same_seed_same_assignment_other_seed_other():
    a = Assigner(7, 0.1, ["A", "B"], [0.5, 0.5])
    again = Assigner(7, 0.1, ["A", "B"], [0.5, 0.5])
    other = Assigner(8, 0.1, ["A", "B"], [0.5, 0.5])
    ids = range(1, 5001)
    assert [a.arm(i) for i in ids] == [again.arm(i) for i in ids]
    assert sum(a.arm(i) != other.arm(i) for i in ids) > 2000


def test_shares_are_honoured_within_sampling_error():
    a = Assigner(11, 0.2, ["A", "B", "C"], [0.5, 0.3, 0.2])
    counts = Counter(a.arm(i) for i in range(1, 100_001))
    assert abs(counts["holdout"] - 20_000) < 600  # ±4.7 sigma
    for arm, share in (("A", 0.4), ("B", 0.24), ("C", 0.16)):
        assert abs(counts[arm] - share * 100_000) < 700, counts


def test_holdout_does_not_depend_on_the_arms():
    two = Assigner(3, 0.3, ["A", "B"], [0.5, 0.5])
    one = Assigner(3, 0.3, ["only"], [1.0])
    ids = range(1, 2001)
    assert [two.arm(i) == "holdout" for i in ids] == [one.arm(i) == "holdout" for i in ids]


def test_draws_are_uniform_and_independent_per_purpose():
    values = [draw(5, i, 1) for i in range(1, 20001)]
    assert min(values) >= 0 and max(values) < 1
    assert abs(sum(values) / len(values) - 0.5) < 0.01
    assert sum(draw(5, i, 1) < 0.5 and draw(5, i, 2) < 0.5 for i in range(1, 20001)) in range(
        4700, 5300
    )


def test_quota_cutoff_selects_exactly_the_allowed_number():
    a = Assigner(9, 0.25, ["A"], [1.0])
    ids = list(range(1, 3001))
    sendable = [i for i in ids if a.arm(i) != "holdout"]
    cutoff = a.quota_cutoff(ids, 1000)
    chosen = [i for i in sendable if a.quota_draw(i) < cutoff]
    assert len(chosen) == 1000
    assert a.quota_cutoff(ids, len(sendable)) is None
    assert a.quota_cutoff(ids, 0) == 0.0
