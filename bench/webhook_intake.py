"""Webhook intake: signed batches from a load generator, as LINE sends them.

Targets (issue 3): ≥ 5,000 events/s sustained on SQLite and on PostgreSQL, p99
acknowledgement < 200 ms, events stored = events sent — also when the server is killed
with SIGKILL mid-run and LINE-style redelivery resends every request that was not
acknowledged.

    python -m bench.webhook_intake [--seconds 10] [--batch 10] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp
from sqlalchemy import text
from ulid import ULID

from bench.support import (
    EnishiProcess,
    create_account,
    drop_database,
    enishi_env,
    free_port,
    fresh_database,
    percentile,
    postgres_available,
)
from enishi.db.engine import make_engine
from enishi.line.signature import signature_for

CHANNEL_ID = "2000000001"
SECRET = "0123456789abcdef0123456789abcdef"


def batch_body(size: int) -> bytes:
    now = int(time.time() * 1000)
    events = []
    for _ in range(size):
        user = "U" + uuid.uuid4().hex
        events.append(
            {
                "type": "message",
                "mode": "active",
                "timestamp": now,
                "source": {"type": "user", "userId": user},
                "webhookEventId": str(ULID()),
                "deliveryContext": {"isRedelivery": False},
                "replyToken": uuid.uuid4().hex,
                "message": {
                    "id": str(now),
                    "type": "text",
                    "text": "こんにちは",
                    "quoteToken": uuid.uuid4().hex,
                },
            }
        )
    return json.dumps(
        {"destination": "U" + "0" * 32, "events": events}, ensure_ascii=False
    ).encode()


async def load(
    url: str,
    seconds: float,
    batch: int,
    concurrency: int,
    kill_at: float | None,
    server: EnishiProcess,
) -> dict:
    """Send until `seconds` pass; every request is resent (LINE redelivery) until it gets a
    2xx, so nothing sent is given up on."""
    sent_ids: set[str] = set()
    latencies: list[float] = []
    redeliveries = 0
    stop_at = time.monotonic() + seconds
    timeout = aiohttp.ClientTimeout(total=2)  # LINE gives up after 2 s

    async with aiohttp.ClientSession(timeout=timeout) as session:

        async def sender() -> None:
            nonlocal redeliveries
            while time.monotonic() < stop_at:
                body = batch_body(batch)
                ids = [e["webhookEventId"] for e in json.loads(body)["events"]]
                headers = {
                    "content-type": "application/json",
                    "x-line-signature": signature_for(SECRET, body),
                }
                first = True
                while True:
                    started = time.monotonic()
                    try:
                        async with session.post(url, data=body, headers=headers) as response:
                            await response.read()
                            ok = 200 <= response.status < 300
                    except (aiohttp.ClientError, TimeoutError):
                        ok = False
                    if ok:
                        if first:
                            latencies.append(time.monotonic() - started)
                        sent_ids.update(ids)
                        break
                    first = False
                    redeliveries += 1
                    await asyncio.sleep(0.2)

        async def killer() -> None:
            if kill_at is None:
                return
            await asyncio.sleep(kill_at)
            await asyncio.to_thread(server.kill)
            await asyncio.to_thread(server.start)

        began = time.monotonic()
        await asyncio.gather(killer(), *(sender() for _ in range(concurrency)))
        elapsed = time.monotonic() - began
    return {
        "events_sent": len(sent_ids),
        "elapsed": elapsed,
        "latencies": latencies,
        "redelivered_requests": redeliveries,
        "ids": sent_ids,
    }


def run(backend: str, args, workdir: Path, kill: bool) -> dict:
    url = fresh_database(backend, workdir)
    env = enishi_env(url)
    try:
        create_account(env, CHANNEL_ID, SECRET, "bench-token")
        server = EnishiProcess(env, free_port())
        server.start()
        try:
            result = asyncio.run(
                load(
                    f"{server.base_url}/webhooks/line/{CHANNEL_ID}",
                    args.seconds,
                    args.batch,
                    args.concurrency,
                    args.seconds / 2 if kill else None,
                    server,
                )
            )
        finally:
            server.stop()
        engine = make_engine(url)
        with engine.connect() as conn:
            stored = {
                row[0] for row in conn.execute(text("SELECT webhook_event_id FROM webhook_events"))
            }
        engine.dispose()
    finally:
        drop_database(url)
    latencies = result["latencies"]
    return {
        "backend": backend,
        "sigkill_mid_run": kill,
        "events_per_s": round(result["events_sent"] / result["elapsed"]),
        "ratio_to_target_5000": round(result["events_sent"] / result["elapsed"] / 5000, 2),
        "ack_p50_ms": round(percentile(latencies, 0.5) * 1000, 1),
        "ack_p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
        "events_sent": result["events_sent"],
        "events_stored": len(stored),
        "stored_equals_sent": stored == result["ids"],
        "redelivered_requests": result["redelivered_requests"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--batch", type=int, default=10, help="events per webhook request")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    if "postgresql" in backends and not postgres_available():
        print("PostgreSQL not reachable: SQLite only")
        backends = ["sqlite"]
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores; load generator and "
        f"server on the same machine; {args.batch} events per request"
    )
    with tempfile.TemporaryDirectory() as workdir:
        for backend in backends:
            for kill in (False, True):
                result = run(backend, args, Path(workdir), kill)
                print(json.dumps(result, ensure_ascii=False))
                assert result["stored_equals_sent"], "events lost or invented"


if __name__ == "__main__":
    main()
