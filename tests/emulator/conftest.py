"""Run the emulator for real: uvicorn on a free loopback port, in a background thread."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import uvicorn

from enishi.emulator.app import create_app
from enishi.emulator.channels import channel_from_spec
from enishi.emulator.runtime import Emulator
from enishi.emulator.state import Channel, EmulatorState


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


class _ServerThread(threading.Thread):
    def __init__(self, app, port: int) -> None:
        super().__init__(daemon=True)
        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="on"
        )
        self.server = uvicorn.Server(config)
        # bound now, not when the thread gets to it: under load another process could
        # take the free port in between ("address already in use")
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", port))
        self.loop: asyncio.AbstractEventLoop | None = None

    def run(self) -> None:
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self.server.serve(sockets=[self.socket]))

    def wait_started(self) -> None:
        deadline = time.monotonic() + 10
        while not self.server.started:
            if not self.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("emulator did not start")
            time.sleep(0.01)


@pytest.fixture
def start_emulator() -> Iterator[Callable[..., RunningEmulator]]:
    """Factory: start_emulator(friends=50, rate_limit_scale=0, **channel spec).

    At teardown every answer the emulators gave during the test is checked against LINE's
    OpenAPI files, the responses the SDK parsed included.
    """
    from tests.emulator.openapi_check import ResponseRecorder

    threads: list[_ServerThread] = []
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
        port = free_port()
        recorders.append(ResponseRecorder(create_app(emulator)))
        thread = _ServerThread(recorders[-1], port)
        thread.start()
        thread.wait_started()
        threads.append(thread)
        assert thread.loop is not None
        return RunningEmulator(f"http://127.0.0.1:{port}", emulator, channel, thread.loop)

    yield start
    for thread in threads:
        thread.server.should_exit = True
        thread.join(timeout=10)
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

    port = free_port()
    receiver = WebhookReceiver(f"http://127.0.0.1:{port}/webhook", [])

    async def webhook(request: Request) -> Response:
        body = await request.body()
        receiver.requests.append((body, dict(request.headers)))
        if receiver.delay:
            await asyncio.sleep(receiver.delay)
        return Response(status_code=receiver.status)

    thread = _ServerThread(Starlette(routes=[Route("/webhook", webhook, methods=["POST"])]), port)
    thread.start()
    thread.wait_started()
    yield receiver
    thread.server.should_exit = True
    thread.join(timeout=10)
