"""Database fixtures: every database test runs on SQLite and, when ENISHI_TEST_DATABASE_URL
is set (CI sets it), on PostgreSQL too. Schemas are built by the real Alembic migrations."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import make_url

from enishi.accounts.service import create_account, create_api_key
from enishi.app import create_app
from enishi.audit.actor import Actor
from enishi.config import Settings
from enishi.db.engine import make_engine
from enishi.db.migrate import upgrade
from enishi.deps import AppState
from enishi.models import Base
from enishi.worker.registry import pollers
from enishi.worker.runner import Worker

PG_URL = os.environ.get("ENISHI_TEST_DATABASE_URL")
BACKENDS = ["sqlite", "postgresql"] if PG_URL else ["sqlite"]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """One migrated SQLite file per test session; each test gets a copy."""
    path = tmp_path_factory.mktemp("template") / "enishi.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_url(worker_id: str) -> Iterator[str]:
    """A database of this xdist worker's own, migrated once and emptied before each test."""
    base = make_url(PG_URL)
    name = f"{base.database}_{worker_id}"
    admin = make_engine(base.set(database="postgres").render_as_string(hide_password=False))
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    yield url
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path, sqlite_template) -> str:
    """An empty, migrated database on each backend under test."""
    if request.param == "sqlite":
        path = tmp_path / "enishi.db"
        shutil.copy(sqlite_template, path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("postgres_url")
    engine = make_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return url


@dataclass
class ApiAccount:
    """An account with an API key, as a test's REST client sees it."""

    id: int
    channel_id: str
    channel_secret: str
    access_token: str
    api_key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.api_key}"}


def make_settings(database_url: str, **overrides) -> Settings:
    values = {
        "database_url": database_url,
        "secret_key": "test-secret-key-not-for-production",
        "public_base_url": "http://testserver",
        "line_api_base": "http://127.0.0.1:9",  # nothing listens: tests that need LINE
        "line_data_api_base": "http://127.0.0.1:9",  # start the emulator and override
        "sqlite_synchronous": "NORMAL",
        "line_in_write_transaction": "raise",  # docs/decisions/0101-line-gateway.md
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def settings(database_url) -> Settings:
    return make_settings(database_url)


@pytest.fixture
def app(settings) -> FastAPI:
    """The app without its background worker: tests drive the worker themselves."""
    return create_app(settings, run_worker=False)


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def state(app) -> AppState:
    return app.state.enishi


@pytest.fixture
def worker(state) -> Worker:
    return Worker(state, pollers())


@pytest.fixture
def api_account(client, state) -> ApiAccount:
    """A connected channel with an API key (requires `client`, so the app is running)."""
    with state.sessions.begin() as session:
        account = create_account(
            session,
            state.box,
            name="テスト店",
            channel_id="2000000001",
            channel_secret="0123456789abcdef0123456789abcdef",
            access_token="token-abc",
        )
        _, key = create_api_key(session, account, "tests", actor=Actor.cli())
        account_id = account.id
    return ApiAccount(
        account_id, "2000000001", "0123456789abcdef0123456789abcdef", "token-abc", key
    )


# --- markers for the slow kinds (make test-fast leaves them out; make test runs all) -------
BROWSER_FIXTURES = {"browser"}
E2E_FIXTURES = {"start_e2e", "live_server"}  # enishi served over real HTTP to the emulator
CRASH_MODULES = ("test_crash", "test_serve")  # worker or server processes, killed or shared


def pytest_collection_modifyitems(items) -> None:
    """Mark each test by what it runs: `browser` (chromium), `e2e` (enishi served over
    HTTP, usually beside the emulator), `crash` (enishi processes started, killed)."""
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if fixtures & BROWSER_FIXTURES:
            item.add_marker(pytest.mark.browser)
        if fixtures & E2E_FIXTURES:
            item.add_marker(pytest.mark.e2e)
        if item.module is not None and item.module.__name__.rsplit(".", 1)[-1] in CRASH_MODULES:
            item.add_marker(pytest.mark.crash)
