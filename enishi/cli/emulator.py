"""`enishi emulator`: run the LINE platform emulator."""

from __future__ import annotations

import gc
import logging
from pathlib import Path

import typer
import uvicorn
from rich.console import Console

from enishi.emulator.app import create_app
from enishi.emulator.channels import channel_from_spec, load_config
from enishi.emulator.runtime import Emulator, load_state
from enishi.emulator.state import EmulatorState

console = Console()


def build_emulator(
    *,
    specs: list[dict],
    seed: int,
    rate_limit_scale: float,
    state_file: Path | None,
    speed: float,
) -> Emulator:
    """An emulator from saved state when the state file exists, else from channel specs."""
    state = load_state(state_file) if state_file else None
    if state is None:
        state = EmulatorState(seed=seed)
        state.clock.set_speed(speed)
        for spec in specs:
            state.add_channel(channel_from_spec({"seed": seed, **spec}, state))
    else:
        console.print(f"[green]状態を復元しました / restored state from {state_file}[/]")
    return Emulator.build(state, rate_limit_scale=rate_limit_scale, state_file=state_file)


def print_channels(emulator: Emulator, base_url: str) -> None:
    console.print("[bold]LINE platform emulator / LINEプラットフォーム・エミュレーター[/]")
    for channel in emulator.state.channels.values():
        following = sum(1 for f in channel.friends.values() if f.is_friend)
        console.print(
            f"  channel id      {channel.channel_id}\n"
            f"  channel secret  {channel.channel_secret}\n"
            f"  access token    {channel.access_token}\n"
            f"  friends         {following:,} following\n"
            f"  webhook         {channel.webhook_url or '(not set)'}\n",
            soft_wrap=True,
            highlight=False,
        )
    console.print(
        f"Messaging API base: [bold]{base_url}[/]  (use it where you would use "
        "https://api.line.me and https://api-data.line.me)\n"
        f"Control API: {base_url}/_emulator  — docs/emulator.md"
    )


def _calm_garbage_collector() -> None:
    """Inboxes grow by one object per recipient (100,000/s under multicast load); with the
    default thresholds the collector rescans millions of live objects in long pauses. The
    population is frozen out of collection and young generations are collected less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


def emulator(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(9000, help="Port to listen on."),
    channel_id: str = typer.Option("2000000001", help="Channel ID of the default channel."),
    channel_secret: str = typer.Option(None, help="Channel secret (generated when omitted)."),
    channel_token: str = typer.Option(None, help="Channel access token (generated when omitted)."),
    friends: int = typer.Option(1000, help="Virtual friends who already follow the channel."),
    seed: int = typer.Option(1, help="Random seed for the population and behaviour."),
    webhook_url: str = typer.Option(None, help="Where to send the channel's webhooks."),
    shop_callback_url: str = typer.Option(None, help="Where virtual friends report purchases."),
    quota: int = typer.Option(30000, help="Monthly message quota (0 = unlimited)."),
    rate_limit_scale: float = typer.Option(
        1.0, help="Multiply LINE's rate limits by this (0 turns limiting off)."
    ),
    speed: float = typer.Option(1.0, help="Simulated seconds per real second (0 freezes)."),
    state_file: Path = typer.Option(None, help="Keep state in this file across restarts."),
    config: Path = typer.Option(None, help="YAML/JSON file with several channels."),
    log_level: str = typer.Option("warning", help="uvicorn log level."),
) -> None:
    """Run a LINE Messaging API emulator with virtual friends (see docs/emulator.md)."""
    if config is not None:
        specs = load_config(config)
    else:
        specs = [
            {
                "channel_id": channel_id,
                "channel_secret": channel_secret,
                "access_token": channel_token,
                "friends": friends,
                "webhook_url": webhook_url,
                "shop_callback_url": shop_callback_url,
                "quota_limit": quota or None,
            }
        ]
    try:
        emu = build_emulator(
            specs=specs,
            seed=seed,
            rate_limit_scale=rate_limit_scale,
            state_file=state_file,
            speed=speed,
        )
    except ValueError as error:
        console.print(f"[red]エラー / error:[/] {error}")
        raise typer.Exit(2) from None
    print_channels(emu, f"http://{host}:{port}")
    _calm_garbage_collector()
    logging.basicConfig(level=logging.INFO)
    uvicorn.run(create_app(emu), host=host, port=port, log_level=log_level, access_log=False)
