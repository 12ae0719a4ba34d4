"""Running enishi for a benchmark: a real `enishi serve` process on a fresh database; and
what the benchmarks on cached data share: their data arguments, the run on each backend, and
the machine line printed beside the figures."""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
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
DATA_DIR = Path(os.environ.get("ENISHI_BENCH_DATA_DIR", ROOT / "bench" / ".data"))


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


def data_arguments(parser: argparse.ArgumentParser, runs: int) -> None:
    """--scale, --seed and --data-dir: which cached data (bench/segment_data.py's) a benchmark
    runs on, the same defaults everywhere so the benchmarks share it; and --runs."""
    parser.add_argument(
        "--scale", type=float, default=1.0, help="1.0 = 1M friends / 30M clicks / 2M purchases"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--runs", type=int, default=runs)
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)


def run_on_backends(
    args: argparse.Namespace,
    database: Callable[[str, argparse.Namespace], tuple[str, float | None]],
    run_backend: Callable[[str, str, int], dict],
) -> list[dict]:
    """run_backend(backend, url, args.runs) on each backend of `args.backend` (PostgreSQL
    skipped when it is not reachable), on the data `database(backend, args)` gives as (url,
    seconds spent generating it or None when cached); each result printed as a JSON line."""
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    if "postgresql" in backends and not postgres_available():
        print("PostgreSQL not reachable at ENISHI_BENCH_PG_URL: skipping it")
        backends.remove("postgresql")
    results = []
    for backend in backends:
        url, generated = database(backend, args)
        result = run_backend(backend, url, args.runs)
        result["generation_s"] = None if generated is None else round(generated, 1)
        results.append(result)
        print(json.dumps(result, ensure_ascii=False))
    return results


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def machine() -> str:
    """What the figures were measured on, with the load average (other work slows them)."""
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"{platform.machine()} {cpu_model()}, {os.cpu_count()} cores, load average {load}"
