"""The demo's simulated history: the emulator's virtual friends live `days` of it while
enishi records everything over its real paths, and the brand sends a weekly delivery
through enishi's own delivery engine on the way.

The emulator's clock is stopped; the history is lived in stretches (`run_until`) up to
each day's end and each delivery's send time. Before a delivery, enishi's worker catches up
with the webhooks; the delivery is then created and scheduled over enishi's REST API, sent
by enishi's worker to the emulator (which stamps it with the simulated time) and, once
done, moved to that simulated time in enishi's database (enishi stamps with the wall
clock). Friends then read, click `/c/{token}` links, buy (the shop reports to
`/api/v1/conversions`) and block in the following simulated hours. Each day some members
link their shop ID through enishi's member-link page.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from enishi.cli.demo_enishi import backdate_delivery, pending_events, utc
from enishi.config import Settings
from enishi.deps import AppState
from enishi.emulator import behaviour as bh
from enishi.emulator.clock import JST
from enishi.emulator.runtime import Emulator
from enishi.emulator.state import Channel
from enishi.members.service import link_page_url

DAY = 86400.0
DELIVERY_EVERY_DAYS = 7
FIRST_DELIVERY_DAY = 4
MEMBER_LINKS_PER_DAY = 0.006  # share of following, not yet linked members who link each day
SETTLE_TIMEOUT_S = 300.0
# The history is played in 6-hour steps (the emulator's default is 1 hour): each step waits
# for its link opens, then its order reports, then its webhooks, so steps cost round trips;
# within a step everything still happens in simulated order.
HISTORY_STEP_S = 6 * 3600.0


@dataclass(frozen=True)
class Campaign:
    name: str
    text: str
    hour_jst: int = 20
    holdout_share: float = 0.0


SHOP = "https://shop.example.com"
CAMPAIGNS = (
    Campaign(
        "新作美容液のご案内",
        "{{display_name|お客様}}さん、新作の保湿美容液が入荷しました✨ 化粧水とのセットもご用意"
        f"しています {SHOP}/skincare/new-serum",
        holdout_share=0.1,
    ),
    Campaign("週末セール", f"【週末限定セール】全品20%OFFクーポン配布中！ {SHOP}/sale/weekend"),
    Campaign(
        "秋の新作コスメ",
        f"{{{{display_name|お客様}}}}さんへ 秋の新作リップとアイシャドウが登場 {SHOP}/cosmetics/autumn",
        hour_jst=12,
    ),
    Campaign("スイーツフェア", f"期間限定のスイーツフェア開催中🍰 {SHOP}/sweets/fair"),
    Campaign(
        "ポイント2倍デー",
        f"本日はポイント2倍デー！お得なクーポンもお見逃しなく {SHOP}/sale/points",
        holdout_share=0.1,
    ),
    Campaign("アウトドア特集", f"週末はキャンプへ⛺ アウトドア特集はこちら {SHOP}/outdoor"),
    Campaign(
        "冬のスキンケア",
        "{{display_name|お客様}}さん、乾燥対策に保湿クリームはいかがですか "
        f"{SHOP}/skincare/winter",
    ),
    Campaign("健康習慣", f"毎日の健康習慣に。サプリメント新登場 {SHOP}/health", hour_jst=12),
)


def delivery_schedule(start: float, end: float) -> list[tuple[float, Campaign]]:
    """A campaign every week from day 4 of the history, at its hour in Japan time."""
    first = datetime.fromtimestamp(start, JST).date()
    plan, k = [], 0
    while True:
        day = first + timedelta(days=FIRST_DELIVERY_DAY + DELIVERY_EVERY_DAYS * k)
        campaign = CAMPAIGNS[k % len(CAMPAIGNS)]
        at = datetime(day.year, day.month, day.day, campaign.hour_jst, tzinfo=JST).timestamp()
        if at >= end - 3600:
            return plan
        plan.append((at, campaign))
        k += 1


class History:
    """Lives the history and sends the deliveries; `stats` counts what happened."""

    def __init__(
        self,
        emulator: Emulator,
        channel: Channel,
        state: AppState,
        settings: Settings,
        account_id: int,
        api_key: str,
        console: Console,
        seed: int,
    ) -> None:
        self.emulator, self.channel, self.state = emulator, channel, state
        self.settings, self.account_id, self.api_key = settings, account_id, api_key
        self.console = console
        self.rng = random.Random(f"enishi-demo:{seed}")
        self.stats: Counter = Counter()
        self.linking: set[str] = set()
        self.delivery_ids: list[int] = []

    async def run(self, days: int, friends: int) -> None:
        simulator = self.emulator.simulator
        step, simulator.step_seconds = simulator.step_seconds, HISTORY_STEP_S
        try:
            await self._live(simulator, days, friends)
        finally:
            simulator.step_seconds = step

    async def _live(self, simulator, days: int, friends: int) -> None:
        end = simulator.begin_backfill(self.channel, days, friends, seed=self.rng.getrandbits(62))
        start = end - days * DAY
        sends = dict(delivery_schedule(start, end))
        day_ends = {start + k * DAY for k in range(1, days)}
        stops = sorted(day_ends | set(sends) | {end})
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed:.0f}/{task.total:.0f}日 days"),
            TimeElapsedColumn(),
            TextColumn("{task.fields[tally]}"),
        )
        async with httpx.AsyncClient(
            base_url=self.settings.public_base_url,
            headers={"authorization": f"Bearer {self.api_key}"},
            timeout=30,
        ) as api:
            with Progress(*columns, console=self.console, transient=False) as progress:
                task = progress.add_task(
                    "履歴を生成中 / living through the history", total=days, tally=""
                )
                for stop in stops:
                    self.stats.update(await simulator.run_until(stop))
                    if stop in sends:
                        progress.update(
                            task, description=f"配信中 / sending 「{sends[stop].name}」"
                        )
                        await self.send(api, sends[stop], stop)
                        progress.update(
                            task, description="履歴を生成中 / living through the history"
                        )
                    if stop in day_ends:
                        self.schedule_member_links(stop)
                    progress.update(
                        task, completed=(stop - start) / DAY, tally=self.tally(len(sends))
                    )
        await self.settle()

    def tally(self, planned: int) -> str:
        s = self.stats
        return (
            f"友だち {s['follows']:,} · ブロック {s['blocks']:,} · クリック {s['clicks']:,} · "
            f"購入 {s['purchases']:,} · 配信 {len(self.delivery_ids)}/{planned}"
        )

    def schedule_member_links(self, day_start: float) -> None:
        """Some members who follow log in on the shop's site during the next day and link
        their LINE account on enishi's member-link page (the emulator opens it)."""
        simulator, rng = self.emulator.simulator, self.rng
        for user_id, friend in self.channel.friends.items():
            if (
                friend.is_friend
                and friend.traits.member_id
                and user_id not in self.linking
                and rng.random() < MEMBER_LINKS_PER_DAY
            ):
                self.linking.add(user_id)
                at = bh.next_active_time(rng, friend.traits, day_start + rng.random() * DAY)
                url = link_page_url(self.settings, self.account_id, user_id)
                simulator.schedule_open(self.channel, user_id, url, at)

    async def settle(self, timeout: float = SETTLE_TIMEOUT_S) -> None:
        """Every webhook sent and every stored event processed by enishi's worker."""
        await self.emulator.webhooks.drain(timeout=timeout)
        deadline = time.monotonic() + timeout
        while await asyncio.to_thread(pending_events, self.state):
            if time.monotonic() > deadline:
                raise TimeoutError("enishi's worker did not catch up with the webhooks")
            await asyncio.sleep(0.05)

    async def send(self, api: httpx.AsyncClient, campaign: Campaign, at: float) -> None:
        """One delivery to every following friend, through enishi's engine, at `at`."""
        await self.settle()
        body = {
            "name": campaign.name,
            "audience": {"type": "all"},
            "messages": [{"type": "text", "text": campaign.text}],
            "holdout_share": campaign.holdout_share,
            "seed": self.rng.getrandbits(32),
            "track_links": "friend",
        }
        response = await api.post("/api/v1/deliveries", json=body)
        response.raise_for_status()
        delivery_id = response.json()["id"]
        (await api.post(f"/api/v1/deliveries/{delivery_id}/schedule", json={})).raise_for_status()
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        while True:
            status = (await _get_json(api, f"/api/v1/deliveries/{delivery_id}"))["status"]
            if status == "done":
                break
            if status in ("failed", "cancelled", "paused") or time.monotonic() > deadline:
                raise RuntimeError(f"demo delivery {delivery_id} ended as {status}")
            await asyncio.sleep(0.1)
        await asyncio.to_thread(backdate_delivery, self.state, delivery_id, utc(at))
        self.delivery_ids.append(delivery_id)


async def _get_json(api: httpx.AsyncClient, path: str, attempts: int = 5) -> dict:
    """A GET that survives a dropped keep-alive connection (a busy server may close one
    just as it is reused)."""
    for attempt in range(1, attempts):
        try:
            return await _fetch_json(api, path)
        except httpx.TransportError:
            await asyncio.sleep(0.2 * attempt)
    return await _fetch_json(api, path)


async def _fetch_json(api: httpx.AsyncClient, path: str) -> dict:
    response = await api.get(path)
    response.raise_for_status()
    return response.json()
