"""Delivery tests: enishi next to the LINE emulator over real HTTP, with helpers to give
enishi the emulator's friends, run the worker until a delivery finishes, and read inboxes."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import insert, select

from enishi.delivery.models import Delivery
from enishi.friends.models import FOLLOWING, Friend
from enishi.sending.runtime import runtime_for
from tests.e2e_support import E2E, e2e, start_e2e, start_emulator  # noqa: F401


@dataclass
class Env:
    """enishi (uvicorn) + an emulator channel + enishi friends mirroring the emulator's."""

    e2e: E2E
    friends: dict[str, int]  # LINE user id -> enishi friend id

    @property
    def state(self):
        return self.e2e.state

    @property
    def channel(self):
        return self.e2e.channel

    def api(self) -> httpx.Client:
        return self.e2e.api()

    def create(self, **body: Any) -> dict:
        with self.api() as api:
            response = api.post("/api/v1/deliveries", json=body)
        assert response.status_code == 201, response.text
        return response.json()

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        with self.api() as api:
            return api.request(method, f"/api/v1{path}", **kwargs)

    def send(self, timeout: float = 120, **body: Any) -> dict:
        """Create, schedule now and run the worker until the delivery is finished."""
        delivery = self.create(**body)
        response = self.call("POST", f"/deliveries/{delivery['id']}/schedule")
        assert response.status_code == 200, response.text
        return self.finish(delivery["id"], timeout)

    def finish(self, delivery_id: int, timeout: float = 120) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            self.e2e.worker.run_until_idle(timeout)
            status = self.status(delivery_id)
            if status in ("done", "cancelled", "failed"):
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"delivery {delivery_id} is still {status}")
            time.sleep(0.05)
        return self.call("GET", f"/deliveries/{delivery_id}").json()

    def status(self, delivery_id: int) -> str:
        with self.state.sessions() as session:
            return session.scalar(select(Delivery.status).where(Delivery.id == delivery_id))

    def finish_running(self, delivery_id: int, timeout: float = 120) -> dict:
        """Wait for a delivery that a background worker is sending."""
        deadline = time.monotonic() + timeout
        while self.status(delivery_id) not in ("done", "cancelled", "failed"):
            if time.monotonic() > deadline:
                raise TimeoutError(f"delivery {delivery_id} is still {self.status(delivery_id)}")
            time.sleep(0.05)
        return self.call("GET", f"/deliveries/{delivery_id}").json()

    def inbox(self, user_id: str) -> list:
        return self.channel.inboxes.get(user_id, [])

    def received(self) -> Counter:
        """How many deliveries (push/multicast inbox entries) each friend got."""
        return Counter(
            {uid: len(entries) for uid, entries in self.channel.inboxes.items() if entries}
        )

    def counters(self) -> dict:
        return self.e2e.control("GET", "/counters")["counters"]

    def faults(self, rules: dict) -> None:
        self.e2e.control("PUT", "/faults", json=rules)

    def recipients(self, delivery_id: int, **params: Any) -> list[dict]:
        items, cursor = [], None
        while True:
            query = {"limit": 500, **params, **({"cursor": cursor} if cursor else {})}
            page = self.call("GET", f"/deliveries/{delivery_id}/recipients", params=query).json()
            items += page["items"]
            cursor = page["next_cursor"]
            if not cursor:
                return items


def mirror_friends(state, account_id: int, channel, *, member_every: int = 0) -> dict[str, int]:
    """Friend rows for the emulator's following friends, as the webhook intake would keep
    them (profile display name; every `member_every`-th one linked to a member ID)."""
    rows = []
    for i, friend in enumerate(f for f in channel.friends.values() if f.is_friend):
        member = f"M{i:06d}" if member_every and i % member_every == 0 else None
        followed = datetime.fromtimestamp(friend.followed_at or 0, UTC)  # emulator's clock
        rows.append(
            {
                "account_id": account_id,
                "line_user_id": friend.user_id,
                "display_name": friend.display_name,
                "status": FOLLOWING,
                "first_followed_at": followed,
                "last_followed_at": followed,
                "profile_fetched_at": followed,
                "member_id": member,
            }
        )
    with state.sessions.begin() as session:
        if rows:
            session.execute(insert(Friend), rows)
        return dict(
            session.execute(
                select(Friend.line_user_id, Friend.id).where(Friend.account_id == account_id)
            ).all()
        )


@pytest.fixture
def start_env(start_e2e: Callable[..., E2E]) -> Iterator[Callable[..., Env]]:  # noqa: F811
    """Factory: start_env(friends=50, settings={...}, **emulator channel spec)."""
    started: list[Env] = []

    def start(*, friends: int = 50, member_every: int = 0, **spec: Any) -> Env:
        spec.setdefault("quota_limit", None)
        env_e2e = start_e2e(friends=friends, **spec)
        mapping = mirror_friends(
            env_e2e.state, env_e2e.account_id, env_e2e.channel, member_every=member_every
        )
        env = Env(env_e2e, mapping)
        started.append(env)
        return env

    yield start
    for env in started:  # stop the dispatcher before the database goes away
        dispatcher = runtime_for(env.state).dispatcher
        if dispatcher is not None:
            dispatcher.stop()


@pytest.fixture
def env(start_env: Callable[..., Env]) -> Env:
    return start_env()
