"""Run the emulator for real: uvicorn on a reserved loopback port, in a background thread."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from enishi.emulator.app import create_app
from enishi.emulator.channels import channel_from_spec
from enishi.emulator.runtime import Emulator
from enishi.emulator.state import Channel, EmulatorState
from tests.servers import ReservedPort, ServerThread


@dataclass
class RunningEmulator:
    base_url: str
    emulator: Emulator
    channel: Channel
    loop: asyncio.AbstractEventLoop

    def call(self, coroutine, timeout: float = 60) -> Any:
        """Run a coroutine on the server's event loop (the state's only writer)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    @property
    def token(self) -> str:
        return self.channel.access_token

    @property
    def secret(self) -> str:
        return self.channel.channel_secret

    def headers(self, **extra: str) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token}", **extra}


@pytest.fixture
def start_emulator() -> Iterator[Callable[..., RunningEmulator]]:
    """Factory: start_emulator(friends=50, rate_limit_scale=0, **channel spec).

    At teardown every answer the emulators gave during the test is checked against LINE's
    OpenAPI files, the responses the SDK parsed included.
    """
    from tests.emulator.openapi_check import ResponseRecorder

    threads: list[ServerThread] = []
    recorders: list[ResponseRecorder] = []

    def start(
        *,
        rate_limit_scale: float = 0,
        speed: float = 0.0,
        seed: int = 1,
        webhook_retry_delays: tuple[float, ...] = (0.2, 0.4),
        **spec: Any,
    ) -> RunningEmulator:
        state = EmulatorState(seed=seed)
        state.clock.set_speed(speed)
        spec.setdefault("friends", 50)
        channel = state.add_channel(channel_from_spec({"seed": seed, **spec}, state))
        emulator = Emulator.build(
            state,
            rate_limit_scale=rate_limit_scale,
            webhook_retry_delays=webhook_retry_delays,
            tick_seconds=0,
        )
        recorders.append(ResponseRecorder(create_app(emulator)))
        thread = ServerThread(recorders[-1]).begin()
        threads.append(thread)
        assert thread.loop is not None
        return RunningEmulator(thread.base_url, emulator, channel, thread.loop)

    yield start
    for thread in threads:
        thread.stop()
    problems = [p for recorder in recorders for p in recorder.problems()]
    assert not problems, "responses that break LINE's spec:\n" + "\n".join(problems)


@pytest.fixture
def start_checked_emulator(start_emulator) -> Callable[..., RunningEmulator]:
    """start_emulator with 300 friends by default."""

    def start(**spec: Any) -> RunningEmulator:
        spec.setdefault("friends", 300)
        return start_emulator(**spec)

    return start


@pytest.fixture
def checked_emulator(start_checked_emulator) -> RunningEmulator:
    """300 following virtual friends (seed 1), rate limits off, clock frozen."""
    return start_checked_emulator()


@pytest.fixture
def emulator_server(start_emulator) -> RunningEmulator:
    """One channel with 50 following virtual friends, rate limits off, clock frozen."""
    return start_emulator()


@dataclass
class WebhookReceiver:
    """A stand-in CRM endpoint that records every webhook request it gets."""

    url: str
    requests: list[tuple[bytes, dict[str, str]]]
    status: int = 200
    delay: float = 0.0

    def events(self) -> list[dict[str, Any]]:
        import json

        return [e for body, _ in self.requests for e in json.loads(body)["events"]]

    def wait_for(self, count: int, timeout: float = 10) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.events()) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} events, got {len(self.events())}")
            time.sleep(0.01)
        return self.events()


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    reserved = ReservedPort()
    receiver = WebhookReceiver(f"{reserved.base_url}/webhook", [])

    async def webhook(request: Request) -> Response:
        body = await request.body()
        receiver.requests.append((body, dict(request.headers)))
        if receiver.delay:
            await asyncio.sleep(receiver.delay)
        return Response(status_code=receiver.status)

    app = Starlette(routes=[Route("/webhook", webhook, methods=["POST"])])
    thread = ServerThread(app, reserved).begin()
    yield receiver
    thread.stop()
