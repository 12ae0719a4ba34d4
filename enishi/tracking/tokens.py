"""Tracked-link tokens: `/c/{token}` names a link and, optionally, the friend it was sent to.

A token is `base64url(varint(link_id << 1 | has_friend) [varint(friend_id)] + mac)` without
padding, where `mac` is the first 8 bytes (64 bits) of an HMAC-SHA256 under a key derived for
this purpose only. Ids of a million fit in 3 bytes each, so a token is about 20 characters.
Nothing in it can be enumerated or edited without the key: a token either verifies exactly or
is treated as unknown. The delivery is not in the token; a link belongs to at most one
delivery and is looked up by id.
"""

from __future__ import annotations

import base64
import re
import threading

from enishi.config import Settings
from enishi.kit.crypto import Signer

PURPOSE = "tracked-link"
MAC_BYTES = 8
MAX_ID = (1 << 62) - 1
# A token is the leading run of base64url characters: a linkifier that glued trailing text
# ("…/c/AbC。", "…/c/AbCをご覧ください") to the URL still lands on the right link.
_TOKEN_RUN = re.compile(r"[A-Za-z0-9_-]{1,64}")
_MAX_TOKEN = 48


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _read_varint(data: bytes, start: int) -> tuple[int, int] | None:
    """(value, next offset), or None for a truncated or non-canonical encoding."""
    value = shift = 0
    for offset in range(start, min(len(data), start + 9)):
        byte = data[offset]
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            if byte == 0 and offset > start:  # overlong: a trailing zero group
                return None
            return value, offset + 1
    return None


class TokenCodec:
    """Signs and reads tokens with one secret key."""

    def __init__(self, secret_key: str) -> None:
        self._signer = Signer(secret_key, PURPOSE, size=MAC_BYTES)

    def encode(self, link_id: int, friend_id: int | None = None) -> str:
        if not 1 <= link_id <= MAX_ID or (friend_id is not None and not 1 <= friend_id <= MAX_ID):
            raise ValueError("link and friend ids must be positive integers")
        payload = _varint(link_id << 1 | (friend_id is not None))
        if friend_id is not None:
            payload += _varint(friend_id)
        raw = payload + self._signer.sign(payload)
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")

    def decode(self, token: str) -> tuple[int, int | None] | None:
        """(link_id, friend_id or None) for a genuine token, else None. Characters after the
        token's base64url run are ignored (see `_TOKEN_RUN`)."""
        match = _TOKEN_RUN.match(token)
        if match is None:
            return None
        text = match.group()
        if len(text) > _MAX_TOKEN or len(text) % 4 == 1:
            return None
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        except ValueError:
            return None
        # one spelling per token: unused low bits of the last character must be zero
        if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != text:
            return None
        if len(raw) <= MAC_BYTES:
            return None
        payload, mac = raw[:-MAC_BYTES], raw[-MAC_BYTES:]
        if not self._signer.verify(payload, mac):
            return None
        first = _read_varint(payload, 0)
        if first is None:
            return None
        head, offset = first
        link_id, has_friend = head >> 1, head & 1
        friend_id = None
        if has_friend:
            second = _read_varint(payload, offset)
            if second is None:
                return None
            friend_id, offset = second
            if friend_id < 1:
                return None
        if offset != len(payload) or link_id < 1:
            return None
        return link_id, friend_id


_codecs: dict[str, TokenCodec] = {}
_codecs_lock = threading.Lock()


def codec_for(secret_key: str) -> TokenCodec:
    """The codec for a key, built once (key derivation is the slow part)."""
    codec = _codecs.get(secret_key)
    if codec is None:
        with _codecs_lock:
            codec = _codecs.setdefault(secret_key, TokenCodec(secret_key))
    return codec


_settings_keys: dict[int, tuple[Settings, str]] = {}


def _secret_of(settings: Settings) -> str:
    if settings.secret_key:
        return settings.secret_key
    cached = _settings_keys.get(id(settings))
    if cached is None or cached[0] is not settings:  # resolving may read a file: do it once
        cached = (settings, settings.resolved_secret_key())
        _settings_keys[id(settings)] = cached
    return cached[1]


def tracked_path_prefix(settings: Settings) -> str:
    return f"{settings.public_base_url.rstrip('/')}/c/"


def tracked_url(settings: Settings, link_id: int, friend_id: int | None = None) -> str:
    """`{public_base_url}/c/{token}` for a link, per friend when `friend_id` is given."""
    return tracked_path_prefix(settings) + codec_for(_secret_of(settings)).encode(
        link_id, friend_id
    )


def read_token(settings: Settings, token: str) -> tuple[int, int | None] | None:
    return codec_for(_secret_of(settings)).decode(token)
