"""`enishi serve`, `enishi worker`, `enishi db upgrade`, `enishi account create`."""

from __future__ import annotations

import gc
import signal
import threading
from decimal import Decimal

import typer
import uvicorn
from fastapi import FastAPI
from rich.console import Console

from enishi.accounts.service import create_account, create_api_key
from enishi.app import build_state, create_app
from enishi.audit.actor import Actor
from enishi.config import get_settings
from enishi.db.engine import make_engine
from enishi.db.migrate import upgrade
from enishi.kit.errors import ApiError
from enishi.worker.registry import LANE_NAMES, lanes
from enishi.worker.runner import Lanes

console = Console()
HEALTHCHECK_SECONDS = 30  # a server process that answers no ping for this long is restarted
db_app = typer.Typer(help="Database / データベース", no_args_is_help=True)
account_app = typer.Typer(help="LINE accounts / アカウント", no_args_is_help=True)


def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, help="Port to listen on."),
    worker: bool = typer.Option(True, help="Run the background worker in this process."),
    migrate: bool = typer.Option(True, help="Apply database migrations first."),
    workers: int = typer.Option(
        1,
        min=1,
        help="Server processes sharing the port (for PostgreSQL; SQLite has one writer).",
    ),
) -> None:
    """Run the enishi server (web, API, webhooks) / サーバーを起動."""
    settings = get_settings()
    if migrate:
        _upgrade(settings.database_url, settings.sqlite_synchronous)
    options = {"host": host, "port": port, "log_level": settings.log_level, "access_log": False}
    if workers == 1:
        uvicorn.run(_frozen(create_app(settings, run_worker=worker)), **options)
        return
    # several processes: uvicorn imports the app in each; each runs a background worker,
    # which share the work as `enishi worker` processes do (docs/deliveries.md). A busy
    # host may keep a process from answering uvicorn's liveness ping for more than its
    # default 5 s; killing it then only adds a restart to the load.
    factory = "served_app" if worker else "served_app_without_worker"
    uvicorn.run(
        f"enishi.cli.server:{factory}",
        factory=True,
        workers=workers,
        timeout_worker_healthcheck=HEALTHCHECK_SECONDS,
        **options,
    )


def served_app() -> FastAPI:
    """One process of `enishi serve --workers N`."""
    return _frozen(create_app(get_settings(), run_worker=True))


def served_app_without_worker() -> FastAPI:
    """One process of `enishi serve --workers N --no-worker`."""
    return _frozen(create_app(get_settings(), run_worker=False))


def _frozen(app: FastAPI) -> FastAPI:
    """Everything loaded so far lives as long as the process: keep it out of the cyclic
    GC's scans, which otherwise took a sixth of the CPU of each tracked-link click."""
    gc.collect()
    gc.freeze()
    return app


def worker(
    lane_list: str = typer.Option(
        ",".join(LANE_NAMES),
        "--lanes",
        help="Comma-separated lanes to run in this process / このプロセスで動かすレーン "
        f"({', '.join(LANE_NAMES)}).",
    ),
) -> None:
    """Run background workers only (several may share one PostgreSQL) / ワーカーを起動."""
    chosen = [name.strip() for name in lane_list.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(LANE_NAMES))
    if unknown or not chosen:
        raise typer.BadParameter(
            f"不明なレーンです: {', '.join(unknown) or '(なし)'}（使えるのは "
            f"{', '.join(LANE_NAMES)}） / unknown lanes: {', '.join(unknown) or '(none)'}",
            param_hint="--lanes",
        )
    state = build_state(get_settings())
    runner = Lanes(state, {name: pollers for name, pollers in lanes().items() if name in chosen})
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    runner.start()
    console.print(f"ワーカー稼働中 / worker running ({', '.join(chosen)}) — Ctrl-C to stop")
    stop.wait()
    runner.stop()
    state.close()


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply migrations to ENISHI_DATABASE_URL / マイグレーションを適用."""
    settings = get_settings()
    _upgrade(settings.database_url, settings.sqlite_synchronous)
    console.print("[green]データベースは最新です / database is up to date[/]")


def _upgrade(url: str, synchronous: str) -> None:
    engine = make_engine(url, sqlite_synchronous=synchronous)
    try:
        upgrade(engine)
    finally:
        engine.dispose()


@account_app.command("create")
def account_create(
    name: str = typer.Option(..., help="Display name of the account."),
    channel_id: str = typer.Option(..., help="Messaging API channel ID."),
    channel_secret: str = typer.Option(
        ..., prompt=True, hide_input=True, help="Channel secret (prompted when omitted)."
    ),
    access_token: str = typer.Option(
        ..., prompt=True, hide_input=True, help="Channel access token (prompted when omitted)."
    ),
    cost_per_message: str = typer.Option("3", help="Cost of one message in JPY (for ROAS)."),
    quota: int = typer.Option(None, help="Monthly message quota of the plan."),
    login_channel_id: str = typer.Option(None, help="LINE Login channel for ID tokens."),
) -> None:
    """Connect a LINE channel and print its first API key (shown once) / アカウント登録."""
    settings = get_settings()
    _upgrade(settings.database_url, settings.sqlite_synchronous)
    state = build_state(settings)
    try:
        with state.sessions.begin() as session:
            account = create_account(
                session,
                state.box,
                name=name,
                channel_id=channel_id,
                channel_secret=channel_secret,
                access_token=access_token,
                cost_per_message_jpy=Decimal(cost_per_message),
                monthly_quota=quota,
                login_channel_id=login_channel_id,
            )
            _, key = create_api_key(session, account, "cli", actor=Actor.cli())
            account_id = account.id
    except ApiError as error:
        console.print(f"[red]エラー / error:[/] {error.message}")
        raise typer.Exit(2) from None
    finally:
        state.close()
    base = settings.public_base_url
    console.print(
        f"アカウントを登録しました / account {account_id} created\n"
        f"  Webhook URL: {base}/webhooks/line/{channel_id}\n"
        f"  API key (一度だけ表示 / shown once): {key}",
        soft_wrap=True,
    )
