"""Tracked-link tokens: short, signed, strict; nothing else opens a link."""

from __future__ import annotations

import base64
import random
import string

import pytest

from enishi.tracking.tokens import TokenCodec, read_token, tracked_url
from tests.conftest import make_settings

CODEC = TokenCodec("a-secret")


@pytest.mark.parametrize(
    ("link_id", "friend_id"),
    [(1, None), (1, 1), (127, 128), (2_000_000, 5_000_000), ((1 << 62) - 1, (1 << 62) - 1)],
)
def test_round_trip(link_id, friend_id):
    token = CODEC.encode(link_id, friend_id)
    assert CODEC.decode(token) == (link_id, friend_id)
    assert set(token) <= set(string.ascii_letters + string.digits + "-_")


def test_tokens_are_short():
    # a million links and ten million friends still make a ~20 character token
    assert len(CODEC.encode(1_000_000, 10_000_000)) <= 22
    assert len(CODEC.encode(1_000_000)) <= 16
    assert len(CODEC.encode(5, 42)) <= 16


def test_tampering_is_refused():
    token = CODEC.encode(1234, 5678)
    raw = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    for i in range(len(raw)):
        for bit in (1, 0x80):
            forged = bytearray(raw)
            forged[i] ^= bit
            text = base64.urlsafe_b64encode(bytes(forged)).rstrip(b"=").decode()
            assert CODEC.decode(text) is None, f"flipped byte {i}"


def test_another_key_or_friend_swap_is_refused():
    assert TokenCodec("another-secret").decode(CODEC.encode(1, 2)) is None
    a, b = CODEC.encode(1, 2), CODEC.encode(1, 3)
    assert a != b and CODEC.decode(a) == (1, 2)
    # the friend-less token of a link is not the per-friend one and vice versa
    assert CODEC.encode(1) != CODEC.encode(1, 1)


def test_truncated_and_padded_tokens_are_refused():
    token = CODEC.encode(99, 77)
    for cut in range(1, len(token)):
        assert CODEC.decode(token[:cut]) is None
    assert CODEC.decode(token + "A") is None
    assert CODEC.decode(token + "==") == (99, 77)  # "=" is not base64url: trailing text


def test_alternative_spellings_are_refused():
    token = CODEC.encode(99, 77)
    # base64 with non-zero unused bits in the last character decodes to the same bytes
    last = token[-1]
    alphabet = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"
    same_bytes = [
        c
        for c in alphabet
        if c != last
        and base64.urlsafe_b64decode(token[:-1] + c + "=" * (-len(token) % 4))
        == base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    ]
    for c in same_bytes:
        assert CODEC.decode(token[:-1] + c) is None


def test_trailing_text_glued_by_a_linkifier_is_ignored():
    token = CODEC.encode(3, 4)
    for tail in ("。", "をご覧ください", ".", ")", "！", "?x=1"):
        assert CODEC.decode(token + tail) == (3, 4)


def test_random_strings_never_decode():
    rng = random.Random(7)
    alphabet = string.ascii_letters + string.digits + "-_"
    for _ in range(20_000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 30)))
        assert CODEC.decode(text) is None
    for text in ("", "%00", "../../etc/passwd", "https://evil.example", "A" * 10_000):
        assert CODEC.decode(text) is None


def test_bad_ids_are_refused():
    for link_id, friend_id in ((0, None), (-1, None), (1, 0), (1 << 62, None)):
        with pytest.raises(ValueError):
            CODEC.encode(link_id, friend_id)


def test_tracked_url_uses_public_base_url():
    settings = make_settings("sqlite://", public_base_url="https://crm.brand.example/")
    url = tracked_url(settings, 10, 20)
    assert url.startswith("https://crm.brand.example/c/")
    assert read_token(settings, url.rsplit("/", 1)[1]) == (10, 20)
    assert len(url) < len("https://crm.brand.example/c/") + 20
