"""`enishi worker` processes for crash tests: started against a test's enishi and emulator,
killed with SIGKILL, and the one holding a channel's send lease found."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select

from enishi.sending.models import ChannelLease

ROOT = Path(__file__).resolve().parents[2]
ENISHI = str(Path(sys.executable).with_name("enishi"))


def start_worker(
    env, log: Path, *, scale: float, lease_seconds: float, wait: bool = True
) -> subprocess.Popen:
    """`enishi worker` in its own process, with LINE's limits × `scale`, claims leased for
    `lease_seconds` and a 1 s request timeout; its log goes to a file (a pipe nobody reads
    would block it once full). With `wait`, returns once it runs."""
    settings = env.state.settings
    variables = {
        **os.environ,
        "ENISHI_DATABASE_URL": settings.database_url,
        "ENISHI_SECRET_KEY": settings.secret_key,
        "ENISHI_PUBLIC_BASE_URL": settings.public_base_url,
        "ENISHI_LINE_API_BASE": settings.line_api_base,
        "ENISHI_LINE_DATA_API_BASE": settings.line_data_api_base,
        "ENISHI_SQLITE_SYNCHRONOUS": "NORMAL",
        "ENISHI_DELIVERY_RATE_LIMIT_SCALE": str(scale),
        "ENISHI_DELIVERY_LEASE_SECONDS": str(lease_seconds),
        "ENISHI_DELIVERY_REQUEST_TIMEOUT": "1",
    }
    with log.open("ab") as stderr:
        process = subprocess.Popen(
            [ENISHI, "worker"], env=variables, cwd=ROOT, stdout=subprocess.PIPE, stderr=stderr
        )
    if wait:
        assert process.stdout is not None
        process.stdout.readline()  # "worker running"
    return process


def kill(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)


def sender(env, processes: list[subprocess.Popen]) -> subprocess.Popen | None:
    """The live worker holding the channel's send lease (holder = host:pid:random), if
    one does."""
    with env.state.sessions() as session:
        holder = session.scalar(select(ChannelLease.holder))
    pid = int(holder.split(":")[1]) if holder else None
    return next((p for p in processes if p.pid == pid and p.poll() is None), None)


def wait_for(predicate: Callable[[], Any], timeout: float, log: Path, state=None) -> Any:
    """Until `predicate()` gives something, which is returned; a stall raises with
    `state()` (what the test sees) and the workers' log."""
    deadline = time.monotonic() + timeout
    while not (found := predicate()):
        if time.monotonic() > deadline:
            seen = state() if state is not None else ""
            raise TimeoutError(f"{seen}\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.02)
    return found
