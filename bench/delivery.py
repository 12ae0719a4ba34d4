"""Delivery throughput against `enishi emulator` enforcing LINE's rate limits.

Targets (issue 4): 1,000,000 recipients of one shared message (multicast) from "send" to
the last request within 1.10 × 10 s — the minimum LINE's 200 multicasts/s × 500 allow —
and 100,000 personalized pushes within 1.10 × 50 s (2,000 pushes/s), with zero 429s caused
by enishi. `--rate-limit-scale` scales LINE's limits in the emulator and in enishi's
dispatcher alike (and the recipients with them, so the minimum stays 10 s and 50 s).

Runs `enishi emulator`, `enishi serve --no-worker` (the API) and `enishi worker` (planner
and dispatcher) as separate processes on a fresh database; "send" is the moment the
schedule call is made.

    python -m bench.delivery [--rate-limit-scale 1] [--backend both] [--only multicast]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import insert, text

from bench.support import (
    ENISHI,
    ROOT,
    EnishiProcess,
    create_account,
    drop_database,
    enishi_env,
    free_port,
    fresh_database,
    postgres_available,
)
from enishi.db.engine import make_engine
from enishi.friends.models import Friend

TOKEN = "bench-delivery-token"
SECRET = "0123456789abcdef0123456789abcdef"
CHANNEL_ID = "2000000001"
MULTICAST_RATE, MULTICAST_SIZE, PUSH_RATE = 200, 500, 2000


class Emulator:
    def __init__(self, friends: int, scale: float) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [
                ENISHI,
                "emulator",
                "--port",
                str(self.port),
                "--friends",
                str(friends),
                "--rate-limit-scale",
                str(scale),
                "--speed",
                "0",
                "--quota",
                "0",
                "--channel-id",
                CHANNEL_ID,
                "--channel-secret",
                SECRET,
                "--channel-token",
                TOKEN,
                "--log-level",
                "error",
            ],
            stdout=subprocess.DEVNULL,
            cwd=ROOT,
        )
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{self.base}/_emulator", timeout=2)
                return
            except httpx.HTTPError:
                time.sleep(0.5)
        self.process.kill()
        raise RuntimeError("the emulator did not start")

    def control(self, method: str, path: str, **kwargs) -> dict:
        url = f"{self.base}/_emulator/channels/{CHANNEL_ID}{path}"
        response = httpx.request(method, url, timeout=120, **kwargs)
        response.raise_for_status()
        return response.json()

    def friends(self) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        while True:
            page = self.control(
                "GET",
                "/friends",
                params={"status": "following", "offset": len(out), "limit": 10000},
            )
            out += [(f["userId"], f["displayName"]) for f in page["friends"]]
            if len(out) >= page["total"]:
                return out

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=60)


def load_friends(url: str, account_id: int, friends: list[tuple[str, str]]) -> None:
    engine = make_engine(url, sqlite_synchronous="OFF")
    now = datetime.now(UTC)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            cursor = conn.connection.driver_connection.cursor()
            with cursor.copy(
                "COPY friends (account_id, line_user_id, display_name, status, "
                "first_followed_at, profile_fetched_at, created_at, click_count, "
                "purchase_count, revenue_jpy) FROM STDIN"
            ) as copy:
                for user_id, name in friends:
                    copy.write_row((account_id, user_id, name, "following", now, now, now, 0, 0, 0))
        else:
            for start in range(0, len(friends), 50_000):
                conn.execute(
                    insert(Friend),
                    [
                        {
                            "account_id": account_id,
                            "line_user_id": uid,
                            "display_name": name,
                            "status": "following",
                            "first_followed_at": now,
                            "profile_fetched_at": now,
                        }
                        for uid, name in friends[start : start + 50_000]
                    ],
                )
    with engine.begin() as conn:  # as autovacuum would have, on an account this size
        conn.execute(text("ANALYZE friends"))
    engine.dispose()


def run(
    backend: str,
    kind: str,
    recipients: int,
    scale: float,
    emulator: Emulator,
    friends: list[tuple[str, str]],
    workdir: Path,
) -> dict:
    url = fresh_database(backend, workdir)
    env = enishi_env(
        url,
        ENISHI_LINE_API_BASE=emulator.base,
        ENISHI_LINE_DATA_API_BASE=emulator.base,
        ENISHI_DELIVERY_RATE_LIMIT_SCALE=str(scale),
        ENISHI_SQLITE_SYNCHRONOUS="NORMAL",
    )
    api = worker = None
    try:
        key = create_account(env, CHANNEL_ID, SECRET, TOKEN)
        load_friends(url, 1, friends[:recipients])
        api = EnishiProcess(env, free_port())
        api.start()
        worker = subprocess.Popen(
            [ENISHI, "worker"], env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        assert worker.stdout is not None
        worker.stdout.readline()  # "worker running": booted, polling
        text_message = (
            "{{display_name|お客様}}さん、今週のおすすめです"
            if kind == "push"
            else "今週のおすすめです"
        )
        body = {
            "name": f"bench {kind}",
            "audience": {"type": "all"},
            "track_links": "off",
            "messages": [{"type": "text", "text": text_message}],
        }
        headers = {"authorization": f"Bearer {key}"}
        with httpx.Client(base_url=api.base_url, headers=headers, timeout=120) as client:
            delivery = client.post("/api/v1/deliveries", json=body).json()
            before = emulator.control("GET", "/counters")["counters"]
            sent_at = datetime.now(UTC)
            started = time.monotonic()
            response = client.post(f"/api/v1/deliveries/{delivery['id']}/schedule")
            assert response.status_code == 200, response.text
            status = _wait(client, delivery["id"], timeout=600)
            finished = time.monotonic() - started
        engine = make_engine(url)
        with engine.connect() as conn:
            last, requests, sent = conn.execute(
                text(
                    "SELECT max(sent_at), count(*), sum(CASE WHEN status = 'sent' "
                    "THEN recipient_count ELSE 0 END) FROM outbound_requests"
                )
            ).one()
        engine.dispose()
        if isinstance(last, str):
            last = datetime.fromisoformat(last)
        last = last.replace(tzinfo=UTC) if last.tzinfo is None else last
        after = emulator.control("GET", "/counters")["counters"]
    finally:
        for process in (worker,):
            if process is not None:
                process.terminate()
                process.wait(timeout=60)
        if api is not None:
            api.stop()
        drop_database(url)
    elapsed = (last - sent_at).total_seconds()
    minimum = (
        recipients / (MULTICAST_RATE * scale * MULTICAST_SIZE)
        if kind == "multicast"
        else recipients / (PUSH_RATE * scale)
    )
    delta = {k: after.get(k, 0) - before.get(k, 0) for k in set(after) | set(before)}
    return {
        "backend": backend,
        "kind": kind,
        "recipients": recipients,
        "rate_limit_scale": scale,
        "status": status,
        "requests": requests,
        "recipients_sent": int(sent or 0),
        "seconds_send_to_last_request": round(elapsed, 2),
        "minimum_seconds_line_allows": round(minimum, 2),
        "ratio": round(elapsed / minimum, 3),
        "target_ratio": 1.10,
        "seconds_until_done": round(finished, 2),
        "line_requests": delta.get(kind, 0),
        "rate_limited_429": delta.get("rate_limited", 0),
        "retry_key_conflicts": delta.get("retry_key_conflicts", 0),
    }


def _wait(client: httpx.Client, delivery_id: int, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.get(f"/api/v1/deliveries/{delivery_id}").json()["status"]
        if status in ("done", "failed", "cancelled"):
            return status
        time.sleep(0.5)
    return "timeout"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate-limit-scale", type=float, default=1.0)
    parser.add_argument(
        "--multicast-recipients", type=int, default=None, help="default 1,000,000 × scale"
    )
    parser.add_argument("--push-recipients", type=int, default=None, help="default 100,000 × scale")
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--only", choices=["multicast", "push"], default=None)
    args = parser.parse_args()
    scale = args.rate_limit_scale
    sizes = {
        "multicast": args.multicast_recipients or round(1_000_000 * scale),
        "push": args.push_recipients or round(100_000 * scale),
    }
    kinds = [args.only] if args.only else ["multicast", "push"]
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    if "postgresql" in backends and not postgres_available():
        print("PostgreSQL not reachable: SQLite only")
        backends = ["sqlite"]
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores; emulator, API and worker "
        "on the same machine"
    )
    emulator = Emulator(max(sizes[k] for k in kinds), scale)
    try:
        friends = emulator.friends()
        with tempfile.TemporaryDirectory() as workdir:
            for backend in backends:
                for kind in kinds:
                    httpx.post(f"{emulator.base}/_emulator/rate-limits/reset")
                    result = run(
                        backend, kind, sizes[kind], scale, emulator, friends, Path(workdir)
                    )
                    print(json.dumps(result, ensure_ascii=False), flush=True)
    finally:
        emulator.stop()


if __name__ == "__main__":
    main()
