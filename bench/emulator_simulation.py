"""How fast the emulator's virtual friends live simulated time (issue 2: 90 days of behaviour
for 10,000 friends in under a minute).

Two runs of `Simulator.backfill(channel, 90 days, 10,000 new friends)` in this process:
without a webhook URL (behaviour only), and with every event POSTed, signed, to a local
receiver (a bare Starlette app in another process), as `make demo` does with enishi.
Prints wall time, events and the ratio of the one-minute target to the time taken.

    python -m bench.emulator_simulation [--days 90] [--friends 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import time

import httpx

from bench.support import free_port
from enishi.emulator.simulator import Simulator
from enishi.emulator.state import Channel, EmulatorState
from enishi.emulator.webhooks import WebhookSender

TARGET_S = 60.0
T0 = 1_767_538_800.0  # Monday 2026-01-05 00:00 JST

RECEIVER = """
import sys, uvicorn
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route
async def webhook(request):
    await request.body()
    return Response(status_code=200)
app = Starlette(routes=[Route("/webhook", webhook, methods=["POST"])])
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="error")
"""


def start_receiver(port: int) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-c", RECEIVER, str(port)])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.post(f"http://127.0.0.1:{port}/webhook", content=b"{}")
            return process
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the webhook receiver did not start")


async def backfill(days: int, friends: int, webhook_url: str | None) -> dict:
    state = EmulatorState(seed=1)
    state.clock.set_speed(0)
    state.clock.set(T0)
    channel = state.add_channel(Channel("2000000001", "f" * 32, "token", webhook_url=webhook_url))
    hooks = WebhookSender(state)
    await hooks.start()
    simulator = Simulator(state, hooks, seed=1)
    started = time.perf_counter()
    happened = await simulator.backfill(channel, days, friends)
    await hooks.drain()
    seconds = time.perf_counter() - started
    await hooks.stop()
    await simulator.aclose()
    return {
        "seconds": round(seconds, 2),
        "events": dict(happened),
        "webhook_requests_ok": channel.counters.get("webhook_ok", 0),
        "webhook_requests_failed": sum(
            channel.counters.get(f"webhook_{o}", 0)
            for o in ("http_error", "timeout", "connection_error")
        ),
        "ratio_to_target": round(TARGET_S / seconds, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--friends", type=int, default=10_000)
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; load {os.getloadavg()[0]:.1f}")
    results = {"target_s": TARGET_S}
    results["no_webhook"] = asyncio.run(backfill(args.days, args.friends, None))
    port = free_port()
    receiver = start_receiver(port)
    try:
        url = f"http://127.0.0.1:{port}/webhook"
        results["to_a_receiver"] = asyncio.run(backfill(args.days, args.friends, url))
    finally:
        receiver.terminate()
        receiver.wait(timeout=10)
    print(json.dumps(results, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
