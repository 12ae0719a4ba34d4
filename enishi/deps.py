"""What every request can reach: settings, database, group writer, secrets, LINE gateways."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from fastapi import Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from enishi.config import Settings
from enishi.db.writer import GroupWriter
from enishi.kit.crypto import SecretBox
from enishi.line.gateway import LineGateway


class SealedAccount(Protocol):
    """An account as line_for reads it (deps sits below the accounts domain)."""

    id: int
    access_token_sealed: str


@dataclass
class AppState:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    writer: GroupWriter
    box: SecretBox
    secret_key: str
    _line_gateways: dict[tuple[int, str, str], LineGateway] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def line_for(self, account: SealedAccount) -> LineGateway:
        """The account's LINE gateway (re-created when its sealed token or LINE's host
        changes). Doors call it and hand the gateway to services as `line=`."""
        key = (account.id, account.access_token_sealed, self.settings.line_api_base)
        with self._lock:
            gateway = self._line_gateways.get(key)
            if gateway is None:
                gateway = LineGateway(self.settings, self.box.open(account.access_token_sealed))
                self._line_gateways[key] = gateway
            return gateway

    def close(self) -> None:
        for gateway in self._line_gateways.values():
            gateway.close()
        self.engine.dispose()


def app_state(request: Request) -> AppState:
    return request.app.state.enishi


def db_session(request: Request) -> Iterator[Session]:
    """One transaction per request: committed when the handler returns, rolled back if it
    raises. Services never commit.

    Always depend on it as `Depends(db_session, scope="function")`: with the default scope
    FastAPI runs the commit after the response is sent, so a client could read stale data
    or be told "done" about a transaction that then fails (tests/test_layout.py checks).
    """
    session = request.app.state.enishi.sessions()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
