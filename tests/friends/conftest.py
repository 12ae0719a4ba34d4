"""Data builders for the friends tests: rows written straight into the database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from enishi.friends.attribute_defs import create_attribute_def
from enishi.friends.models import FOLLOWING, Friend

T0 = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


def uid(n: int) -> str:
    """A valid LINE user ID, distinct per n."""
    return "U" + f"{n:032x}"


def make_friend(session, account_id: int, n: int, **values) -> Friend:
    values.setdefault("status", FOLLOWING)
    values.setdefault("display_name", f"友だち{n}")
    values.setdefault("first_followed_at", T0 + timedelta(minutes=n))
    values.setdefault("last_followed_at", T0 + timedelta(minutes=n))
    friend = Friend(account_id=account_id, line_user_id=uid(n), **values)
    session.add(friend)
    session.flush()
    return friend


@pytest.fixture
def attributes(state, api_account):
    """age (number), birthday (date), plan (choice), memo (text)."""
    with state.sessions.begin() as session:
        create_attribute_def(session, api_account.id, key="age", label="年齢", type="number")
        create_attribute_def(session, api_account.id, key="birthday", label="誕生日", type="date")
        create_attribute_def(
            session,
            api_account.id,
            key="plan",
            label="プラン",
            type="choice",
            choices=["free", "gold"],
        )
        create_attribute_def(session, api_account.id, key="memo", label="メモ", type="text")
