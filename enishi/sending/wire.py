"""A lean asyncio HTTP/1.1 client for LINE's sending endpoints (see kinds.py).

The official SDK (urllib3, one thread per request) spends ~0.5 ms of CPU per call: at
LINE's 2,000 pushes/s that is a whole core on a 2-core machine, measured. This client sends
the SDK's exact wire format — the same method, path, headers (`Authorization: Bearer`,
`Content-Type: application/json`, the SDK's User-Agent, `X-Line-Retry-Key`) and JSON body —
over kept-alive connections, and serves over 10,000 requests/s from one core. The SDK is
still used for everything else (validate, quota, profiles).
"""

from __future__ import annotations

import asyncio
import collections
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

USER_AGENT = "LINE-BotSDK-Python/3.27.0"
IDLE_REUSE_S = 4.0  # servers close idle keep-alive connections (uvicorn after 5 s)


class WireError(Exception):
    """No answer: a timeout or a broken connection (LINE may or may not have acted)."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind


@dataclass
class WireResponse:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes


@dataclass
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    used_at: float


class LineWire:
    """One channel's sending connection pool (one per access token)."""

    def __init__(self, base_url: str, access_token: str, *, timeout: float) -> None:
        parts = urlsplit(base_url)
        self.host = parts.hostname or "localhost"
        self.tls = parts.scheme == "https"
        self.port = parts.port or (443 if self.tls else 80)
        self.prefix = parts.path.rstrip("/")
        host_header = parts.netloc.rpartition("@")[2]
        self._head = (
            f"Host: {host_header}\r\nAuthorization: Bearer {access_token}\r\n"
            f"Content-Type: application/json\r\nUser-Agent: {USER_AGENT}\r\n"
        )
        self.timeout = timeout
        self._idle: collections.deque[_Connection] = collections.deque()
        self._ssl = ssl.create_default_context() if self.tls else None

    async def send(
        self, method: str, path: str, body: bytes, retry_key: str | None = None
    ) -> WireResponse:
        request = (
            f"{method} {self.prefix}{path} HTTP/1.1\r\n{self._head}"
            + (f"X-Line-Retry-Key: {retry_key}\r\n" if retry_key else "")
            + f"Content-Length: {len(body)}\r\n\r\n"
        ).encode("latin-1") + body
        # callers bound the number of requests in flight (one connection each)
        try:
            async with asyncio.timeout(self.timeout):
                connection = self._reuse()
                if connection is not None:
                    try:
                        return await self._exchange(connection, request)
                    except _Stale:  # closed while idle: the request never arrived
                        pass
                return await self._exchange(await self._open(), request)
        except TimeoutError:
            raise WireError("timeout", f"no answer within {self.timeout:g} s") from None
        except _Stale:
            raise WireError("connection", "closed before answering") from None
        except WireError:
            raise
        except (
            OSError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            ValueError,
        ) as error:
            raise WireError("connection", type(error).__name__) from None

    def _reuse(self) -> _Connection | None:
        now = time.monotonic()
        while self._idle:
            connection = self._idle.pop()
            if now - connection.used_at < IDLE_REUSE_S and not connection.reader.at_eof():
                return connection
            connection.writer.close()
        return None

    async def _open(self) -> _Connection:
        reader, writer = await asyncio.open_connection(
            self.host,
            self.port,
            ssl=self._ssl,
            server_hostname=self.host if self.tls else None,
            limit=1 << 20,
        )
        return _Connection(reader, writer, time.monotonic())

    async def _exchange(self, connection: _Connection, request: bytes) -> WireResponse:
        keep = False
        try:
            connection.writer.write(request)
            try:
                head = await connection.reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError as error:
                if not error.partial:
                    raise _Stale from None
                raise
            lines = head.decode("latin-1").split("\r\n")
            version, status, _ = lines[0].split(" ", 2)
            headers: dict[str, str] = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name:
                    headers[name.strip().lower()] = value.strip()
            body = await self._body(connection.reader, headers)
            keep = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
            return WireResponse(int(status), headers, body)
        finally:
            if keep:
                connection.used_at = time.monotonic()
                self._idle.append(connection)
            else:
                connection.writer.close()

    @staticmethod
    async def _body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
        if headers.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while True:
                line = await reader.readline()
                if not line.strip():  # closed mid-answer: no answer (see below)
                    raise WireError("connection", "answer cut off")
                size = int(line.split(b";")[0].strip(), 16)
                if size == 0:
                    while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(parts)
                parts.append(await reader.readexactly(size))
                await reader.readexactly(2)
        if "content-length" in headers:
            return await reader.readexactly(int(headers["content-length"]))
        # LINE always sends a length; an answer ended by a closed connection may be cut
        # short, so it is no answer at all (the retry key makes asking again safe)
        raise WireError("connection", "answer cut off")

    async def close(self) -> None:
        while self._idle:
            self._idle.pop().writer.close()


class _Stale(Exception):
    pass
