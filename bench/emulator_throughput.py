"""How fast the emulator serves push and multicast, with rate limiting off.

The emulator must never be the bottleneck when enishi's delivery engine is measured against
LINE's limits (push 2,000 requests/s; multicast 200 requests/s of 500 recipients). This runs
`enishi emulator` in its own process and a load generator (aiohttp, one process) on the
same machine, and prints achieved requests/s and the ratio to LINE's limit.

    python -m bench.emulator_throughput [--seconds 10] [--concurrency 64]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import httpx

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "bench-token"
FRIENDS = 20_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_emulator(port: int) -> subprocess.Popen:
    enishi = Path(sys.executable).with_name("enishi")
    process = subprocess.Popen(
        [
            str(enishi),
            "emulator",
            "--port",
            str(port),
            "--friends",
            str(FRIENDS),
            "--rate-limit-scale",
            "0",
            "--speed",
            "0",
            "--quota",
            "0",
            "--channel-token",
            TOKEN,
            "--log-level",
            "error",
        ],
        stdout=subprocess.DEVNULL,
        cwd=ROOT,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/_emulator", timeout=1)
            return process
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("emulator did not start")


def friend_ids(base: str) -> list[str]:
    ids: list[str] = []
    start = None
    with httpx.Client(base_url=base, headers={"authorization": f"Bearer {TOKEN}"}) as client:
        while True:
            params = {"limit": 1000, **({"start": start} if start else {})}
            page = client.get("/v2/bot/followers/ids", params=params).json()
            ids += page["userIds"]
            start = page.get("next")
            if not start:
                return ids


def served(base: str) -> dict[str, int]:
    channels = httpx.get(f"{base}/_emulator").json()["channels"]
    counters = httpx.get(f"{base}/_emulator/channels/{channels[0]['channelId']}/counters")
    data = counters.json()
    return {**data["counters"], "billed": sum(data["usageByMonth"].values())}


async def load(base: str, path: str, bodies: list[bytes], seconds: float, concurrency: int) -> dict:
    ok = failed = 0
    latencies: list[float] = []
    stop_at = time.monotonic() + seconds
    headers = {"authorization": f"Bearer {TOKEN}", "content-type": "application/json"}
    connector = aiohttp.TCPConnector(limit=concurrency)

    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def worker(offset: int) -> None:
            nonlocal ok, failed
            i = offset
            while time.monotonic() < stop_at:
                started = time.monotonic()
                async with session.post(base + path, data=bodies[i % len(bodies)]) as r:
                    await r.read()
                    if r.status == 200:
                        ok += 1
                    else:
                        failed += 1
                latencies.append(time.monotonic() - started)
                i += concurrency

        began = time.monotonic()
        await asyncio.gather(*(worker(n) for n in range(concurrency)))
        elapsed = time.monotonic() - began
    latencies.sort()
    return {
        "ok": ok,
        "requests_per_s": round(ok / elapsed, 1),
        "failed": failed,
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = start_emulator(port)
    try:
        ids = friend_ids(base)
        text = {"type": "text", "text": "ベンチマーク用のメッセージです https://example.com/c/abc"}
        push_bodies = [json.dumps({"to": uid, "messages": [text]}).encode() for uid in ids[:5000]]
        multicast_bodies = [
            json.dumps({"to": ids[i : i + 500], "messages": [text]}).encode()
            for i in range(0, len(ids) - 499, 500)
        ]
        push = asyncio.run(
            load(base, "/v2/bot/message/push", push_bodies, args.seconds, args.concurrency)
        )
        multicast = asyncio.run(
            load(
                base,
                "/v2/bot/message/multicast",
                multicast_bodies,
                args.seconds,
                min(args.concurrency, 16),
            )
        )
        counted = served(base)
    finally:
        process.terminate()
        process.wait(timeout=30)
    # the emulator's own counters must agree with what the load generator saw
    assert counted["push"] >= push["ok"] and counted["multicast"] >= multicast["ok"], counted
    assert counted["billed"] >= push["ok"] + 500 * multicast["ok"], counted
    results = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}",
        "push": {
            **push,
            "line_limit": 2000,
            "ratio_to_limit": round(push["requests_per_s"] / 2000, 2),
        },
        "multicast_500": {
            **multicast,
            "line_limit": 200,
            "recipients_per_s": round(multicast["requests_per_s"] * 500),
            "ratio_to_limit": round(multicast["requests_per_s"] / 200, 2),
        },
    }
    print(json.dumps(results, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
