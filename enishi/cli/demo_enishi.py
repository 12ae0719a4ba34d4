"""The enishi side of `enishi demo`: the demo's files, the installation it sets up (owner
login, account, API key, inflow routes), the `enishi serve` process, and what the
dashboard will show, read back from the database. Imports nothing from the emulator."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
from sqlalchemy import func, select, update
from sqlalchemy.engine import make_url

from enishi.accounts.models import Account
from enishi.accounts.service import create_account, create_api_key
from enishi.audit.actor import Actor
from enishi.audit.service import record
from enishi.config import Settings
from enishi.db.engine import make_engine
from enishi.db.migrate import upgrade
from enishi.delivery.models import Delivery, DeliveryRecipient
from enishi.delivery.outbound import requests_of
from enishi.deps import AppState
from enishi.friends.models import Friend
from enishi.inflow.service import create_route
from enishi.operators.service import create_operator
from enishi.sending.models import OutboundRequest
from enishi.tracking.models import Click, Conversion, Link
from enishi.webhook.models import PENDING, WebhookEvent

OWNER_EMAIL = "demo@example.com"
ACCOUNT_NAME = "デモ店 enishi cosmetics"
# the emulator's inflow-route traits that get a route page, and the route's name in enishi
ROUTES = {
    "instagram": "Instagram投稿",
    "store_qr": "店頭QRコード",
    "web_banner": "Webバナー",
    "flyer": "チラシ",
    "line_ads": "LINE広告",
}


def route_code(trait: str) -> str:
    """The route's code, /r/{code}: the trait, spelled for a URL (store_qr -> store-qr)."""
    return trait.replace("_", "-")


@dataclass
class DemoFiles:
    """What a later `enishi demo` needs to reuse the demo (kept in demo.json, mode 0600:
    it holds the demo's secret key and owner password)."""

    secret_key: str
    email: str
    password: str
    channel_id: str
    channel_secret: str
    access_token: str
    login_channel_id: str
    api_key: str = ""
    account_id: int = 0

    @classmethod
    def new(cls) -> DemoFiles:
        return cls(
            secret_key=secrets.token_urlsafe(48),
            email=OWNER_EMAIL,
            password=secrets.token_urlsafe(12),
            channel_id="2000000001",
            channel_secret=secrets.token_hex(16),
            access_token=secrets.token_urlsafe(96),
            login_channel_id="1650000001",
        )

    @classmethod
    def load(cls, path: Path) -> DemoFiles | None:
        if not path.exists():
            return None
        try:
            return cls(**json.loads(path.read_text(encoding="utf-8")))
        except (ValueError, TypeError):
            return None

    def save(self, path: Path) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(asdict(self), f, ensure_ascii=False, indent=2)


def remove_sqlite_files(database_url: str) -> None:
    """--fresh: delete the demo's SQLite database (and its WAL files)."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database:
        return
    for suffix in ("", "-wal", "-shm"):
        Path(url.database + suffix).unlink(missing_ok=True)


def demo_settings(database_url: str, secret_key: str, port: int, emulator_base: str) -> Settings:
    return Settings(
        database_url=database_url,
        secret_key=secret_key,
        public_base_url=f"http://127.0.0.1:{port}",
        line_api_base=emulator_base,
        line_data_api_base=emulator_base,
        line_access_base=emulator_base,
        trust_emulator_headers=True,
        sqlite_synchronous="NORMAL",  # a demo: speed over surviving a power cut
        log_level="warning",
    )


def server_environment(settings: Settings) -> dict[str, str]:
    """`enishi serve`'s environment: the same settings, as ENISHI_* variables."""
    values = {
        "DATABASE_URL": settings.database_url,
        "SECRET_KEY": settings.secret_key,
        "PUBLIC_BASE_URL": settings.public_base_url,
        "LINE_API_BASE": settings.line_api_base,
        "LINE_DATA_API_BASE": settings.line_data_api_base,
        "LINE_ACCESS_BASE": settings.line_access_base,
        "TRUST_EMULATOR_HEADERS": "true",
        "SQLITE_SYNCHRONOUS": settings.sqlite_synchronous,
        "LOG_LEVEL": settings.log_level,
    }
    return {**os.environ, **{f"ENISHI_{k}": v for k, v in values.items()}}


def migrate(settings: Settings) -> None:
    engine = make_engine(settings.database_url, sqlite_synchronous=settings.sqlite_synchronous)
    try:
        upgrade(engine)
    finally:
        engine.dispose()


def has_demo_account(state: AppState, channel_id: str) -> bool:
    with state.sessions() as session:
        return (
            session.scalar(select(Account.id).where(Account.channel_id == channel_id)) is not None
        )


def is_empty(state: AppState) -> bool:
    with state.sessions() as session:
        return session.scalar(select(func.count()).select_from(Account)) == 0


def set_up_installation(state: AppState, files: DemoFiles) -> dict[str, str]:
    """The owner login, the account wired to the emulator channel, an API key for the
    virtual shop, and one inflow route per route trait. Returns trait -> route code."""
    actor = Actor.cli()
    with state.sessions.begin() as session:
        owner = create_operator(
            session, email=files.email, password=files.password, name="デモオーナー", is_owner=True
        )
        record(
            session,
            actor=actor,
            action="operator.created",
            target=f"operator:{owner.id}",
            details={"email": owner.email, "owner": True, "via": "demo"},
        )
        account = create_account(
            session,
            state.box,
            name=ACCOUNT_NAME,
            channel_id=files.channel_id,
            channel_secret=files.channel_secret,
            access_token=files.access_token,
            cost_per_message_jpy=Decimal("3"),
            login_channel_id=files.login_channel_id,
        )
        _, files.api_key = create_api_key(
            session, account, "virtual shop (demo)", actor=Actor.cli()
        )
        files.account_id = account.id
        return {
            trait: create_route(session, account, name, code=route_code(trait), actor=actor).code
            for trait, name in ROUTES.items()
        }


def pending_events(state: AppState) -> int:
    with state.sessions() as session:
        return session.scalar(select(func.count()).where(WebhookEvent.status == PENDING)) or 0


def backdate_delivery(state: AppState, delivery_id: int, sent_at: datetime) -> None:
    """enishi stamps a delivery with the wall clock; one sent during the simulated history
    is moved to the simulated instant it reached the friends, keeping its inner spacing,
    so its report window and the dashboard's dates line up with the clicks and orders."""
    with state.sessions.begin() as session:
        delivery = session.get(Delivery, delivery_id)
        if delivery is None or delivery.started_at is None:
            return
        shift = sent_at - delivery.started_at

        def moved(value: datetime | None) -> datetime | None:
            return None if value is None else value + shift

        for name in ("send_at", "created_at", "started_at", "planned_at", "finished_at"):
            setattr(delivery, name, moved(getattr(delivery, name)))
        requests = session.execute(
            select(
                OutboundRequest.id,
                OutboundRequest.due_at,
                OutboundRequest.first_attempt_at,
                OutboundRequest.sent_at,
            ).where(requests_of(delivery_id))
        ).all()
        if requests:
            session.execute(
                update(OutboundRequest),
                [
                    {"id": i, "due_at": moved(d), "first_attempt_at": moved(f), "sent_at": moved(s)}
                    for i, d, f, s in requests
                ],
            )
        recipients = session.execute(
            select(DeliveryRecipient.friend_id, DeliveryRecipient.sent_at).where(
                DeliveryRecipient.delivery_id == delivery_id,
                DeliveryRecipient.sent_at.is_not(None),
            )
        ).all()
        if recipients:
            session.execute(
                update(DeliveryRecipient),
                [
                    {"delivery_id": delivery_id, "friend_id": f, "sent_at": moved(s)}
                    for f, s in recipients
                ],
            )
        session.execute(
            update(Link)
            .where(Link.delivery_id == delivery_id)
            .values(created_at=sent_at - timedelta(minutes=5))
        )


@dataclass
class Recorded:
    """What enishi recorded, read back from its database (compared with the emulator)."""

    friends: int
    following: int
    blocked: int
    with_route: int
    members_linked: int
    delivery_clicks: int
    conversions: int
    attributed: int
    revenue_jpy: int
    deliveries: int


def recorded(state: AppState, account_id: int) -> Recorded:
    with state.sessions() as session:

        def count(*where) -> int:
            return (
                session.scalar(
                    select(func.count())
                    .select_from(Friend)
                    .where(Friend.account_id == account_id, *where)
                )
                or 0
            )

        conversions = session.execute(
            select(
                func.count(),
                func.count(Conversion.attributed_click_id),
                func.coalesce(func.sum(Conversion.amount_jpy), 0),
            ).where(Conversion.account_id == account_id)
        ).one()
        return Recorded(
            friends=count(),
            following=count(Friend.status == "following"),
            blocked=count(Friend.status == "blocked"),
            with_route=count(Friend.inflow_route_id.is_not(None)),
            members_linked=count(Friend.member_id.is_not(None)),
            delivery_clicks=session.scalar(
                select(func.count())
                .select_from(Click)
                .where(Click.account_id == account_id, Click.delivery_id.is_not(None))
            )
            or 0,
            conversions=conversions[0],
            attributed=conversions[1],
            revenue_jpy=int(conversions[2]),
            deliveries=session.scalar(
                select(func.count()).select_from(Delivery).where(Delivery.account_id == account_id)
            )
            or 0,
        )


class EnishiServer:
    """`enishi serve` (API, webhooks, tracked links, dashboard and the worker) as a child
    process, its output in a log file; stopped with SIGINT like Ctrl-C would."""

    def __init__(self, settings: Settings, port: int, log_path: Path) -> None:
        self.settings, self.port, self.log_path = settings, port, log_path
        self.base_url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        command = [sys.executable, "-m", "enishi.cli.main", "serve", "--port", str(self.port)]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                command,
                env=server_environment(self.settings),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    async def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=2) as client:
            while time.monotonic() < deadline:
                if self.process is not None and self.process.poll() is not None:
                    raise RuntimeError(f"enishi serve exited; see {self.log_path}")
                try:
                    if (await client.get(f"{self.base_url}/login")).status_code < 500:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
        raise RuntimeError(
            f"enishi serve did not start within {timeout:.0f} s; see {self.log_path}"
        )

    def stop(self, timeout: float = 20) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def utc(epoch_seconds: float) -> datetime:
    return datetime.fromtimestamp(epoch_seconds, UTC)
