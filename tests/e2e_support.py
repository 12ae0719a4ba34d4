"""End-to-end support: enishi running for real (uvicorn on a free port, migrated database)
next to a LINE emulator channel whose webhooks point at it.

Use it from a domain's tests/<domain>/conftest.py:

    from tests.e2e_support import e2e, start_e2e, start_emulator  # noqa: F401

then in a test:

    def test_something(e2e):                       # 0 friends to start with
        user = e2e.new_friends(1)[0]               # follows: a signed follow webhook
        e2e.act(user, "text", text="こんにちは")    # any emulator action
        e2e.settle()                               # webhooks drained, worker idle
        httpx.get(f"{e2e.base_url}/api/v1/...", headers=e2e.headers)

    def test_other(start_e2e):
        env = start_e2e(friends=20, login_channel_id="1650000000", run_worker=True)

Everything goes over real HTTP: the emulator signs and POSTs webhooks to enishi's
`/webhooks/line/{channel_id}`, enishi's LINE client (the official SDK) calls the emulator.
Runs on every backend of the `database_url` fixture (SQLite, and PostgreSQL in CI).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from enishi.accounts.service import create_account, create_api_key
from enishi.app import create_app
from enishi.audit.actor import Actor
from enishi.deps import AppState
from enishi.webhook.models import PENDING, WebhookEvent
from enishi.worker.registry import pollers
from enishi.worker.runner import Worker
from tests.conftest import make_settings
from tests.emulator.conftest import RunningEmulator, start_emulator
from tests.servers import ReservedPort, ServerThread

__all__ = ["E2E", "e2e", "start_e2e", "start_emulator"]

DEFAULT_CHANNEL_ID = "2000000101"


@dataclass
class E2E:
    """A running enishi wired to one emulator channel."""

    base_url: str  # enishi, e.g. http://127.0.0.1:54321
    app: FastAPI
    state: AppState
    emulator: RunningEmulator
    account_id: int
    api_key: str
    worker: Worker  # drive it with settle() unless started with run_worker=True
    run_worker: bool

    @property
    def headers(self) -> dict[str, str]:
        """enishi's REST API key header."""
        return {"authorization": f"Bearer {self.api_key}"}

    @property
    def channel(self):
        """The emulator's Channel (ground truth: friends, inboxes, orders, webhook log)."""
        return self.emulator.channel

    @property
    def channel_id(self) -> str:
        return self.emulator.channel.channel_id

    @property
    def webhook_url(self) -> str:
        return f"{self.base_url}/webhooks/line/{self.channel_id}"

    def api(self) -> httpx.Client:
        """An HTTP client for enishi with the API key (close it, or use `with`)."""
        return httpx.Client(base_url=self.base_url, headers=self.headers, timeout=30)

    def control(self, method: str, path: str, **kwargs: Any) -> Any:
        """Call the emulator's control API: path relative to /_emulator/channels/{id}."""
        url = f"{self.emulator.base_url}/_emulator/channels/{self.channel_id}{path}"
        response = httpx.request(method, url, timeout=60, **kwargs)
        response.raise_for_status()
        return response.json()

    def act(self, user_id: str, action: str, **fields: Any) -> Any:
        """Make a virtual friend act (follow, unblock, block, text, sticker, postback,
        quick_reply, open_link, account_link, beacon, purchase); returns once the resulting
        webhooks were answered by enishi."""
        body = {"action": action, **fields}
        return self.control("POST", f"/friends/{user_id}/actions", json=body)["result"]

    def new_friends(self, count: int = 1, *, follow: bool = True) -> list[str]:
        """New virtual users; with `follow` they add the account now (follow webhooks)."""
        body = {"count": count, "follow": follow}
        return self.control("POST", "/friends", json=body)["userIds"]

    def following(self) -> list[str]:
        return [f.user_id for f in self.channel.friends.values() if f.is_friend]

    def pending_events(self) -> int:
        with self.state.sessions() as session:
            return session.scalar(select(func.count()).where(WebhookEvent.status == PENDING)) or 0

    def settle(self, timeout: float = 60) -> None:
        """Wait until the emulator has sent every queued webhook and enishi's worker has
        processed every stored event."""
        self.emulator.call(self.emulator.emulator.webhooks.drain(timeout), timeout + 5)
        if not self.run_worker:
            self.worker.run_until_idle(timeout)
            return
        deadline = time.monotonic() + timeout
        while self.pending_events():
            if time.monotonic() > deadline:
                raise TimeoutError("the worker did not process every event")
            time.sleep(0.05)


@pytest.fixture
def start_e2e(
    database_url: str, start_emulator: Callable[..., RunningEmulator]
) -> Iterator[Callable[..., E2E]]:
    """Factory: start_e2e(friends=0, run_worker=False, settings={...}, **channel spec).

    `friends` virtual users follow already (no webhooks); `settings` overrides enishi's
    Settings; other keywords go to the emulator channel (login_channel_id, beacon_hwids,
    shop_callback_url, redelivery, ...). The account is created with the channel's id,
    secret and token, and an API key.
    """
    threads: list[ServerThread] = []

    def start(
        *,
        friends: int = 0,
        run_worker: bool = False,
        settings: dict[str, Any] | None = None,
        account_name: str = "e2e店",
        **spec: Any,
    ) -> E2E:
        reserved = ReservedPort()
        base_url = reserved.base_url
        channel_id = str(spec.pop("channel_id", DEFAULT_CHANNEL_ID))
        running = start_emulator(
            friends=friends,
            channel_id=channel_id,
            webhook_url=f"{base_url}/webhooks/line/{channel_id}",
            **spec,
        )
        values = {
            "public_base_url": base_url,
            "line_api_base": running.base_url,
            "line_data_api_base": running.base_url,
            "line_access_base": running.base_url,
            "trust_emulator_headers": True,
            **(settings or {}),
        }
        app = create_app(make_settings(database_url, **values), run_worker=run_worker)
        state: AppState = app.state.enishi
        with state.sessions.begin() as session:
            account = create_account(
                session,
                state.box,
                name=account_name,
                channel_id=channel_id,
                channel_secret=running.secret,
                access_token=running.token,
                login_channel_id=running.channel.login_channel_id,
            )
            account.bot_user_id = running.channel.bot_user_id
            account.basic_id = running.channel.basic_id
            _, api_key = create_api_key(session, account, "e2e", actor=Actor.cli())
            account_id = account.id
        threads.append(ServerThread(app, reserved).begin())
        return E2E(
            base_url=base_url,
            app=app,
            state=state,
            emulator=running,
            account_id=account_id,
            api_key=api_key,
            worker=Worker(state, pollers()),
            run_worker=run_worker,
        )

    yield start
    for thread in threads:
        thread.stop(timeout=30)


@pytest.fixture
def e2e(start_e2e: Callable[..., E2E]) -> E2E:
    """enishi + an emulator channel with no friends yet; the test drives the worker."""
    return start_e2e()
