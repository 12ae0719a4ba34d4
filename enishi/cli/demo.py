"""`enishi demo`: enishi and the LINE emulator on one machine, with a living population.

Starts the emulator (in this process) and `enishi serve` (API, webhooks, tracked links,
dashboard and worker; a child process) on a SQLite file under `./demo/`, sets up an owner
login, an account wired to the emulator channel and inflow routes, lives through a
simulated history in which every follow, block, chat, click, order and member link
reaches enishi over its real paths and enishi's delivery engine sends weekly campaigns,
then prints the dashboard URL and the login and keeps running (the friends go on living in
real time, or faster with --speed). A second run reuses the demo; --fresh starts over.
See docs/demo.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer
import uvicorn
from rich.console import Console
from rich.table import Table

from enishi.app import build_state
from enishi.cli.demo_enishi import (
    ROUTES,
    DemoFiles,
    EnishiServer,
    Recorded,
    demo_settings,
    has_demo_account,
    is_empty,
    migrate,
    recorded,
    remove_sqlite_files,
    route_code,
    set_up_installation,
)
from enishi.cli.demo_history import History
from enishi.cli.emulator import build_emulator
from enishi.emulator.app import create_app
from enishi.emulator.state import Channel

DEMO_QUOTA = 100_000  # the emulator channel's monthly message quota


class DemoError(RuntimeError):
    """The demo cannot start (a busy port, a database that is not the demo's)."""


@dataclass
class DemoOptions:
    directory: Path = Path("demo")
    port: int = 8000
    emulator_port: int = 9000
    friends: int = 10_000
    days: int = 90
    seed: int = 1
    speed: float = 1.0
    fresh: bool = False
    exit_after: bool = False
    database_url: str | None = None  # default: sqlite:///<directory>/enishi.db


@dataclass
class DemoResult:
    files: DemoFiles
    dashboard_url: str
    reused: bool
    truth: dict[str, int]  # the emulator's ground truth
    recorded: Recorded  # what enishi recorded
    delivery_ids: list[int] = field(default_factory=list)
    generation_seconds: float = 0.0


def ground_truth(channel: Channel) -> dict[str, int]:
    friends = channel.friends.values()
    return {
        "friends": len(channel.friends),
        "following": sum(1 for f in friends if f.is_friend),
        "blocked": sum(1 for f in friends if f.blocked),
        "with_route": sum(1 for f in friends if f.traits.inflow_route in channel.route_pages),
        "members_linked": sum(1 for f in friends if f.linked_member_id),
        "delivery_clicks": sum(
            len(users) for urls in channel.link_clicks.values() for users in urls.values()
        ),
        "orders": len(channel.orders),
        "orders_reported": sum(1 for o in channel.orders if o["callback"] == "ok"),
        "revenue_jpy": sum(o["amount"] for o in channel.orders),
    }


class _EmbeddedServer(uvicorn.Server):
    """The emulator inside the demo's process: signals are the demo's to handle."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _serve(app: Any, port: int) -> tuple[uvicorn.Server, asyncio.Task]:
    server = _EmbeddedServer(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            with contextlib.suppress(SystemExit):
                task.result()
            raise DemoError(f"port {port} is busy / ポート {port} は使用中です")
        await asyncio.sleep(0.05)
    return server, task


def _wire_channel(channel: Channel, files: DemoFiles, base_url: str) -> None:
    """The channel's webhook, the virtual shop's order callback (with the API key, as a
    brand's EC system would report) and the route pages, at this run's enishi port."""
    channel.webhook_url = f"{base_url}/webhooks/line/{files.channel_id}"
    channel.shop_callback_url = f"{base_url}/api/v1/conversions"
    channel.shop_callback_headers = {"authorization": f"Bearer {files.api_key}"}
    channel.route_pages = {trait: f"{base_url}/r/{route_code(trait)}" for trait in ROUTES}


async def run_demo(options: DemoOptions, console: Console) -> DemoResult:
    # SIGTERM ends the demo like Ctrl-C does, so `enishi serve` is never left behind
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, asyncio.current_task().cancel)
    directory = options.directory
    directory.mkdir(parents=True, exist_ok=True)
    database_url = options.database_url or f"sqlite:///{directory / 'enishi.db'}"
    json_path, state_file = directory / "demo.json", directory / "emulator.pkl"
    emulator_base = f"http://127.0.0.1:{options.emulator_port}"

    files = None if options.fresh else DemoFiles.load(json_path)
    state, reused = None, False
    if files is not None and state_file.exists():
        settings = demo_settings(database_url, files.secret_key, options.port, emulator_base)
        migrate(settings)
        state = build_state(settings)
        reused = has_demo_account(state, files.channel_id)
        if not reused:
            state.close()
    if not reused:
        remove_sqlite_files(database_url)
        json_path.unlink(missing_ok=True)
        state_file.unlink(missing_ok=True)
        files = DemoFiles.new()
        settings = demo_settings(database_url, files.secret_key, options.port, emulator_base)
        migrate(settings)
        state = build_state(settings)
        if not is_empty(state):
            state.close()
            raise DemoError(
                f"{database_url} は空ではありません / is not empty: use an empty database"
            )
        set_up_installation(state, files)
        files.save(json_path)
    assert files is not None and state is not None

    emulator = build_emulator(
        specs=[
            {
                "channel_id": files.channel_id,
                "channel_secret": files.channel_secret,
                "access_token": files.access_token,
                "login_channel_id": files.login_channel_id,
                "display_name": "enishi cosmetics",
                "quota_limit": DEMO_QUOTA,
                "friends": 0,
            }
        ],
        seed=options.seed,
        rate_limit_scale=1.0,
        state_file=state_file,
        speed=0.0,
    )
    emulator.state.clock.set_speed(0.0)  # stopped while the demo lives time in stretches
    channel = emulator.state.channels[files.channel_id]
    enishi = EnishiServer(settings, options.port, directory / "enishi.log")
    _wire_channel(channel, files, enishi.base_url)
    try:
        emu_server, emu_task = await _serve(create_app(emulator), options.emulator_port)
    except BaseException:
        state.close()
        raise
    started = time.monotonic()
    history = History(
        emulator, channel, state, settings, files.account_id, files.api_key, console, options.seed
    )
    try:
        enishi.start()
        await enishi.wait_ready()
        if reused:
            console.print(f"既存のデモを再利用します / reusing the demo in {directory}/")
            with console.status("停止中の時間を生活中 / living the time the demo was stopped…"):
                await emulator.simulator.run_until(time.time())
        else:
            console.print(
                f"デモを作成します / creating the demo in {directory}/ "
                f"({options.friends:,} friends, {options.days} days)"
            )
            await history.run(options.days, options.friends)
        clock = emulator.state.clock
        clock.set(max(clock.now(), time.time()))
        await history.settle()
        emulator.save()
        result = DemoResult(
            files=files,
            dashboard_url=f"{enishi.base_url}/",
            reused=reused,
            truth=ground_truth(channel),
            recorded=await asyncio.to_thread(recorded, state, files.account_id),
            delivery_ids=history.delivery_ids,
            generation_seconds=time.monotonic() - started,
        )
        # from here on the friends live in real time (or --speed), and new ones keep coming
        channel.friend_growth_per_day = options.friends / options.days
        clock.set_speed(options.speed)
        _print_summary(console, result, options, emulator_base, directory)
        if not options.exit_after:
            console.print("\nCtrl-C で終了 / press Ctrl-C to stop")
            await _until_stopped()
            console.print("停止中 / stopping…")
        return result
    finally:
        await asyncio.to_thread(enishi.stop)
        emu_server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await emu_task
        state.close()


async def _until_stopped() -> None:
    """Until SIGINT (Ctrl-C) or SIGTERM; handlers of our own, so that a demo started in
    the background, where SIGINT is ignored, stops on it too."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        loop.remove_signal_handler(signal.SIGINT)
        loop.add_signal_handler(signal.SIGTERM, asyncio.current_task().cancel)


def _print_summary(
    console: Console,
    result: DemoResult,
    options: DemoOptions,
    emulator_base: str,
    directory: Path,
) -> None:
    truth, rec = result.truth, result.recorded
    table = Table(
        "", "エミュレーター / emulator (ground truth)", "enishi", title="デモの中身 / what is in it"
    )
    rows = [
        ("友だち / friends (ever added)", truth["friends"], rec.friends),
        ("フォロー中 / following", truth["following"], rec.following),
        ("ブロック / blocked", truth["blocked"], rec.blocked),
        ("流入経路あり / with an inflow route", truth["with_route"], rec.with_route),
        ("会員ID連携 / member IDs linked", truth["members_linked"], rec.members_linked),
        ("配信のクリック / delivery clicks", truth["delivery_clicks"], rec.delivery_clicks),
        ("購入・CV / orders → conversions", truth["orders"], rec.conversions),
        ("売上 / revenue (¥)", truth["revenue_jpy"], rec.revenue_jpy),
    ]
    for label, emulated, stored in rows:
        table.add_row(label, f"{emulated:,}", f"{stored:,}")
    console.print(table)
    what = "再利用 / reused" if result.reused else "生成 / generated"
    console.print(
        f"{what} in {result.generation_seconds:.0f} s · 配信 / deliveries: {rec.deliveries} · "
        f"アトリビューション / attributed conversions: {rec.attributed:,}"
    )
    speed = (
        "実時間 / real time"
        if options.speed == 1
        else f"×{options.speed:g} (1 real second = {options.speed:g} simulated seconds)"
    )
    console.print(
        f"""
[bold]管理画面 / dashboard[/]  {result.dashboard_url}
  メール / email      {result.files.email}
  パスワード / password  {result.files.password}

LINE emulator: {emulator_base}/_emulator · 時計 / clock: {speed}
データ / data: {directory}/ (enishi.db, emulator.pkl, demo.json, enishi.log) — --fresh で作り直し / to start over""",
        soft_wrap=True,
        highlight=False,
    )


def demo(
    port: int = typer.Option(8000, help="enishi's port (dashboard, API, webhooks)."),
    emulator_port: int = typer.Option(9000, help="The LINE emulator's port."),
    friends: int = typer.Option(10_000, help="Virtual friends who add the account."),
    days: int = typer.Option(90, min=2, help="Days of simulated history."),
    speed: float = typer.Option(
        1.0, min=0.0, help="Simulated seconds per real second once the demo runs."
    ),
    seed: int = typer.Option(1, help="Seed of the population and their behaviour."),
    directory: Path = typer.Option(Path("demo"), "--dir", help="Where the demo keeps its data."),
    fresh: bool = typer.Option(False, "--fresh", help="Delete the demo's data and start over."),
    exit_after: bool = typer.Option(False, "--exit", help="Print the summary and stop."),
) -> None:
    """Run enishi with the LINE emulator and a simulated history / デモを実行."""
    options = DemoOptions(
        directory=directory,
        port=port,
        emulator_port=emulator_port,
        friends=friends,
        days=days,
        seed=seed,
        speed=speed,
        fresh=fresh,
        exit_after=exit_after,
    )
    console = Console()
    try:
        asyncio.run(run_demo(options, console))
    except (KeyboardInterrupt, asyncio.CancelledError):  # Ctrl-C / SIGTERM while generating
        console.print("中断しました / interrupted")
    except DemoError as error:
        console.print(f"[red]エラー / error:[/] {error}")
        raise typer.Exit(2) from None
