"""`sample`: deterministic per friend id and seed, the same friends on SQLite and PostgreSQL,
and close to the asked share."""

from __future__ import annotations

import shutil

import pytest
from sqlalchemy import insert, text
from sqlalchemy.orm import Session

from enishi.accounts.service import create_account
from enishi.db.engine import make_engine
from enishi.friends.models import Friend
from enishi.kit.crypto import SecretBox
from enishi.models import Base
from enishi.segments.compiler import segment_friend_ids_query
from tests.conftest import PG_URL
from tests.segments.reference import sample_bucket

N = 3000


def _populate(url: str) -> int:
    """N following friends with ids 1..N (plus blocked ones that are never sampled)."""
    engine = make_engine(url)
    with Session(engine) as session, session.begin():
        account = create_account(
            session,
            SecretBox("k"),
            name="s",
            channel_id="2000000555",
            channel_secret="s" * 32,
            access_token="t",
        )
        session.execute(
            insert(Friend),
            [
                {
                    "id": i,
                    "account_id": account.id,
                    "line_user_id": f"U{i:032x}",
                    "status": "following" if i <= N else "blocked",
                    "click_count": 0,
                    "purchase_count": 0,
                    "revenue_jpy": 0,
                }
                for i in range(1, N + 301)
            ],
        )
        account_id = account.id
    engine.dispose()
    return account_id


def _sampled(url: str, account_id: int, percent: float, seed: int) -> set[int]:
    engine = make_engine(url)
    definition = {"version": 1, "where": {"sample": {"percent": percent, "seed": seed}}}
    with Session(engine) as session:
        ids = set(session.scalars(segment_friend_ids_query(session, account_id, definition)))
    engine.dispose()
    return ids


def test_sample_is_deterministic_and_fair(database_url):
    account_id = _populate(database_url)
    ten = _sampled(database_url, account_id, 10, 42)
    assert ten == _sampled(database_url, account_id, 10, 42)
    assert ten == {i for i in range(1, N + 1) if sample_bucket(i, 42) < 1000}
    assert 0.08 * N < len(ten) < 0.12 * N
    # a bigger share with the same seed contains the smaller one (same buckets)
    assert ten < _sampled(database_url, account_id, 25.5, 42)
    # different seeds choose independently: two halves overlap by about a quarter
    a, b = _sampled(database_url, account_id, 50, 1), _sampled(database_url, account_id, 50, 2)
    assert 0.2 * N < len(a & b) < 0.3 * N
    # neighbouring ids are not chosen in runs
    runs = sum(1 for i in range(1, N) if i in a and i + 1 in a)
    assert 0.2 * N < runs < 0.3 * N
    assert _sampled(database_url, account_id, 100, 9) == set(range(1, N + 1))
    assert len(_sampled(database_url, account_id, 0.01, 9)) < 10


@pytest.mark.skipif(not PG_URL, reason="needs ENISHI_TEST_DATABASE_URL (PostgreSQL)")
def test_same_friends_on_both_backends(tmp_path, sqlite_template, request):
    sqlite_url = f"sqlite:///{tmp_path / 'sample.db'}"
    shutil.copy(sqlite_template, tmp_path / "sample.db")
    pg_url = request.getfixturevalue("postgres_url")
    engine = make_engine(pg_url)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()
    lite, pg = _populate(sqlite_url), _populate(pg_url)
    for percent, seed in ((10, 42), (33.33, 7), (50, 2_147_483_646), (1, 0)):
        on_sqlite = _sampled(sqlite_url, lite, percent, seed)
        assert on_sqlite == _sampled(pg_url, pg, percent, seed)
        assert on_sqlite
