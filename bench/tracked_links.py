"""Tracked-link redirects: clicks/s with every click durable, against a bare redirect.

Target (issue 3): ≥ 5,000 clicks/s, every click stored, p99 < 50 ms; also reported as a
ratio to a bare Starlette redirect measured in the same run on the same machine.

    python -m bench.tracked_links [--seconds 10] [--concurrency 64] [--backend both]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import httpx
from sqlalchemy import func, insert, select

from bench.support import (
    ROOT,
    EnishiProcess,
    create_account,
    drop_database,
    enishi_env,
    free_port,
    fresh_database,
    percentile,
    postgres_available,
)
from enishi.config import Settings
from enishi.db.engine import make_engine
from enishi.friends.models import Friend
from enishi.tracking.models import Click
from enishi.tracking.tokens import tracked_url

FRIENDS = 10_000
UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Line/14.1.0"


async def hammer(urls: list[str], seconds: float, concurrency: int) -> dict:
    ok = other = 0
    latencies: list[float] = []
    stop_at = time.monotonic() + seconds
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, headers={"user-agent": UA}) as s:

        async def worker(offset: int) -> None:
            nonlocal ok, other
            i = offset
            while time.monotonic() < stop_at:
                started = time.monotonic()
                async with s.get(urls[i % len(urls)], allow_redirects=False) as response:
                    await response.read()
                    if response.status == 302:
                        ok += 1
                    else:
                        other += 1
                latencies.append(time.monotonic() - started)
                i += concurrency

        began = time.monotonic()
        await asyncio.gather(*(worker(n) for n in range(concurrency)))
        elapsed = time.monotonic() - began
    return {
        "redirects": ok,
        "other": other,
        "per_s": ok / elapsed,
        "p50_ms": percentile(latencies, 0.5) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
    }


def bare_redirect(seconds: float, concurrency: int) -> dict:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.bare_redirect:app",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=ROOT,
    )
    try:
        for _ in range(100):
            try:
                httpx.get(f"http://127.0.0.1:{port}/c/x", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        return asyncio.run(hammer([f"http://127.0.0.1:{port}/c/x"], seconds, concurrency))
    finally:
        process.terminate()
        process.wait()


def run(backend: str, args, workdir: Path, bare_per_s: float) -> dict:
    url = fresh_database(backend, workdir)
    env = enishi_env(url)
    try:
        key = create_account(env, "2000000001", "0" * 32, "bench-token")
        server = EnishiProcess(env, free_port())
        server.start()
        try:
            headers = {"authorization": f"Bearer {key}"}
            link = httpx.post(
                f"{server.base_url}/api/v1/links",
                headers=headers,
                json={"url": "https://shop.example.com/sale?x=1", "utm": {"utm_source": "line"}},
            ).json()
            engine = make_engine(url)
            with engine.begin() as conn:
                account_id = conn.scalar(select(Friend.account_id).limit(1)) or 1
                conn.execute(
                    insert(Friend),
                    [
                        {
                            "account_id": account_id,
                            "line_user_id": f"U{n:032x}",
                            "status": "following",
                        }
                        for n in range(FRIENDS)
                    ],
                )
                friend_ids = list(conn.scalars(select(Friend.id)))
            settings = Settings(secret_key="bench-secret-key", public_base_url=server.base_url)
            urls = [tracked_url(settings, link["id"], fid) for fid in friend_ids]
            result = asyncio.run(hammer(urls, args.seconds, args.concurrency))
        finally:
            server.stop()
        with engine.connect() as conn:
            stored = conn.scalar(select(func.count()).select_from(Click))
            counted = conn.scalar(select(func.sum(Friend.click_count)))
        engine.dispose()
    finally:
        drop_database(url)
    return {
        "backend": backend,
        "clicks_per_s": round(result["per_s"]),
        "ratio_to_target_5000": round(result["per_s"] / 5000, 2),
        "ratio_to_bare_redirect": round(result["per_s"] / bare_per_s, 2),
        "p50_ms": round(result["p50_ms"], 1),
        "p99_ms": round(result["p99_ms"], 1),
        "redirects": result["redirects"],
        "clicks_stored": stored,
        "rollup_click_count": counted,
        "every_click_stored": stored == result["redirects"] == counted,
        "non_redirects": result["other"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    if "postgresql" in backends and not postgres_available():
        print("PostgreSQL not reachable: SQLite only")
        backends = ["sqlite"]
    bare = bare_redirect(args.seconds, args.concurrency)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores; load generator and server "
        f"on the same machine; bare Starlette redirect: {bare['per_s']:.0f}/s, "
        f"p99 {bare['p99_ms']:.1f} ms"
    )
    with tempfile.TemporaryDirectory() as workdir:
        for backend in backends:
            result = run(backend, args, Path(workdir), bare["per_s"])
            print(json.dumps(result))
            assert result["every_click_stored"], "a redirect was answered without its click"


if __name__ == "__main__":
    main()
