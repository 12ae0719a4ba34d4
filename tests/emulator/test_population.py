"""The virtual population: deterministic, plausible, fast."""

from __future__ import annotations

import dataclasses
import re
from collections import Counter

import pytest

from enishi.emulator.population import CATEGORIES, INFLOW_ROUTES, PREFECTURES, generate_friends

NOW = 1_767_538_800.0  # 2026-01-05 00:00 JST
DAY = 86400.0


@pytest.fixture(scope="module")
def crowd():
    return generate_friends(5000, seed=11, now=NOW)


def test_same_seed_same_people_other_seed_other_people():
    a = generate_friends(300, seed=5, now=NOW)
    b = generate_friends(300, seed=5, now=NOW)
    c = generate_friends(300, seed=6, now=NOW)
    assert [dataclasses.asdict(f) for f in a] == [dataclasses.asdict(f) for f in b]
    assert {f.user_id for f in a}.isdisjoint(f.user_id for f in c)
    # a smaller batch from the same seed is a prefix of the same people
    assert [f.user_id for f in generate_friends(10, seed=5, now=NOW)] == [f.user_id for f in a[:10]]


def test_user_ids_look_like_line_user_ids(crowd):
    ids = [f.user_id for f in crowd]
    assert all(re.fullmatch(r"U[0-9a-f]{32}", i) for i in ids)
    assert len(set(ids)) == len(ids)


def test_profiles_are_a_realistic_mix(crowd):
    languages = Counter(f.language for f in crowd)
    assert languages["ja"] / len(crowd) > 0.85
    assert {"en", "zh-TW", "th"} <= set(languages)
    names = [f.display_name for f in crowd]
    assert len(set(names)) > len(crowd) * 0.3
    assert any(" " in n and re.search(r"[\u4e00-\u9fff]", n) for n in names)  # 佐藤 美咲
    assert any(re.fullmatch(r"[A-Za-z][A-Za-z ._0-9]*", n) for n in names)  # latin nickname
    assert any(re.search(r"[\U0001F300-\U0001FAFF\u2600-\u27BF]", n) for n in names)  # emoji
    pictures = [f.picture_url for f in crowd]
    assert all(p is None or p.startswith("https://profile.line-scdn.net/") for p in pictures)
    assert 0.05 < pictures.count(None) / len(crowd) < 0.3
    statuses = [f.status_message for f in crowd if f.status_message]
    assert 0.15 < len(statuses) / len(crowd) < 0.5


def test_traits_cover_what_segments_need(crowd):
    traits = [f.traits for f in crowd]
    prefectures = Counter(t.prefecture for t in traits)
    assert set(prefectures) <= set(PREFECTURES)
    top = [p for p, _ in prefectures.most_common(5)]
    assert top[0] == "jp_13" and "jp_14" in top and "jp_27" in top  # Tokyo, Kanagawa, Osaka
    for t in traits:
        band = int(t.age_band.removeprefix("age_"))
        assert band <= t.age < (band + 10 if band == 70 else band + 5)
        assert t.gender in ("male", "female", "unknown")
        assert t.app_type in ("ios", "android")
        assert t.inflow_route in INFLOW_ROUTES
        assert 1 <= len(t.interests) <= 3 and set(t.interests) <= set(CATEGORIES)
        assert 0 <= t.peak_hour < 24 and t.hour_spread > 0
        assert 0 < t.click_propensity < 1 and 0 < t.purchase_propensity < 1
        assert 0 < t.block_sensitivity < 1 and t.basket_mean > 0
    genders = Counter(t.gender for t in traits)
    assert genders["female"] > genders["male"] > genders["unknown"] > 0
    members = [t.member_id for t in traits if t.member_id]
    assert 0.25 < len(members) / len(traits) < 0.45
    assert all(re.fullmatch(r"M\d{9}", m) for m in members)


def test_daily_rhythms_are_a_mixture(crowd):
    peaks = [f.traits.peak_hour for f in crowd]

    def share(lo, hi):
        return sum(1 for p in peaks if lo <= p < hi) / len(peaks)

    assert share(6, 9.5) > 0.1  # morning commuters
    assert share(11, 13.5) > 0.1  # lunch break
    assert share(18, 21.5) > 0.2  # evening
    assert share(22, 24) + share(0, 1) > 0.08  # night owls


def test_following_or_not(crowd):
    assert all(f.is_friend and not f.blocked for f in crowd)
    assert all(NOW - 365 * DAY <= f.followed_at <= NOW for f in crowd)
    assert all(f.first_followed_at == f.followed_at for f in crowd)
    strangers = generate_friends(50, seed=1, now=NOW, following=False, history_days=30)
    assert not any(f.is_friend or f.followed_at for f in strangers)


def test_ten_thousand_distinct_friends():
    # speed is measured by the emulator benchmarks, not here (machines are noisy)
    friends = generate_friends(10_000, seed=2, now=NOW)
    assert len({f.user_id for f in friends}) == 10_000
