"""Secrets at rest, API-key hashes and signed tokens, all derived from ENISHI_SECRET_KEY."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def derive_key(secret_key: str, purpose: str, length: int = 32) -> bytes:
    """A separate key per purpose, so a token-signing key never decrypts channel secrets."""
    return HKDF(
        algorithm=hashes.SHA256(), length=length, salt=b"enishi", info=purpose.encode()
    ).derive(secret_key.encode())


class SecretBox:
    """Encrypts channel secrets and access tokens for storage (Fernet: AES + HMAC)."""

    def __init__(self, secret_key: str) -> None:
        self._fernet = Fernet(base64.urlsafe_b64encode(derive_key(secret_key, "secrets-at-rest")))

    def seal(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken:
            raise ValueError("cannot decrypt: was ENISHI_SECRET_KEY changed?") from None


def new_api_key() -> tuple[str, str, str]:
    """(full key shown once, lookup prefix, hash to store). Keys are 256-bit random, so a
    plain SHA-256 is a safe hash for them (passwords get argon2 instead)."""
    prefix = secrets.token_hex(4)
    key = f"ensk_{prefix}_{secrets.token_urlsafe(32)}"
    return key, prefix, hash_api_key(key)


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def api_key_prefix(key: str) -> str | None:
    parts = key.split("_")
    if len(parts) < 3 or parts[0] != "ensk" or len(parts[1]) != 8:
        return None
    return parts[1]


class Signer:
    """Short HMAC signatures for tokens in URLs (tracked links, link nonces)."""

    def __init__(self, secret_key: str, purpose: str, *, size: int = 8) -> None:
        self._key = derive_key(secret_key, purpose)
        self._size = size

    def sign(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()[: self._size]

    def verify(self, payload: bytes, signature: bytes) -> bool:
        return hmac.compare_digest(self.sign(payload), signature)
