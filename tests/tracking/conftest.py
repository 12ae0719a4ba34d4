"""Tracking test helpers: friends and links made directly in the database."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from enishi.app import create_app
from enishi.friends.service import get_or_create_friend
from enishi.tracking.links import create_link
from tests.conftest import make_settings

USER_A = "U" + "a" * 32
USER_B = "U" + "b" * 32


@pytest.fixture
def make_friend(state, api_account) -> Callable[..., int]:
    def make(line_user_id: str = USER_A, member_id: str | None = None) -> int:
        with state.sessions.begin() as session:
            friend = get_or_create_friend(session, api_account.id, line_user_id)
            if member_id is not None:
                friend.member_id = member_id
            return friend.id

    return make


@pytest.fixture
def make_link(state, api_account) -> Callable[..., int]:
    def make(url: str = "https://shop.example/sale", **kwargs) -> int:
        with state.sessions.begin() as session:
            return create_link(session, api_account.id, url, **kwargs).id

    return make


@pytest.fixture
def trusted_client(database_url) -> Iterator[TestClient]:
    """An app that honours the emulator's x-emulator-sim-time header."""
    app = create_app(make_settings(database_url, trust_emulator_headers=True), run_worker=False)
    with TestClient(app) as client:
        yield client


from tests.e2e_support import e2e, start_e2e, start_emulator  # noqa: E402, F401
