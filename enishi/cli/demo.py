"""`enishi demo`: the whole loop on one machine, before the CRM exists.

Starts the LINE emulator with virtual friends and a small stand-in for a brand's server
(a signed-webhook receiver, a link redirector and a shop order endpoint), lives through a
month of history, sends a multicast with the official SDK, lets the friends react for two
simulated days, and prints what came back. Later issues replace the stand-in with enishi.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from typing import Any

import typer
import uvicorn
from linebot.v3 import WebhookParser
from linebot.v3.exceptions import InvalidSignatureError
from linebot.v3.messaging import (
    ApiClient,
    Configuration,
    MessagingApi,
    MulticastRequest,
    TextMessage,
)
from rich.console import Console
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from enishi.cli.emulator import build_emulator, print_channels
from enishi.emulator.app import create_app

console = Console()


class BrandStandIn:
    """What enishi will be: receives webhooks, redirects tracked links, takes orders."""

    def __init__(self, channel_secret: str) -> None:
        self.parser = WebhookParser(channel_secret)
        self.events: Counter[str] = Counter()
        self.bad_signatures = 0
        self.clicks: Counter[str] = Counter()
        self.orders: list[dict[str, Any]] = []

    async def webhook(self, request: Request) -> Response:
        body = (await request.body()).decode()
        try:
            events = self.parser.parse(body, request.headers.get("x-line-signature", ""))
        except InvalidSignatureError:
            self.bad_signatures += 1
            return Response(status_code=401)
        for event in events:
            self.events[event.type] += 1
        return Response(status_code=200)

    async def click(self, request: Request) -> Response:
        self.clicks[request.path_params["code"]] += 1
        return RedirectResponse("https://shop.example.com/sale", status_code=302)

    async def order(self, request: Request) -> Response:
        self.orders.append(await request.json())
        return JSONResponse({"ok": True})

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/webhook", self.webhook, methods=["POST"]),
                Route("/c/{code}", self.click, methods=["GET"]),
                Route("/orders", self.order, methods=["POST"]),
            ]
        )


async def _serve(app, port: int) -> tuple[uvicorn.Server, asyncio.Task]:
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # raises the startup error, e.g. the port is taken
        await asyncio.sleep(0.05)
    return server, task


def _multicast(base_url: str, token: str, user_ids: list[str], text: str) -> None:
    config = Configuration(host=base_url, access_token=token)
    with ApiClient(config) as client:
        MessagingApi(client).multicast(
            MulticastRequest(to=user_ids, messages=[TextMessage(text=text)])
        )


async def run_demo(
    port: int, friends: int, exit_after: bool, brand_port: int | None = None
) -> dict[str, Any]:
    emulator = build_emulator(
        specs=[{"friends": friends}], seed=1, rate_limit_scale=1.0, state_file=None, speed=0.0
    )
    channel = next(iter(emulator.state.channels.values()))
    brand = BrandStandIn(channel.channel_secret)
    brand_port = brand_port or port + 1
    brand_url = f"http://127.0.0.1:{brand_port}"
    channel.webhook_url = f"{brand_url}/webhook"
    channel.shop_callback_url = f"{brand_url}/orders"
    base_url = f"http://127.0.0.1:{port}"

    emu_server, emu_task = await _serve(create_app(emulator), port)
    brand_server, brand_task = await _serve(brand.app(), brand_port)
    try:
        print_channels(emulator, base_url)
        with console.status("30日分の履歴を生成中 / living through 30 days of history…"):
            await emulator.simulator.backfill(channel, 30, max(10, friends // 10))
            await emulator.webhooks.drain(timeout=600)
        following = [f.user_id for f in channel.friends.values() if f.is_friend][:500]
        text = f"週末セール開催中！スキンケア全品20%OFF 👉 {brand_url}/c/sale"
        await asyncio.to_thread(_multicast, base_url, channel.access_token, following, text)
        with console.status("2日間の反応をシミュレーション中 / two simulated days…"):
            await emulator.simulator.advance(2 * 24 * 3600)
            await emulator.webhooks.drain(timeout=600)
        summary = {
            "friends": len(channel.friends),
            "following": sum(1 for f in channel.friends.values() if f.is_friend),
            "webhook_events": dict(brand.events),
            "bad_signatures": brand.bad_signatures,
            "multicast_recipients": len(following),
            "link_clicks": sum(brand.clicks.values()),
            "orders": len(brand.orders),
            "revenue_jpy": sum(int(o.get("amount", 0)) for o in brand.orders),
        }
        _print_summary(summary, base_url, channel.channel_id)
        if not exit_after:
            console.print("\nCtrl-C で終了 / press Ctrl-C to stop")
            await asyncio.Event().wait()
        return summary
    finally:
        for server in (emu_server, brand_server):
            server.should_exit = True
        for task in (emu_task, brand_task):
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _print_summary(summary: dict[str, Any], base_url: str, channel_id: str) -> None:
    events = ", ".join(f"{k} {v:,}" for k, v in sorted(summary["webhook_events"].items()))
    console.print(f"""
[bold]デモ結果 / what happened[/]
  友だち / friends: {summary["friends"]:,} ({summary["following"]:,} following)
  署名付きWebhook / signed webhooks received: {events or "none"}
  マルチキャスト / multicast to {summary["multicast_recipients"]:,} friends (line-bot-sdk)
  リンククリック / link clicks: {summary["link_clicks"]:,}
  購入 / orders reported by the virtual shop: {summary["orders"]:,} \
(¥{summary["revenue_jpy"]:,})

[bold]試してみる / try it[/]
  curl {base_url}/_emulator
  curl {base_url}/_emulator/channels/{channel_id}/friends?limit=5
  curl -X POST {base_url}/_emulator/clock -d '{{"advance": 86400}}'
  Point line-bot-sdk's Configuration(host="{base_url}") at it — see docs/emulator.md.""")


def demo(
    port: int = typer.Option(9000, help="Emulator port (the stand-in brand server uses +1)."),
    friends: int = typer.Option(10000, help="Virtual friends following at the start."),
    exit_after: bool = typer.Option(False, "--exit", help="Stop after printing the results."),
) -> None:
    """Run the end-to-end demo against the LINE emulator / デモを実行."""
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_demo(port, friends, exit_after))
