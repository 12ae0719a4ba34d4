"""Running enishi for a benchmark: a real `enishi serve` process on a fresh database."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import text

from enishi.db.engine import make_engine

ROOT = Path(__file__).resolve().parents[1]
ENISHI = str(Path(sys.executable).with_name("enishi"))
PG_ADMIN_URL = os.environ.get(
    "ENISHI_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fresh_database(backend: str, workdir: Path) -> str:
    """A new empty database URL on `backend` (sqlite | postgresql)."""
    if backend == "sqlite":
        return f"sqlite:///{workdir / f'bench-{uuid.uuid4().hex[:8]}.db'}"
    name = f"enishi_bench_{uuid.uuid4().hex[:8]}"
    admin = make_engine(PG_ADMIN_URL)
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def drop_database(url: str) -> None:
    if not url.startswith("postgresql"):
        return
    name = url.rsplit("/", 1)[1]
    admin = make_engine(PG_ADMIN_URL)
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def postgres_available() -> bool:
    try:
        engine = make_engine(PG_ADMIN_URL)
        with engine.connect():
            pass
        engine.dispose()
        return True
    except Exception:
        return False


@dataclass
class EnishiProcess:
    """`enishi serve` on a free port; kill() is SIGKILL, start() starts it again."""

    env: dict[str, str]
    port: int
    worker: bool = False
    process: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> None:
        args = [ENISHI, "serve", "--port", str(self.port)]
        if not self.worker:
            args.append("--no-worker")
        self.process = subprocess.Popen(
            args, env=self.env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"enishi exited: {self.process.stderr.read().decode()[-2000:]}")
            try:
                httpx.get(f"{self.base_url}/api/v1/openapi.json", timeout=1)
                return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("enishi did not start")

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


def enishi_env(database_url: str, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "ENISHI_DATABASE_URL": database_url,
        "ENISHI_SECRET_KEY": "bench-secret-key",
        "ENISHI_LOG_LEVEL": "warning",
    }
    env.update(extra)
    return env


def create_account(env: dict[str, str], channel_id: str, secret: str, token: str) -> str:
    """Connect a channel with the CLI; returns the API key it prints."""
    out = subprocess.run(
        [
            ENISHI,
            "account",
            "create",
            "--name",
            "bench",
            "--channel-id",
            channel_id,
            "--channel-secret",
            secret,
            "--access-token",
            token,
        ],
        env={**env, "COLUMNS": "400"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return next(word for word in out.split() if word.startswith("ensk_"))


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))] if ordered else 0.0
