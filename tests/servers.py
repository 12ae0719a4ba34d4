"""ASGI apps served for real (uvicorn in a background thread) on loopback ports.

A port is reserved by binding its socket before anything else happens and handed to uvicorn
as that socket: asking for a free port and binding it later lets another process (another
xdist worker, a subprocess) take it in between ("address already in use").
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time


def free_port() -> int:
    """A port that was free a moment ago, for servers in other processes (racy: prefer
    `ReservedPort` for servers in this process)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ReservedPort:
    """A loopback socket bound now; its port is ours until a ServerThread serves on it."""

    def __init__(self) -> None:
        # IPPROTO_TCP spelled out: asyncio sets TCP_NODELAY on accepted connections only when
        # the listening socket says TCP, and without it every answer waited ~40 ms for the
        # client's delayed ACK (Nagle)
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self.socket.bind(("127.0.0.1", 0))
        self.port: int = self.socket.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}"


class ServerThread(threading.Thread):
    """uvicorn serving `app` on a reserved port (a new one when none is given)."""

    def __init__(self, app, reserved: ReservedPort | None = None, *, lifespan: str = "on") -> None:
        super().__init__(daemon=True)
        import uvicorn

        self.reserved = reserved or ReservedPort()
        self.base_url = self.reserved.base_url
        config = uvicorn.Config(
            app, host="127.0.0.1", log_level="warning", access_log=False, lifespan=lifespan
        )
        self.server = uvicorn.Server(config)
        self.loop: asyncio.AbstractEventLoop | None = None

    def run(self) -> None:
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self.server.serve(sockets=[self.reserved.socket]))

    def wait_started(self, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.01)

    def begin(self) -> ServerThread:
        """Start and wait until it answers."""
        self.start()
        self.wait_started()
        return self

    def stop(self, timeout: float = 10) -> None:
        self.server.should_exit = True
        self.join(timeout=timeout)
