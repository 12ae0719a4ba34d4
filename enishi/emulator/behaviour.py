"""The rules virtual friends live by: pure functions of their traits, the time and messages.

No I/O and no state of its own; `simulator.py` applies these rules on a timeline. The model
and its parameters are explained in docs/emulator-friends.md.
"""

from __future__ import annotations

import math
import random
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from heapq import heappop, heappush
from typing import Any, NamedTuple

from enishi.emulator.clock import JST
from enishi.emulator.events import make_event, text_message
from enishi.emulator.population import CATEGORY_KEYWORDS, place
from enishi.emulator.state import Channel, EmulatorState, Friend, Traits

HOUR, DAY, WEEK = 3600.0, 86400.0, 7 * 86400.0
JST_OFFSET = 9 * HOUR


@dataclass(frozen=True)
class Params:
    """Every constant of the behaviour model; the defaults are what the emulator uses."""

    interest_tau_days: float = 21.0  # mean life of engagement (half-life ~15 days)
    interest_floor: float = 0.03  # engagement never decays below this
    reengage_per_day: float = 1 / 365  # chance per day that life makes a friend interested again
    follow_interest: tuple[float, float] = (0.5, 1.0)  # engagement of a brand-new friend
    click_bump: float = 0.6  # a click closes 60% of the gap to full engagement
    purchase_bump: float = 0.5
    read_bump: float = 0.08  # × relevance strength, when a message is read
    unread_base: float = 0.05  # share of messages never read, engaged friend ...
    unread_dormant: float = 0.45  # ... plus this × (1 - engagement)
    immediate_read_s: float = 900.0  # mean read delay when the friend is on LINE right now
    attention_floor: float = 0.35  # attention left for a message read long after arrival
    attention_tau_s: float = 3 * HOUR  # attention decays with the read delay on this scale
    click_floor: float = 0.05  # engagement factor of clicks: floor + (1 - floor) × interest
    tap_base: float = 0.35  # chance to answer a quick reply / postback button, before factors
    purchase_floor: float = 0.1  # purchase after click: propensity × (floor + (1-floor) × I)
    purchase_delay_s: float = 1800.0  # median delay from click to order (log-normal)
    organic_floor: float = 0.005  # organic purchases: rate × (floor + (1 - floor) × interest²)
    block_base: float = 0.0015  # block chance per message received ...
    block_slope: float = 0.0015  # ... + sensitivity × this × messages over weekly tolerance
    block_max: float = 0.25
    organic_block_per_day: float = 0.0003
    unblock_per_day: float = 0.0015
    rich_menu_taps_per_day: float = 0.03
    route_visit_lead_s: float = 600.0  # a route page is opened up to this long before the add


PARAMS = Params()

_URL = re.compile(r"https?://[^\s<>\"'「」『』（）()、。]+")
_TEXT_KEYS = ("text", "altText", "title")
USER_AGENTS = {  # LINE's in-app browser
    "ios": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148 Safari Line/14.9.0",
    "android": "Mozilla/5.0 (Linux; Android 14; SC-51D Build/UP1A.231005.007; wv) "
    "AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/126.0.6478.134 "
    "Mobile Safari/537.36 Line/14.9.1/IAB",
}
TAPPABLE = {
    "postback",
    "message",
    "datetimepicker",
    "richmenuswitch",
    "location",
    "camera",
    "cameraRoll",
    "clipboard",
}


# --- messages ------------------------------------------------------------------------------
class Features(NamedTuple):
    """What a friend can see and do in one delivery (shared by all recipients)."""

    links: tuple[str, ...]  # URLs: text URLs and uri actions
    taps: tuple[dict, ...]  # postback/message/datetimepicker actions in the message bodies
    quick_reply: tuple[dict, ...]  # the last message's quick reply actions
    text: str  # everything readable: text, altText, titles
    categories: frozenset[str]  # product categories the text is about


def _collect(obj: Any, links: list[str], taps: list[dict], texts: list[str]) -> None:
    if isinstance(obj, dict):
        for key, value in obj.items():
            if key == "quickReply":
                continue
            if key in ("action", "defaultAction") and isinstance(value, dict):
                _action(value, links, taps)
            elif key == "actions" and isinstance(value, list):
                for action in value:
                    if isinstance(action, dict):
                        _action(action, links, taps)
            elif isinstance(value, str):
                if key in _TEXT_KEYS:
                    texts.append(value)
                    links.extend(_URL.findall(value))
            elif isinstance(value, dict | list):
                _collect(value, links, taps, texts)
    elif isinstance(obj, list):
        for item in obj:
            _collect(item, links, taps, texts)


def _action(action: dict, links: list[str], taps: list[dict]) -> None:
    kind = action.get("type")
    if kind == "uri":
        uri = action.get("uri") or action.get("linkUri")
        if isinstance(uri, str):
            links.append(uri)
    elif kind in TAPPABLE:
        taps.append(action)


def message_links(messages: list[dict[str, Any]]) -> list[str]:
    """The URLs a friend can open in these message objects: URLs in text (and textV2), and
    uri actions of templates, imagemaps, flex messages and quick replies, in order, once."""
    links: list[str] = []
    _collect(messages, links, [], [])
    for action in quick_reply_actions(messages[-1] if messages else {}):
        _action(action, links, [])
    return list(dict.fromkeys(links))


def quick_reply_actions(message: dict[str, Any]) -> list[dict]:
    items = (message.get("quickReply") or {}).get("items") or []
    return [
        item["action"]
        for item in items
        if isinstance(item, dict) and isinstance(item.get("action"), dict)
    ]


def categories_of(text: str) -> frozenset[str]:
    lowered = text.lower()
    return frozenset(c for c, kws in CATEGORY_KEYWORDS.items() if any(k in lowered for k in kws))


def features(messages: list[dict[str, Any]]) -> Features:
    links: list[str] = []
    taps: list[dict] = []
    texts: list[str] = []
    _collect(messages, links, taps, texts)
    quick = quick_reply_actions(messages[-1]) if messages else []
    text = "\n".join(texts)
    return Features(
        tuple(dict.fromkeys(links)), tuple(taps), tuple(quick), text, categories_of(text)
    )


class FeatureCache:
    """Features per message list; a multicast shares one list among all its recipients."""

    def __init__(self, limit: int = 4096) -> None:
        self._items: dict[int, tuple[list, Features]] = {}
        self._limit = limit

    def get(self, messages: list[dict[str, Any]]) -> Features:
        hit = self._items.get(id(messages))
        if hit is not None and hit[0] is messages:
            return hit[1]
        if len(self._items) >= self._limit:
            self._items.clear()
        result = features(messages)
        self._items[id(messages)] = (messages, result)  # holding the list keeps its id unique
        return result


def pick_action(rng: random.Random, friend: Friend, actions: tuple[dict, ...]) -> dict:
    """Survey answers follow the friend's interests when an option matches them."""
    liked = [
        a
        for a in actions
        if set(friend.traits.interests)
        & categories_of(
            " ".join(str(a.get(k, "")) for k in ("label", "text", "displayText", "data"))
        )
    ]
    return rng.choice(liked if liked and rng.random() < 0.8 else actions)


def relevance(friend: Friend, feats: Features) -> tuple[float, float]:
    """(click multiplier, renewal strength 0..1) of a delivery for this friend."""
    cats = feats.categories
    if not cats:
        mult, strength = 1.0, 0.25
    elif any(c in cats for c in friend.traits.interests):
        mult, strength = 2.0, 1.0
    else:
        mult, strength = 0.5, 0.05
    name = friend.display_name
    if len(name) >= 2 and name in feats.text:
        mult, strength = mult * 1.3, min(1.0, strength + 0.3)
    return mult, strength


# --- time of day and engagement ------------------------------------------------------------
def jst_hour(t: float) -> float:
    return ((t + JST_OFFSET) % DAY) / HOUR


def activity(traits: Traits, hour: float) -> float:
    """How likely the friend is on LINE at this hour of day, 1.0 at their peak hour."""
    d = abs(hour - traits.peak_hour) % 24.0
    if d > 12.0:
        d = 24.0 - d
    s = traits.hour_spread
    return math.exp(-0.5 * d * d / (s * s))


def mean_activity(traits: Traits) -> float:
    """activity() averaged over a day, to turn per-day rates into per-moment ones."""
    return min(1.0, traits.hour_spread * math.sqrt(2 * math.pi) / 24.0)


def next_active_time(rng: random.Random, traits: Traits, t: float) -> float:
    """The next moment after t at which the friend opens LINE (around their peak hour)."""
    hour = (traits.peak_hour + rng.gauss(0.0, traits.hour_spread)) % 24.0
    at = t - (t + JST_OFFSET) % DAY + hour * HOUR
    return at + DAY if at <= t else at


def interest_at(friend: Friend, t: float, p: Params = PARAMS) -> float:
    """Engagement at time t: decays exponentially towards the floor since it was last set."""
    since = friend.interest_at
    if since is None or t <= since:
        return friend.interest
    floor = p.interest_floor
    return floor + (friend.interest - floor) * math.exp((since - t) / (p.interest_tau_days * DAY))


def bump_interest(friend: Friend, t: float, fraction: float, p: Params = PARAMS) -> None:
    """Close `fraction` of the gap to full engagement at time t."""
    value = interest_at(friend, t, p)
    friend.interest = value + fraction * (1.0 - value)
    if friend.interest_at is None or t > friend.interest_at:
        friend.interest_at = t


# --- what friends say and buy --------------------------------------------------------------
def quote_token() -> str:
    return secrets.token_urlsafe(24)


ORGANIC = {"chat", "buy", "visit", "menu", "unblock", "organic_block"}


def organic_chance(kind: str, friend: Friend, t: float, p: Params = PARAMS) -> float:
    """Chance that a candidate organic action drawn from the pool's daily rates happens at t
    (thinning): friends act at their active hours, engaged friends act more."""
    if friend.first_followed_at is None or friend.first_followed_at > t:
        return 0.0  # not a friend yet at t (a backfill replays time before they followed)
    hour = jst_hour(t)
    on_line = activity(friend.traits, hour)
    if kind == "unblock":
        return on_line if friend.blocked and (friend.blocked_at or 0) <= t else 0.0
    if kind == "buy":  # the shop does not care whether they still follow the account
        engaged = interest_at(friend, t, p)
        return on_line * (p.organic_floor + (1 - p.organic_floor) * engaged * engaged)
    if not friend.is_friend:
        return 0.0
    if kind == "organic_block":
        return 1.0 - interest_at(friend, t, p) / 2
    if kind == "visit":
        return on_line if 10 <= hour < 21 else 0.0  # store opening hours
    engaged = interest_at(friend, t, p)
    return on_line * (0.3 + 0.7 * engaged if kind == "chat" else 0.2 + 0.8 * engaged)


def datetime_params(action: dict, t: float) -> dict[str, str]:
    """What a datetime picker returns: the initial value, or tomorrow 19:00, within min/max."""
    mode = action.get("mode", "datetime")
    fmt = {"date": "%Y-%m-%d", "time": "%H:%M"}.get(mode, "%Y-%m-%dT%H:%M")
    value = action.get("initial")
    if not isinstance(value, str):
        tomorrow = datetime.fromtimestamp(t, JST) + timedelta(days=1)
        value = tomorrow.replace(hour=19, minute=0).strftime(fmt)
    if isinstance(action.get("min"), str) and value < action["min"]:
        value = action["min"]
    if isinstance(action.get("max"), str) and value > action["max"]:
        value = action["max"]
    return {mode if mode in ("date", "time") else "datetime": value}


# --- what LINE sends when a friend does something -----------------------------------------
def action_events(
    state: EmulatorState, channel: Channel, friend: Friend, action: dict, t: float
) -> list[dict]:
    """The webhook events of tapping a non-uri action (message, postback, pickers...)."""
    kind, uid = action.get("type"), friend.user_id

    def event(event_type: str, payload: dict) -> dict:
        return make_event(state, channel, event_type, uid, payload, at=t)

    if kind == "message":
        message = text_message(state, str(action.get("text", "")))
    elif kind == "location":
        lat, lng, address = place(friend.traits)
        message = {
            "id": state.next_message_id(),
            "type": "location",
            "title": "現在地",
            "address": address,
            "latitude": lat,
            "longitude": lng,
        }
    elif kind in ("camera", "cameraRoll"):
        message = {
            "id": state.next_message_id(),
            "type": "image",
            "contentProvider": {"type": "line"},
            "quoteToken": quote_token(),
        }
    elif kind in ("postback", "datetimepicker", "richmenuswitch"):
        postback: dict[str, Any] = {"data": str(action.get("data", ""))}
        if kind == "datetimepicker":
            postback["params"] = datetime_params(action, t)
        elif kind == "richmenuswitch":
            alias = str(action.get("richMenuAliasId", ""))
            menu_id = channel.rich_menu_aliases.get(alias)
            if menu_id is not None:
                friend.rich_menu_id = menu_id
            status = "SUCCESS" if menu_id else "RICHMENU_ALIAS_ID_NOTFOUND"
            postback["params"] = {"newRichMenuAliasId": alias, "status": status}
        events = []
        if kind == "postback" and action.get("text"):  # the deprecated `text` is sent too
            events.append(event("message", {"message": text_message(state, str(action["text"]))}))
        return [*events, event("postback", {"postback": postback})]
    else:  # clipboard and anything unknown: nothing reaches the bot
        return []
    return [event("message", {"message": message})]


def account_link(
    state: EmulatorState, channel: Channel, user_id: str, token: str, nonce: str, t: float
) -> tuple[bool, list[dict]]:
    """LINE's /dialog/bot/accountLink: ok for the token's own user (token used up), failed
    (no source, no replyToken) for another user, nothing for unknown/used/expired tokens."""
    record = channel.link_tokens.get(token)
    if record is None:
        return False, []
    owner, expires = record
    if t > expires:
        del channel.link_tokens[token]
        return False, []
    if owner != user_id:
        return False, [
            make_event(
                state,
                channel,
                "accountLink",
                None,
                {"link": {"result": "failed", "nonce": nonce}},
                at=t,
            )
        ]
    del channel.link_tokens[token]
    friend = channel.friends.get(user_id)
    if friend is not None:
        friend.linked_member_id = friend.traits.member_id
    return True, [
        make_event(
            state, channel, "accountLink", user_id, {"link": {"result": "ok", "nonce": nonce}}, at=t
        )
    ]


# --- reactions to deliveries ------------------------------------------------------------
@dataclass
class ChannelSim:
    """The simulator's timeline for one channel; kept on the channel so it pickles with it."""

    rng: random.Random
    last_t: float  # behaviour has been lived up to here
    timeline: list = field(default_factory=list)  # heap of (t, seq, kind, user_id, payload)
    seq: int = 0
    reads: dict[int, list] = field(default_factory=dict)  # minute -> [entry, friend, strength]*
    read_minutes: list[int] = field(default_factory=list)  # heap of keys of `reads`
    orders: int = 0

    def push(self, t: float, kind: str, user_id: str, payload: Any = None) -> None:
        self.seq += 1
        heappush(self.timeline, (t, self.seq, kind, user_id, payload))


def react(
    pending: list,
    channel: Channel,
    sim: ChannelSim,
    horizon: float,
    cache: FeatureCache,
    p: Params = PARAMS,
) -> tuple[int, int]:
    """Decide, once per delivery, when the friend reads it and whether they block, click a
    link or tap a button; put those actions on the simulator's timeline (`sim.push`).

    The hot path (a 1M-recipient multicast is 1M deliveries): features are computed once per
    shared message list, and reads are only marked (`entry.read`), not scheduled as actions.
    Returns (read, never read) counts."""
    friends, rng = channel.friends, sim.rng
    rand, expo, push = rng.random, rng.expovariate, sim.push
    act, interest_of, relevance_of = activity, interest_at, relevance
    exp, floor, att_floor = math.exp, p.click_floor, p.attention_floor
    last_messages, last_sent, hour = None, None, 0.0
    feats = features([])
    n_read = n_unread = 0
    for user_id, entry in pending:
        friend = friends.get(user_id)
        if friend is None or not friend.is_friend:
            continue
        if entry.messages is not last_messages:
            last_messages = entry.messages
            feats = cache.get(last_messages)
        t0 = entry.sent_at
        if t0 != last_sent:
            last_sent, hour = t0, jst_hour(t0)
        traits = friend.traits
        receipts = friend.recent_receipts
        cutoff, i = t0 - WEEK, 0
        while i < len(receipts) and receipts[i] < cutoff:
            i += 1
        if i:
            del receipts[:i]
        receipts.append(t0)
        interest = interest_of(friend, t0, p)
        mult, strength = relevance_of(friend, feats)
        if entry.kind == "reply":  # an answer to what they just did: read at once
            delay = expo(1 / 20)
        elif rand() < p.unread_base + p.unread_dormant * (1 - interest):
            delay = None
        elif rand() < act(traits, hour):
            delay = expo(1 / p.immediate_read_s)
        else:
            delay = next_active_time(rng, traits, t0) - t0 + expo(1 / 600)
        excess = len(receipts) - traits.weekly_tolerance
        p_block = p.block_base + (
            traits.block_sensitivity * p.block_slope * excess if excess > 0 else 0.0
        )
        if rand() < min(p.block_max, p_block * (1.5 - strength)):
            at = (
                t0 + delay + expo(1 / 60)
                if delay is not None
                else next_active_time(rng, traits, t0)
            )
            push(at, "block", user_id, t0)
            continue
        if delay is None:
            n_unread += 1
            continue
        n_read += 1
        read_at = t0 + delay
        if read_at <= horizon:
            entry.read = True
            if strength:
                bump_interest(friend, read_at, p.read_bump * strength, p)
        else:
            key = int(read_at // 60)
            bucket = sim.reads.get(key)
            if bucket is None:
                bucket = sim.reads[key] = []
                heappush(sim.read_minutes, key)
            bucket += (entry, friend, strength)
        attention = att_floor + (1 - att_floor) * exp(-delay / p.attention_tau_s)
        engaged = floor + (1 - floor) * interest
        if feats.links and rand() < traits.click_propensity * engaged * mult * attention:
            links = feats.links
            url = links[0] if len(links) == 1 or rand() < 0.6 else rng.choice(links)
            push(read_at + expo(1 / 45), "click", user_id, (entry, url))
        taps = feats.taps + feats.quick_reply
        if taps and rand() < p.tap_base * (0.15 + 0.85 * interest) * attention * min(mult, 1.5):
            action = pick_action(rng, friend, taps)
            quick = any(action is a for a in feats.quick_reply)
            push(read_at + expo(1 / 30), "tap", user_id, (entry, action, quick))
    return n_read, n_unread


def apply_reads(sim: ChannelSim, until: float, p: Params = PARAMS) -> None:
    """Mark the deliveries read up to `until` that react() scheduled for later."""
    minutes = sim.read_minutes
    while minutes and minutes[0] * 60 <= until:
        key = heappop(minutes)
        bucket = sim.reads.pop(key, [])
        for i in range(0, len(bucket), 3):
            entry, friend, strength = bucket[i : i + 3]
            if friend.is_friend:
                entry.read = True
                if strength:
                    bump_interest(friend, key * 60.0, p.read_bump * strength, p)
