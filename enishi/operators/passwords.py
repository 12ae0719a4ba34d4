"""Password hashing with argon2id (argon2-cffi's defaults, the RFC 9106 low-memory profile)."""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
# Verified when the email is unknown, so an unknown email costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash("enishi-no-such-operator")

MIN_LENGTH = 10  # operators/service.py's messages say so
MAX_LENGTH = 256  # argon2 takes any length; a cap keeps a hash request cheap
MIN_DISTINCT = 5  # "aaaaaaaaaa" and "1212121212" are not passwords


def one_time_password() -> str:
    """A random first / reset password (16 URL-safe characters, 96 bits), shown once."""
    return secrets.token_urlsafe(12)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
