"""Virtual friends living in simulated time, reported the way LINE and a shop would.

`run_until(t)` lives through the time up to `t` for every channel: it takes the deliveries
that reached friends since the last run (`channel.pending_reactions`), decides once per
delivery when it is read and whether it is clicked, tapped or makes the friend block, puts
those actions and the friends' organic behaviour (follows, blocks, chats, store visits,
purchases) on a per-channel timeline, and plays the timeline in time order. Every user action
becomes the webhook event(s) LINE would send; purchases are POSTed to the brand's shop
callback. The rules are in behaviour.py; the model is in docs/emulator-friends.md.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections import Counter
from heapq import heappop
from itertools import islice
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx

from enishi.emulator import behaviour as bh
from enishi.emulator.behaviour import DAY, PARAMS, ChannelSim, Params
from enishi.emulator.events import make_event, sticker_message, text_message
from enishi.emulator.idtokens import issue_id_token
from enishi.emulator.population import (
    ORDER_KEYS,
    ActivityPool,
    arrivals,
    basket,
    chat_text,
    generate_friends,
    make_order,
    sticker,
)
from enishi.emulator.state import Channel, EmulatorState, Friend
from enishi.emulator.webhooks import WebhookSender

log = logging.getLogger(__name__)

STEP_S = 3600.0  # the timeline is played in steps of simulated time; webhooks flush after each
MAX_HOPS = 10
LINK_TIMEOUT_S = 5.0
# real seconds between the 5 attempts to report an order: a shop retries for a few seconds
CALLBACK_DELAYS = (0.05, 0.25, 1.0, 2.0)
LOG_LIMIT = 5000
HTTP_CONCURRENCY = 32
DRAIN_TIMEOUT_S = 5.0


class SimulationError(ValueError):
    """A single action that cannot happen (unknown user, not a friend, nothing to tap)."""


class Simulator:
    """Drives every channel's virtual friends; one per emulator server.

    Living through time: `run_until(t)`, `advance(seconds)`, `backfill(channel, days, n)`.
    Single actions (each sends exactly the webhook events LINE would): `follow`, `block`,
    `send_text`, `send_sticker`, `tap_postback`, `tap_quick_reply`, `enter_beacon`,
    `account_link`; and outside LINE: `open_link` (a real GET) and `purchase` (an order
    POSTed to the brand's shop callback). Impossible actions raise SimulationError.
    """

    def __init__(
        self,
        state: EmulatorState,
        webhooks: WebhookSender,
        http: httpx.AsyncClient | None = None,
        *,
        seed: int = 0,
        params: Params = PARAMS,
        step_seconds: float = STEP_S,
    ) -> None:
        self.state, self.webhooks, self.seed = state, webhooks, seed
        self.params, self.step_seconds = params, step_seconds
        self._http, self._own_http = http, False
        self._features = bh.FeatureCache()
        self._pools: dict[str, tuple[ActivityPool, dict]] = {}
        self._lock = asyncio.Lock()
        self._dead_hosts: dict[str, float] = {}  # host -> real time until which it is skipped
        self._flushed = True
        self._reports: list = []  # this step's order reports, sent once its links are opened

    async def aclose(self) -> None:
        if self._own_http and self._http is not None:
            await self._http.aclose()
            self._http, self._own_http = None, False

    # --- living through time ---------------------------------------------------------------
    async def advance(self, seconds: float) -> dict:
        return await self.run_until(self.state.clock.now() + seconds)

    async def run_until(self, t: float) -> dict:
        async with self._lock:
            counts: Counter = Counter()
            clock, channels = self.state.clock, list(self.state.channels.values())
            s = min([self._sim(c).last_t for c in channels] + [t])
            pace = True  # wait for each step's webhooks, unless the endpoint is too slow
            while True:
                until = min(t, s + self.step_seconds)
                io: list = []
                for channel in channels:
                    self._live(channel, self._sim(channel), until, counts, io)
                if clock.now() < until:
                    clock.set(until)
                if io:
                    await self._gather(io)
                if self._reports:  # after the step's link opens: the click before its order
                    reports, self._reports = self._reports, []
                    await self._gather(reports)
                pace = await self._flush(pace)
                s = until
                if s >= t:
                    return dict(counts)

    async def backfill(
        self, channel: Channel, days: float, new_friends: int, *, seed: int | None = None
    ) -> dict:
        """Live `days` of history ending now, with `new_friends` following during it."""
        end = self.begin_backfill(channel, days, new_friends, seed=seed)
        return await self.run_until(end)

    def begin_backfill(
        self, channel: Channel, days: float, new_friends: int, *, seed: int | None = None
    ) -> float:
        """Set the clock back `days` and put `new_friends` follows on the timeline; returns
        the end (now). The caller lives the history with `run_until`, in one go or in
        stretches, e.g. to send deliveries from a CRM on the way (the demo does)."""
        clock = self.state.clock
        end = clock.now()
        start = end - days * DAY
        sim = self._sim(channel)
        clock.set(start)
        sim.last_t = min(sim.last_t, start)
        rng = sim.rng
        batch_seed = rng.getrandbits(62) if seed is None else seed
        for friend in generate_friends(new_friends, seed=batch_seed, now=end, following=False):
            if friend.user_id in channel.friends:
                continue
            at = bh.next_active_time(rng, friend.traits, start + rng.random() * (end - start))
            sim.push(
                at if at < end else start + rng.random() * (end - start),
                "follow_new",
                friend.user_id,
                friend,
            )
        return end

    def _sim(self, channel: Channel) -> ChannelSim:
        sim = channel.simulation
        if not isinstance(sim, ChannelSim):
            rng = random.Random(f"enishi-sim:{self.seed}:{channel.channel_id}")
            sim = channel.simulation = ChannelSim(rng, self.state.clock.now())
        return sim

    def _live(
        self, channel: Channel, sim: ChannelSim, until: float, counts: Counter, io: list
    ) -> None:
        pending = channel.pending_reactions
        if pending:
            channel.pending_reactions = []
            reads, unread = bh.react(pending, channel, sim, until, self._features, self.params)
            counts["reads"] += reads
            counts["unread"] += unread
        bh.apply_reads(sim, until, self.params)
        if until > sim.last_t:
            self._schedule_organic(channel, sim, sim.last_t, until)
            sim.last_t = until
        timeline, friends, rand, p = sim.timeline, channel.friends, sim.rng.random, self.params
        while timeline and timeline[0][0] <= until:
            at, _, kind, user_id, payload = heappop(timeline)
            friend = payload if kind == "follow_new" else friends.get(user_id)
            if friend is None or (
                kind in bh.ORGANIC and rand() >= bh.organic_chance(kind, friend, at, p)
            ):
                continue
            getattr(self, "_do_" + kind)(channel, sim, at, friend, payload, counts, io)

    async def _gather(self, jobs: list) -> None:
        """Run this step's link opens and order reports, a few at a time."""
        limit = asyncio.Semaphore(HTTP_CONCURRENCY)

        async def one(job):
            async with limit:
                await job

        await asyncio.gather(*(one(job) for job in jobs))

    async def _flush(self, pace: bool) -> bool:
        """Let the step's webhooks go out so the CRM sees events in simulated order."""
        await asyncio.sleep(0)
        if self._flushed or not pace:
            return pace
        self._flushed = True
        try:
            await self.webhooks.drain(timeout=DRAIN_TIMEOUT_S)
            return True
        except TimeoutError:
            log.warning("webhook endpoint too slow; no longer waiting for it in this run")
            return False

    # --- organic behaviour ------------------------------------------------------------------
    def _pool(self, channel: Channel) -> ActivityPool:
        friends = channel.friends
        pool, source = self._pools.get(channel.channel_id, (None, None))
        if pool is None or source is not friends or len(pool.friends) > len(friends):
            pool = ActivityPool()
            self._pools[channel.channel_id] = (pool, friends)
        if len(pool.friends) < len(friends):
            pool.extend(
                list(islice(friends.values(), len(pool.friends), None)),
                self.params.rich_menu_taps_per_day,
            )
        return pool

    def _schedule_organic(self, channel: Channel, sim: ChannelSim, a: float, b: float) -> None:
        rng, p, push = sim.rng, self.params, sim.push
        pool = self._pool(channel)
        n = len(pool.friends)
        kinds = (
            ["chat", "buy"]
            + ["visit"] * bool(channel.beacon_hwids)
            + ["menu"] * bool(channel.rich_menus)
        )
        for kind in kinds:
            for at in arrivals(rng, pool.total(kind) / DAY, a, b):
                push(at, kind, pool.pick(rng, kind).user_id)
        for kind, per_day in (
            ("organic_block", p.organic_block_per_day),
            ("unblock", p.unblock_per_day),
            ("reengage", p.reengage_per_day),
        ):
            for at in arrivals(rng, n * per_day / DAY, a, b):
                push(at, kind, pool.friends[int(rng.random() * n)].user_id)
        if channel.friend_growth_per_day > 0:
            times = arrivals(rng, channel.friend_growth_per_day / DAY, a, b)
            batch = generate_friends(len(times), seed=rng.getrandbits(62), now=b, following=False)
            for at, friend in zip(times, batch, strict=True):
                push(at, "follow_new", friend.user_id, friend)

    # --- timeline actions: _do_<kind>(channel, sim, t, friend, payload, counts, io) ---------
    def _do_follow_new(self, channel, sim, t, friend, _, counts, io) -> None:
        existing = channel.friends.setdefault(friend.user_id, friend)
        if not existing.is_friend and existing.first_followed_at is None:
            events = self._follow(channel, friend.user_id, t, sim)
            page = channel.route_pages.get(existing.traits.inflow_route)
            if page:
                io.append(self._visit_route_page(channel, existing, page, t, events))
                counts["route_visits"] += 1
            else:
                self._emit(channel, events)
            counts["follows"] += 1

    async def _visit_route_page(
        self, channel: Channel, friend: Friend, url: str, t: float, follow: list[dict]
    ) -> None:
        """The friend opens the route page inside LINE, whose LIFF script sends their ID
        token, and then adds the account: the follow is sent only once the visit was
        answered, so the CRM can attribute it. A failed visit does not stop the follow."""
        visited_at = t - self.params.route_visit_lead_s * (
            0.2 + 0.8 * self._sim(channel).rng.random()
        )
        token = issue_id_token(channel, friend, self.state.clock.now())
        headers = {
            "user-agent": bh.USER_AGENTS.get(friend.traits.app_type, bh.USER_AGENTS["ios"]),
            "accept-language": friend.language,
            "x-emulator-sim-time": f"{visited_at:.3f}",
        }
        try:
            response = await self._client().post(
                url.rstrip("/") + "/visit", json={"id_token": token}, headers=headers
            )
            if not response.is_success:
                channel.count("route_visit_errors")
        except Exception:  # an unreachable page must not stop time
            channel.count("route_visit_errors")
        self._emit(channel, follow)

    def _do_unblock(self, channel, sim, t, friend, _, counts, io) -> None:
        self._emit(channel, self._follow(channel, friend.user_id, t, sim))
        counts["unblocks"] += 1

    def _do_block(self, channel, sim, t, friend, sent_at, counts, io) -> None:
        # a fatigue block (payload: when the last straw arrived) or an organic one
        if friend.is_friend and (sent_at is None or (friend.followed_at or 0) <= sent_at):
            self._emit(channel, self._block(channel, friend, t))
            counts["blocks"] += 1

    _do_organic_block = _do_block

    def _do_reengage(self, channel, sim, t, friend, _, counts, io) -> None:
        fresh = 0.3 + 0.6 * sim.rng.random()
        if bh.interest_at(friend, t, self.params) < fresh:
            friend.interest, friend.interest_at = fresh, t
            counts["reengaged"] += 1

    def _do_chat(self, channel, sim, t, friend, _, counts, io) -> None:
        rng = sim.rng
        if rng.random() < 0.7:
            message = text_message(self.state, chat_text(rng, friend))
        else:
            message = sticker_message(self.state, *sticker(rng))
        friend.last_engaged_at = t
        self._emit(
            channel, [self._event(channel, "message", friend.user_id, {"message": message}, t)]
        )
        counts["messages"] += 1

    def _do_visit(self, channel, sim, t, friend, _, counts, io) -> None:
        beacon = {"hwid": sim.rng.choice(channel.beacon_hwids), "type": "enter"}
        self._emit(channel, [self._event(channel, "beacon", friend.user_id, {"beacon": beacon}, t)])
        counts["beacons"] += 1

    def _do_menu(self, channel, sim, t, friend, _, counts, io) -> None:
        menu = channel.rich_menus.get(friend.rich_menu_id or channel.default_rich_menu_id or "")
        areas = (menu or {}).get("areas") or []
        if areas:
            counts["rich_menu_taps"] += 1
            action = sim.rng.choice(areas).get("action") or {}
            self._tap(channel, sim, friend, action, t, counts, io, None)

    def _do_tap(self, channel, sim, t, friend, payload, counts, io) -> None:
        entry, action, quick = payload
        if not friend.is_friend or (friend.blocked_at or 0) > entry.sent_at:
            return
        if quick and channel.inboxes.get(friend.user_id, [None])[-1] is not entry:
            return  # quick reply buttons vanish once another message arrives
        counts["taps"] += 1
        self._tap(channel, sim, friend, action, t, counts, io, entry)

    def _tap(self, channel, sim, friend, action, t, counts, io, entry) -> None:
        if action.get("type") == "uri":
            url = action.get("uri") or action.get("linkUri") or ""
            self._do_click(channel, sim, t, friend, (entry, url), counts, io)
            return
        bh.bump_interest(friend, t, 0.3, self.params)
        friend.last_engaged_at = t
        self._emit(channel, bh.action_events(self.state, channel, friend, action, t))

    def _do_click(self, channel, sim, t, friend, payload, counts, io) -> None:
        entry, url = payload
        if not friend.is_friend or (entry and (friend.blocked_at or 0) > entry.sent_at):
            return  # never from a message that arrived before the friend blocked
        p = self.params
        before = bh.interest_at(friend, t, p)
        self._note_click(channel, friend, url, t, entry)
        counts["clicks"] += 1
        io.append(self._open(channel, friend, url, t))
        if sim.rng.random() < friend.traits.purchase_propensity * (
            p.purchase_floor + (1 - p.purchase_floor) * before
        ):
            delay = p.purchase_delay_s * math.exp(sim.rng.gauss(0.0, 1.0))
            sim.push(t + delay, "purchase", friend.user_id, "click")

    def _do_open(self, channel, sim, t, friend, url, counts, io) -> None:
        friend.last_engaged_at = t
        counts["opens"] += 1
        io.append(self._open(channel, friend, url, t))

    def _do_buy(self, channel, sim, t, friend, _, counts, io) -> None:
        self._do_purchase(channel, sim, t, friend, "organic", counts, io)

    def _do_purchase(self, channel, sim, t, friend, cause, counts, io) -> None:
        record = self._order(channel, friend, t, None, None, cause)
        counts["purchases"] += 1
        counts["revenue_jpy"] += record["amount"]
        self._reports.append(self._post_order(channel, record))

    # --- single actions (the control API and tests) ---------------------------------------
    def _friend(self, channel: Channel, user_id: str, *, following: bool = True) -> Friend:
        friend = channel.friends.get(user_id)
        if friend is None:
            raise SimulationError(f"{user_id} is not a user of channel {channel.channel_id}")
        if following and not friend.is_friend:
            raise SimulationError(f"{user_id} does not follow the account (blocked or never added)")
        return friend

    async def follow(self, channel: Channel, user_id: str) -> list[dict]:
        """A new friend add (follow.isUnblocked false) or an unblock (true)."""
        friend = channel.friends.get(user_id)
        if friend is not None and friend.is_friend:
            raise SimulationError(f"{user_id} already follows the account")
        return self._emit(
            channel, self._follow(channel, user_id, self.state.clock.now(), self._sim(channel))
        )

    async def block(self, channel: Channel, user_id: str) -> list[dict]:
        friend = self._friend(channel, user_id)
        return self._emit(channel, self._block(channel, friend, self.state.clock.now()))

    def _user_event(self, channel: Channel, user_id: str, kind: str, payload: dict) -> list:
        self._friend(channel, user_id).last_engaged_at = now = self.state.clock.now()
        return self._emit(channel, [self._event(channel, kind, user_id, payload, now)])

    async def send_text(self, channel: Channel, user_id: str, text: str) -> list[dict]:
        self._friend(channel, user_id)
        return self._user_event(
            channel, user_id, "message", {"message": text_message(self.state, text)}
        )

    async def send_sticker(
        self, channel: Channel, user_id: str, package_id: str, sticker_id: str
    ) -> list[dict]:
        self._friend(channel, user_id)
        message = sticker_message(self.state, str(package_id), str(sticker_id))
        return self._user_event(channel, user_id, "message", {"message": message})

    async def tap_postback(
        self,
        channel: Channel,
        user_id: str,
        data: str,
        display_text: str | None = None,
        params: dict[str, str] | None = None,
    ) -> list[dict]:
        """A postback event. Like LINE, `display_text` only shows in the chat; it is not sent."""
        postback: dict[str, Any] = {"data": data, **({"params": dict(params)} if params else {})}
        return self._user_event(channel, user_id, "postback", {"postback": postback})

    async def tap_quick_reply(
        self, channel: Channel, user_id: str, entry_index: int = -1, item_index: int = 0
    ) -> list[dict]:
        """Tap quick reply button `item_index` under the last message of an inbox entry."""
        friend = self._friend(channel, user_id)
        inbox = channel.inboxes.get(user_id) or []
        try:
            entry = inbox[entry_index]
            action = bh.quick_reply_actions(entry.messages[-1])[item_index]
        except IndexError:
            raise SimulationError("no such inbox entry or quick reply item") from None
        if entry is not inbox[-1]:
            raise SimulationError("quick reply buttons show only under the latest message")
        now = self.state.clock.now()
        friend.last_engaged_at = now
        if action.get("type") == "uri":
            await self.open_link(channel, user_id, action.get("uri", ""))
            return []
        return self._emit(channel, bh.action_events(self.state, channel, friend, action, now))

    async def enter_beacon(
        self, channel: Channel, user_id: str, hwid: str = "d41d8cd98f", beacon_type: str = "enter"
    ) -> list[dict]:
        return self._user_event(
            channel, user_id, "beacon", {"beacon": {"hwid": hwid, "type": beacon_type}}
        )

    async def open_link(self, channel: Channel, user_id: str, url: str) -> dict:
        friend = self._friend(channel, user_id, following=False)
        now = self.state.clock.now()
        self._note_click(channel, friend, url, now, None)
        return await self._open(channel, friend, url, now)

    def schedule_open(self, channel: Channel, user_id: str, url: str, at: float) -> None:
        """The friend will open `url` at simulated time `at` from outside LINE's messages
        (e.g. the shop's member-link page after logging in): a GET like `open_link`, not
        counted as a message click."""
        self._friend(channel, user_id, following=False)
        self._sim(channel).push(at, "open", user_id, url)

    async def account_link(
        self, channel: Channel, user_id: str, link_token: str, nonce: str
    ) -> bool:
        now = self.state.clock.now()
        ok, events = bh.account_link(self.state, channel, user_id, link_token, nonce, now)
        self._emit(channel, events)
        return ok

    async def purchase(
        self,
        channel: Channel,
        user_id: str,
        amount: int | None = None,
        items: list[dict] | None = None,
        at: float | None = None,
    ) -> dict:
        friend = self._friend(channel, user_id, following=False)
        record = self._order(
            channel, friend, self.state.clock.now() if at is None else at, amount, items, "manual"
        )
        await self._post_order(channel, record)
        return record

    # --- building blocks --------------------------------------------------------------------
    def _event(
        self, channel: Channel, kind: str, user_id: str | None, payload: dict | None, at: float
    ) -> dict:
        return make_event(self.state, channel, kind, user_id, payload, at=at)

    def _emit(self, channel: Channel, events: list[dict]) -> list[dict]:
        if events:
            self.webhooks.enqueue(channel, events)
            self._flushed = self._flushed and not channel.webhook_url
        return events

    def _follow(self, channel: Channel, user_id: str, t: float, sim: ChannelSim) -> list[dict]:
        friend = channel.friends.get(user_id)
        if friend is None:  # a user the emulator has not met: give them a life
            friend = generate_friends(1, seed=sim.rng.getrandbits(62), now=t, following=False)[0]
            friend.user_id = user_id
            channel.friends[user_id] = friend
        unblocked = friend.blocked
        friend.is_friend, friend.blocked, friend.followed_at = True, False, t
        if friend.first_followed_at is None:
            friend.first_followed_at = t
            low, high = self.params.follow_interest
            friend.interest, friend.interest_at = low + (high - low) * sim.rng.random(), t
        else:
            bh.bump_interest(friend, t, 0.3, self.params)
        return [self._event(channel, "follow", user_id, {"follow": {"isUnblocked": unblocked}}, t)]

    def _block(self, channel: Channel, friend: Friend, t: float) -> list[dict]:
        friend.is_friend, friend.blocked, friend.blocked_at = False, True, t
        return [self._event(channel, "unfollow", friend.user_id, None, t)]

    def _note_click(self, channel: Channel, friend: Friend, url: str, t: float, entry: Any) -> None:
        bh.bump_interest(friend, t, self.params.click_bump, self.params)
        friend.last_clicked_at = friend.last_engaged_at = t
        if entry is not None:
            channel.link_clicks.setdefault(entry.request_id, {}).setdefault(url, set()).add(
                friend.user_id
            )

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            timeout = httpx.Timeout(LINK_TIMEOUT_S, connect=2.0)
            self._http, self._own_http = httpx.AsyncClient(timeout=timeout), True
        return self._http

    async def _open(self, channel: Channel, friend: Friend, url: str, t: float) -> dict:
        """GET the link in the LINE in-app browser: follow redirects on the same host, stop at
        the first other host (the landing page, not fetched) or at LINE's account-link page."""
        headers = {
            "user-agent": bh.USER_AGENTS.get(friend.traits.app_type, bh.USER_AGENTS["ios"]),
            "accept-language": friend.language,
            "x-emulator-sim-time": f"{t:.3f}",
        }
        if friend.traits.member_id:  # what the user would type into the shop's login form
            headers["x-emulator-member-id"] = friend.traits.member_id
        result: dict[str, Any] = {
            "url": url,
            "at": t,
            "chain": [],
            "landing_url": None,
            "landing_host": None,
            "account_link": None,
            "error": None,
        }
        current, host = url, None
        for _ in range(MAX_HOPS):
            parts = urlsplit(current)
            hop: dict[str, Any] = {"url": current, "status": None}
            result["chain"].append(hop)
            if parts.path == "/dialog/bot/accountLink":
                query = parse_qs(parts.query)
                token, nonce = (query.get(k, [""])[0] for k in ("linkToken", "nonce"))
                ok, events = bh.account_link(self.state, channel, friend.user_id, token, nonce, t)
                self._emit(channel, events)
                result["account_link"] = hop["account_link"] = ok
                break
            netloc = parts.netloc.lower()
            if parts.scheme not in ("http", "https") or (host is not None and netloc != host):
                break  # another host (or an app scheme): the landing page, not fetched
            if self._dead_hosts.get(netloc, 0) > time.monotonic():
                result["error"] = "host unreachable"
                break
            try:
                async with self._client().stream(
                    "GET", current, headers=headers, follow_redirects=False
                ) as response:
                    hop["status"] = response.status_code
                    location = response.headers.get("location")
            except Exception as exc:  # an unreachable or broken site must not stop time
                result["error"] = f"{type(exc).__name__}: {exc}"[:200]
                if isinstance(exc, httpx.ConnectError | httpx.TimeoutException):
                    self._dead_hosts[netloc] = time.monotonic() + 30
                break
            if not (300 <= hop["status"] < 400 and location):
                break
            current, host = urljoin(current, location), netloc
        else:
            result["error"] = "too many redirects"
        last = result["chain"][-1]["url"]
        result["landing_url"], result["landing_host"] = last, urlsplit(last).netloc or None
        return result

    def _order(
        self,
        channel: Channel,
        friend: Friend,
        t: float,
        amount: int | None,
        items: list[dict] | None,
        cause: str,
    ) -> dict:
        sim = self._sim(channel)
        sim.orders += 1
        if items is None:
            items = basket(sim.rng, friend.traits, amount)
        record = {
            **make_order(channel, friend, t, sim.orders, items, amount),
            "cause": cause,
            "callback": "pending",
        }
        channel.orders.append(record)
        bh.bump_interest(friend, t, self.params.purchase_bump, self.params)
        friend.last_purchase_at = t
        return record

    async def _post_order(self, channel: Channel, record: dict) -> None:
        """Report the order to the brand's EC callback; log failures, retry, never raise."""
        url = channel.shop_callback_url
        if not url:
            record["callback"] = "not_configured"
            return
        body = {k: record[k] for k in ORDER_KEYS}
        for attempt in range(1, len(CALLBACK_DELAYS) + 2):
            try:
                response = await self._client().post(
                    url, json=body, headers=channel.shop_callback_headers
                )
                if response.is_success:
                    record["callback"] = "ok"
                    return
                status = response.status_code
                detail, retry = f"HTTP {status}", status == 429 or status >= 500
            except Exception as exc:  # connection errors, bad URLs, unserialisable items
                detail, retry = f"{type(exc).__name__}: {exc}"[:200], True
            channel.shop_callback_log.append(
                {
                    "at": self.state.clock.now(),
                    "url": url,
                    "order_id": record["order_id"],
                    "attempt": attempt,
                    "error": detail,
                }
            )
            del channel.shop_callback_log[:-LOG_LIMIT]
            channel.count("shop_callback_errors")
            if not retry or attempt > len(CALLBACK_DELAYS):
                break
            await asyncio.sleep(CALLBACK_DELAYS[attempt - 1])
        record["callback"] = "failed"
