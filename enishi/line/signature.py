"""LINE's webhook signature: base64(HMAC-SHA256(channel secret, raw body))."""

from __future__ import annotations

import base64
import hashlib
import hmac


def signature_for(channel_secret: str, body: bytes) -> str:
    return base64.b64encode(
        hmac.new(channel_secret.encode(), body, hashlib.sha256).digest()
    ).decode()


def verify_signature(channel_secret: str, body: bytes, signature: str | None) -> bool:
    """Checked on the exact bytes received, before anything parses them."""
    if not signature:
        return False
    return hmac.compare_digest(signature_for(channel_secret, body), signature.strip())
