"""Dashboard fixtures: operators of each role, logged-in TestClients, and for browser tests
enishi served by uvicorn on a free port with Playwright driving Debian's /usr/bin/chromium."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from enishi.accounts.service import create_account
from enishi.app import create_app
from enishi.operators import passwords
from enishi.operators.roles import Role
from enishi.operators.service import create_operator, set_role
from tests.conftest import make_settings
from tests.emulator.conftest import start_emulator  # noqa: F401 - a fixture
from tests.servers import ReservedPort, ServerThread

PASSWORD = "correct horse battery"
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch) -> None:
    """Web tests create and log in operators thousands of times: argon2id at its lowest cost
    keeps each hash at ~1 ms instead of ~100 ms. Production's cost is untouched
    (tests/operators checks the real hasher's output)."""
    monkeypatch.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024))


def csrf_of(html: str) -> str:
    """The CSRF token a rendered page puts in its forms."""
    match = re.search(r'name="csrf_token" value="([0-9a-f]+)"', html)
    assert match, "the page has no CSRF field"
    return match.group(1)


def login(client: TestClient, email: str, password: str = PASSWORD, next_path: str = "/"):
    page = client.get("/login")
    return client.post(
        "/login",
        data={
            "email": email,
            "password": password,
            "next": next_path,
            "csrf_token": csrf_of(page.text),
        },
        follow_redirects=False,
    )


def add_account(state, name: str = "テスト店", channel_id: str = "2000000001") -> int:
    with state.sessions.begin() as session:
        account = create_account(
            session,
            state.box,
            name=name,
            channel_id=channel_id,
            channel_secret="0123456789abcdef0123456789abcdef",
            access_token="token-abc",
        )
        return account.id


def add_operator(
    state,
    email: str,
    role: Role | None,
    account_id: int | None,
    *,
    is_owner: bool = False,
    one_time: bool = False,
) -> int:
    """An operator with PASSWORD; `one_time`: they must change it at their first login."""
    with state.sessions.begin() as session:
        operator = create_operator(
            session,
            email=email,
            password=PASSWORD,
            name=email[:5],
            is_owner=is_owner,
            one_time=one_time,
        )
        if role is not None and account_id is not None:
            set_role(session, operator, account_id, role)
        return operator.id


@pytest.fixture
def account_id(client, state) -> int:
    return add_account(state)


@pytest.fixture
def login_as(app, state, account_id) -> Iterator[Callable[[Role], TestClient]]:
    """`login_as(Role.VIEWER)`: a new TestClient logged in as an operator with that role on
    `account_id` (Role.OWNER: an installation owner)."""
    clients: list[TestClient] = []

    def make(role: Role) -> TestClient:
        email = f"{role.key}{len(clients)}@example.jp"
        if role is Role.OWNER:
            add_operator(state, email, None, None, is_owner=True)
        else:
            add_operator(state, email, role, account_id)
        client = TestClient(app)
        clients.append(client)
        response = login(client, email)
        assert response.status_code == 303, response.text
        return client

    yield make
    for client in clients:
        client.close()


# Browser tests -------------------------------------------------------------------------


@dataclass
class LiveServer:
    base_url: str
    state: object
    account_id: int


@pytest.fixture
def live_server(database_url) -> Iterator[LiveServer]:
    """enishi on uvicorn in a thread, on a reserved port, with one account and its owner."""
    reserved = ReservedPort()
    settings = make_settings(database_url, public_base_url=reserved.base_url)
    app = create_app(settings, run_worker=False)
    thread = ServerThread(app, reserved).begin()
    state = app.state.enishi
    account = add_account(state)
    add_operator(state, "owner@example.jp", None, None, is_owner=True)
    yield LiveServer(reserved.base_url, state, account)
    thread.stop()


@pytest.fixture(scope="module")
def browser():
    """Chromium for one test module: Playwright's sync API keeps an asyncio loop running in
    the main thread while it lives, which would break async tests run later in the same
    worker process."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def browser_page(browser):
    context = browser.new_context(locale="ja-JP", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    yield page
    context.close()


SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture
def screenshot(tmp_path) -> Callable[..., Path]:
    """Take a page's picture: into docs/screenshots with ENISHI_SCREENSHOTS=1 (`make
    screenshots`), else into the test's temporary folder, so `make test` never rewrites
    tracked files. Either way the picture must come out."""
    folder = SCREENSHOTS if os.environ.get("ENISHI_SCREENSHOTS") == "1" else tmp_path

    def take(page, name: str, **options) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / name
        page.screenshot(path=str(path), **options)
        assert path.stat().st_size > 10_000, f"{name} came out empty"
        return path

    return take


def browser_login(page, base_url: str, email: str, password: str = PASSWORD) -> None:
    page.goto(f"{base_url}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


@pytest.fixture
def logged_in_page(browser_page, live_server):
    """A Chromium page logged in as the installation owner, on the account's overview."""
    browser_login(browser_page, live_server.base_url, "owner@example.jp")
    browser_page.wait_for_url(f"**/accounts/{live_server.account_id}/overview")
    return browser_page
