"""`enishi serve --workers N`: several processes on one port, sharing the database and the
background work, with nothing stored or processed twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from sqlalchemy import func, select

from enishi.accounts.service import create_account
from enishi.friends.models import Friend
from enishi.line.signature import signature_for
from enishi.webhook.models import WebhookEvent
from tests.servers import free_port
from tests.webhook.events import body_of, follow

ENISHI = str(Path(sys.executable).with_name("enishi"))
ROOT = Path(__file__).resolve().parents[2]
SECRET = "0123456789abcdef0123456789abcdef"
EVENTS = 120


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # "pid (comm) state ppid ...": comm may hold spaces, so split after its ")"
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_two_server_processes_share_the_port_and_the_work(settings, state, tmp_path):
    with state.sessions.begin() as session:
        create_account(
            session,
            state.box,
            name="店",
            channel_id="2000000555",
            channel_secret=SECRET,
            access_token="token",
        )
    port = free_port()
    env = {
        **os.environ,
        "ENISHI_DATABASE_URL": settings.database_url,
        "ENISHI_SECRET_KEY": settings.secret_key,
        "ENISHI_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "ENISHI_LINE_API_BASE": settings.line_api_base,  # nothing listens: no profiles
        "ENISHI_SQLITE_SYNCHRONOUS": "NORMAL",
    }
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [ENISHI, "serve", "--port", str(port), "--workers", "2", "--no-migrate"],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _answers(f"{base}/login"), 180, f"not serving: {log.read_text()}")
        servers = [
            pid
            for pid in children_of(server.pid)
            if b"multiprocessing" in Path(f"/proc/{pid}/cmdline").read_bytes()
            and b"resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_bytes()
        ]
        assert len(servers) == 2, log.read_text()

        users = [f"U{i:032x}" for i in range(EVENTS)]
        for i, user in enumerate(users):  # a new connection each: the processes share them
            body = body_of(follow(user, 1_700_000_000_000 + i))
            response = httpx.post(
                f"{base}/webhooks/line/2000000555",
                content=body,
                headers={"x-line-signature": signature_for(SECRET, body)},
            )
            assert response.status_code == 200, response.text

        def all_processed() -> bool:
            with state.sessions() as session:
                done = select(func.count(WebhookEvent.id)).where(WebhookEvent.status == "done")
                return session.scalar(done) == EVENTS

        wait_until(all_processed, 180, f"events left unprocessed: {log.read_text()}")
        with state.sessions() as session:
            assert session.scalar(select(func.count(WebhookEvent.id))) == EVENTS
            assert session.scalar(select(func.count(Friend.id))) == EVENTS
            events = session.scalars(select(WebhookEvent.attempts)).all()
            assert set(events) == {1}  # each event handled once
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    assert server.returncode == 0, log.read_text()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url).status_code == 200
    except httpx.TransportError:
        return False
