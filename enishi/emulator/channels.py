"""Creating channels from a spec (CLI flags, `--config` file, or the control API)."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import yaml

from enishi.emulator.population import generate_friends
from enishi.emulator.state import Channel, EmulatorState

SPEC_KEYS = {
    "channel_id",
    "channel_secret",
    "access_token",
    "friends",
    "seed",
    "webhook_url",
    "quota_limit",
    "redelivery",
    "premium",
    "display_name",
    "basic_id",
    "login_channel_id",
    "shop_callback_url",
    "shop_callback_headers",
    "friend_growth_per_day",
    "beacon_hwids",
    "route_pages",
}


def channel_from_spec(spec: dict[str, Any], state: EmulatorState) -> Channel:
    """A channel with its initial friends; missing credentials are generated."""
    unknown = set(spec) - SPEC_KEYS
    if unknown:
        raise ValueError(f"unknown channel settings: {sorted(unknown)}")
    channel_id = str(spec.get("channel_id") or 2000000000 + secrets.randbelow(10**8))
    if not channel_id.isdigit():
        raise ValueError("channel_id must be digits, like LINE's")
    channel = Channel(
        channel_id=channel_id,
        channel_secret=str(spec.get("channel_secret") or secrets.token_hex(16)),
        access_token=str(spec.get("access_token") or secrets.token_urlsafe(128)),
        webhook_url=spec.get("webhook_url"),
        quota_limit=spec.get("quota_limit", 30000),
        redelivery=bool(spec.get("redelivery", True)),
        premium=bool(spec.get("premium", True)),
        display_name=str(spec.get("display_name", "enishi demo")),
        basic_id=str(spec.get("basic_id", "@" + channel_id[-6:] + "abc")),
        login_channel_id=spec.get("login_channel_id"),
        shop_callback_url=spec.get("shop_callback_url"),
        shop_callback_headers=dict(spec.get("shop_callback_headers") or {}),
        friend_growth_per_day=float(spec.get("friend_growth_per_day", 0.0)),
        beacon_hwids=[str(h) for h in spec.get("beacon_hwids") or []],
        route_pages={str(k): str(v) for k, v in (spec.get("route_pages") or {}).items()},
    )
    count = int(spec.get("friends", 0))
    if count < 0:
        raise ValueError("friends must be >= 0")
    if count:
        seed = int(spec.get("seed", state.seed))
        for friend in generate_friends(count, seed=seed, now=state.clock.now()):
            channel.friends[friend.user_id] = friend
    return channel


def load_config(path: Path) -> list[dict[str, Any]]:
    """A YAML or JSON file: `{channels: [{channel_id: ..., friends: ...}, ...]}`."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    channels = data.get("channels") if isinstance(data, dict) else None
    if not isinstance(channels, list) or not channels:
        raise ValueError(f"{path}: expected a top-level 'channels' list")
    return channels


def channel_summary(channel: Channel) -> dict[str, Any]:
    """What a user needs to point a CRM at this channel (the emulator shows its secrets)."""
    following = sum(1 for f in channel.friends.values() if f.is_friend)
    return {
        "channelId": channel.channel_id,
        "channelSecret": channel.channel_secret,
        "accessToken": channel.access_token,
        "botUserId": channel.bot_user_id,
        "basicId": channel.basic_id,
        "webhookUrl": channel.webhook_url,
        "webhookActive": channel.webhook_active,
        "redelivery": channel.redelivery,
        "quotaLimit": channel.quota_limit,
        "premium": channel.premium,
        "loginChannelId": channel.login_channel_id,
        "shopCallbackUrl": channel.shop_callback_url,
        "friendGrowthPerDay": channel.friend_growth_per_day,
        "beaconHwids": channel.beacon_hwids,
        "routePages": channel.route_pages,
        "friends": len(channel.friends),
        "following": following,
    }
