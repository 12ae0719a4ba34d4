"""In-memory state of the emulated LINE platform: channels, virtual friends, their inboxes.

Plain dataclasses so that the whole state pickles to `--state-file` and back. Nothing here
does I/O; the HTTP layer (`api/`), the webhook sender and the simulator change this state.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from enishi.emulator.clock import SimClock


def new_user_id() -> str:
    return "U" + secrets.token_hex(16)


@dataclass
class Traits:
    """Who a virtual friend is and how they behave; see docs/emulator.md for the model."""

    gender: str = "unknown"  # male | female | unknown
    age_band: str = "age_30"  # LINE narrowcast age codes: age_15 ... age_70
    age: int = 30
    prefecture: str = "jp_13"  # LINE area codes jp_01 ... jp_47
    app_type: str = "ios"  # ios | android
    inflow_route: str = "organic"
    peak_hour: float = 20.0  # hour of day (JST) when most active
    hour_spread: float = 3.0  # standard deviation of activity around peak_hour, hours
    click_propensity: float = 0.1  # base chance of opening a link in a relevant message
    purchase_propensity: float = 0.05  # base chance of buying after a click
    organic_purchase_rate: float = 0.005  # purchases per day while engaged, unprompted
    basket_mean: float = 5000.0  # JPY
    block_sensitivity: float = 0.5  # 0..1: how quickly message volume drives a block
    chattiness: float = 0.02  # spontaneous messages per day
    interests: list[str] = field(default_factory=list)
    member_id: str | None = None  # the brand's member ID, once an account link is made
    store_visit_rate: float = 0.0  # visits per day to a store with a LINE Beacon
    weekly_tolerance: float = 4.0  # messages per 7 days before fatigue sets in


@dataclass
class Friend:
    """A virtual LINE user as one channel sees them."""

    user_id: str
    display_name: str
    language: str = "ja"
    picture_url: str | None = None
    status_message: str | None = None
    traits: Traits = field(default_factory=Traits)
    # relationship with the channel
    is_friend: bool = False  # has added the account and not blocked it
    blocked: bool = False
    followed_at: float | None = None  # sim seconds of the latest follow
    first_followed_at: float | None = None
    blocked_at: float | None = None
    # engagement, read by the simulator
    interest: float = 1.0  # latent engagement 0..1 that decays; drives clicks and purchases
    last_engaged_at: float | None = None
    recent_receipts: list[float] = field(default_factory=list)  # sim times of recent messages
    rich_menu_id: str | None = None  # per-user rich menu
    linked_member_id: str | None = None
    interest_at: float | None = None  # sim time `interest` was last set (it decays)
    last_clicked_at: float | None = None  # ground truth: latest link open
    last_purchase_at: float | None = None


@dataclass(slots=True)
class InboxEntry:
    """One delivery to one friend: what arrived, how, and when."""

    request_id: str
    kind: str  # reply | push | multicast | broadcast | narrowcast
    messages: list[dict[str, Any]]  # shared between recipients of one multicast
    sent_at: float
    first_message_id: int  # the messages' IDs are consecutive from here
    retry_key: str | None = None
    custom_aggregation_units: list[str] | None = None
    read: bool = False

    @property
    def message_ids(self) -> list[str]:
        return [str(self.first_message_id + i) for i in range(len(self.messages))]


@dataclass
class WebhookAttempt:
    """One POST of a webhook batch to the channel's endpoint, with its outcome."""

    attempt_id: int
    at: float  # sim time the attempt was made
    url: str
    event_ids: list[str]
    is_redelivery: bool
    status_code: int | None
    outcome: str  # ok | http_error | timeout | connection_error | no_endpoint
    duration_ms: float
    detail: str = ""


@dataclass
class ReplyToken:
    user_id: str
    event_at: float  # when the event happened (sim seconds)
    delivered_at: float  # when the webhook carrying it was last sent
    used: bool = False


@dataclass
class RetryRecord:
    request_id: str
    accepted_at: float
    sent_messages: list[dict[str, str]] | None


@dataclass
class FaultRule:
    """Faults injected into one operation (`*` for all) of one channel."""

    error_rate: float = 0.0  # share of requests answered `error_status` before any effect
    error_status: int = 500
    latency_ms: float = 0.0  # added before handling
    drop_rate: float = 0.0  # share of requests handled, then the connection is dropped
    force_status: int | None = None  # the next `force_count` requests get this status
    force_count: int = 0


@dataclass
class Channel:
    """One Messaging API channel (one LINE Official Account's bot)."""

    channel_id: str
    channel_secret: str
    access_token: str
    bot_user_id: str = field(default_factory=new_user_id)
    basic_id: str = "@enishi"
    display_name: str = "enishi demo"
    picture_url: str | None = None
    webhook_url: str | None = None
    webhook_active: bool = True
    redelivery: bool = True
    quota_limit: int | None = 30000  # None = unlimited ("none" quota type)
    premium: bool = True  # verified/premium accounts may call followers/ids
    login_channel_id: str | None = None  # LINE Login channel whose ID tokens /verify accepts
    shop_callback_url: str | None = None  # where virtual friends report purchases
    shop_callback_headers: dict[str, str] = field(default_factory=dict)  # e.g. an API key
    friends: dict[str, Friend] = field(default_factory=dict)
    inboxes: dict[str, list[InboxEntry]] = field(default_factory=dict)
    usage_by_month: dict[str, int] = field(default_factory=dict)  # "2026-11" -> recipients
    delivery_counts: dict[tuple[str, str], int] = field(default_factory=dict)  # (kind, yyyyMMdd)
    retry_keys: dict[str, RetryRecord] = field(default_factory=dict)
    reply_tokens: dict[str, ReplyToken] = field(default_factory=dict)
    link_tokens: dict[str, tuple[str, float]] = field(default_factory=dict)  # token -> user, exp
    webhook_log: list[WebhookAttempt] = field(default_factory=list)
    faults: dict[str, FaultRule] = field(default_factory=dict)
    # rich menus, aliases, audiences, narrowcast jobs, insight: owned by their api modules
    rich_menus: dict[str, dict[str, Any]] = field(default_factory=dict)
    rich_menu_images: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    rich_menu_aliases: dict[str, str] = field(default_factory=dict)
    default_rich_menu_id: str | None = None
    audiences: dict[int, dict[str, Any]] = field(default_factory=dict)
    narrowcasts: dict[str, dict[str, Any]] = field(default_factory=dict)
    broadcast_requests: dict[str, dict[str, Any]] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)  # requests per operation, etc.
    aggregation_units: dict[str, set[str]] = field(default_factory=dict)  # month -> names
    # deliveries not yet seen by the simulator: (user_id, InboxEntry)
    pending_reactions: list[tuple[str, InboxEntry]] = field(default_factory=list)
    # virtual shop and simulator (see docs/emulator-friends.md)
    orders: list[dict[str, Any]] = field(default_factory=list)  # ground truth
    shop_callback_log: list[dict[str, Any]] = field(default_factory=list)
    friend_growth_per_day: float = 0.0  # new follows per day while time runs
    beacon_hwids: list[str] = field(default_factory=list)  # stores with a beacon
    # inflow route (a friend trait, e.g. "instagram") -> the brand's route page: new friends
    # of that route open it in LINE (LIFF, with an ID token) just before they add the account
    route_pages: dict[str, str] = field(default_factory=dict)
    simulation: Any = None  # the simulator's per-channel state (rng, timeline)
    # rich-menu batch requests: request id -> {phase, acceptedAt, completedAt, ...}
    rich_menu_batches: dict[str, dict[str, Any]] = field(default_factory=dict)
    # links opened from broadcast/narrowcast messages: request id -> url -> user ids
    # (the simulator fills it; insight's message event and click audiences read it)
    link_clicks: dict[str, dict[str, set[str]]] = field(default_factory=dict)
    # audience group jobs' ids and audience ids are unique per channel
    next_audience_job_id: int = 1

    def count(self, name: str, n: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + n

    def following(self) -> list[Friend]:
        return [f for f in self.friends.values() if f.is_friend]


@dataclass
class EmulatorState:
    """Everything the emulator knows; one instance per server."""

    clock: SimClock = field(default_factory=SimClock)
    channels: dict[str, Channel] = field(default_factory=dict)
    seed: int = 0
    last_message_id: int = 100000000000000000

    def add_channel(self, channel: Channel) -> Channel:
        if channel.channel_id in self.channels:
            raise ValueError(f"channel {channel.channel_id} exists already")
        if any(c.access_token == channel.access_token for c in self.channels.values()):
            raise ValueError("another channel uses the same access token")
        self.channels[channel.channel_id] = channel
        return channel

    def channel_by_token(self, token: str) -> Channel | None:
        for channel in self.channels.values():
            if secrets.compare_digest(channel.access_token, token):
                return channel
        return None

    def next_message_id(self) -> str:
        """LINE message IDs are numeric strings."""
        self.last_message_id += 1
        return str(self.last_message_id)

    def reserve_message_ids(self, count: int) -> int:
        """The first of `count` consecutive message IDs, reserved in one step."""
        first = self.last_message_id + 1
        self.last_message_id += count
        return first
