"""Clients of a running emulator for the tests: the official SDK and plain HTTP."""

from __future__ import annotations

import httpx
from linebot.v3.messaging import ApiClient, Configuration, MessagingApi


def sdk(running) -> MessagingApi:
    """The official line-bot-sdk pointed at the emulator."""
    return MessagingApi(ApiClient(Configuration(host=running.base_url, access_token=running.token)))


def raw(running) -> httpx.Client:
    """Plain HTTP with the channel's token, for what the SDK would refuse to send."""
    return httpx.Client(base_url=running.base_url, headers=running.headers(), timeout=10)
