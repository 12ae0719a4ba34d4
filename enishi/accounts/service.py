"""Accounts and their API keys."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from enishi.accounts.models import Account, ApiKey
from enishi.audit.actor import Actor
from enishi.audit.service import record
from enishi.db.base import utcnow
from enishi.kit.crypto import SecretBox, api_key_prefix, hash_api_key, new_api_key
from enishi.kit.errors import ApiError


def create_account(
    session: Session,
    box: SecretBox,
    *,
    name: str,
    channel_id: str,
    channel_secret: str,
    access_token: str,
    timezone: str = "Asia/Tokyo",
    cost_per_message_jpy: Decimal = Decimal("3"),
    monthly_quota: int | None = None,
    attribution_window_days: int = 7,
    login_channel_id: str | None = None,
) -> Account:
    if not channel_id.isdigit():
        raise ApiError(422, "invalid", "channel_id must be digits", "channel_id")
    if session.scalar(select(Account.id).where(Account.channel_id == channel_id)):
        raise ApiError(409, "conflict", f"channel {channel_id} is connected already", "channel_id")
    account = Account(
        name=name,
        channel_id=channel_id,
        channel_secret_sealed=box.seal(channel_secret),
        access_token_sealed=box.seal(access_token),
        timezone=timezone,
        cost_per_message_jpy=cost_per_message_jpy,
        monthly_quota=monthly_quota,
        attribution_window_days=attribution_window_days,
        login_channel_id=login_channel_id,
    )
    session.add(account)
    session.flush()
    return account


def create_api_key(
    session: Session, account: Account, name: str, *, actor: Actor
) -> tuple[ApiKey, str]:
    """The stored key and the full key, which is shown this once and never again."""
    full, prefix, digest = new_api_key()
    key = ApiKey(account_id=account.id, name=name, prefix=prefix, key_hash=digest)
    session.add(key)
    session.flush()
    _audit_key(session, actor, "api_key.created", key)
    return key, full


def revoke_api_key(session: Session, key: ApiKey, *, actor: Actor) -> None:
    """Revoke the key now (audited); an already revoked key stays as it is."""
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        _audit_key(session, actor, "api_key.revoked", key)


def _audit_key(session: Session, actor: Actor, action: str, key: ApiKey) -> None:
    record(
        session,
        actor=actor,
        action=action,
        account_id=key.account_id,
        target=f"api_key:{key.id}",
        details={"name": key.name, "prefix": key.prefix},
    )


CREDENTIALS = ("channel_secret", "access_token")


def update_settings(
    session: Session, account: Account, *, values: dict[str, Any], box: SecretBox, actor: Actor
) -> None:
    """Apply settings, the credentials sealed. Audited: `settings.updated` with each changed
    field as [old, new]; `settings.channel_updated` with the names of the credentials
    replaced, never their values."""
    replaced = sorted(key for key in CREDENTIALS if values.get(key))
    for key in replaced:
        setattr(account, f"{key}_sealed", box.seal(values[key]))
    changes = {}
    for field, value in values.items():
        if field not in CREDENTIALS and getattr(account, field) != value:
            changes[field] = [_plain(getattr(account, field)), _plain(value)]
            setattr(account, field, value)
    session.flush()
    target = f"account:{account.id}"
    if changes:
        record(
            session,
            actor=actor,
            action="settings.updated",
            account_id=account.id,
            target=target,
            details=changes,
        )
    if replaced:
        record(
            session,
            actor=actor,
            action="settings.channel_updated",
            account_id=account.id,
            target=target,
            details={"changed": replaced},
        )


def _plain(value: object) -> object:
    """A JSON-friendly value for the audit details."""
    return str(value) if isinstance(value, Decimal) else value


def account_for_api_key(session: Session, key: str) -> tuple[Account, ApiKey] | None:
    """The account of a valid (unrevoked) key, and the key: the REST API's audit actor."""
    if api_key_prefix(key) is None:
        return None
    row = session.execute(
        select(ApiKey, Account)
        .join(Account, Account.id == ApiKey.account_id)
        .where(ApiKey.key_hash == hash_api_key(key), ApiKey.revoked_at.is_(None))
    ).first()
    if row is None:
        return None
    api_key, account = row
    now = utcnow()
    if api_key.last_used_at is None or (now - api_key.last_used_at).total_seconds() > 60:
        session.execute(update(ApiKey).where(ApiKey.id == api_key.id).values(last_used_at=now))
    return account, api_key


@dataclass(frozen=True)
class ChannelKeys:
    account_id: int
    channel_secret: str


class ChannelDirectory:
    """channel_id -> (account, channel secret) for the webhook hot path, cached briefly so
    a rotated secret takes effect within `ttl` seconds.

    Known channels are as many as the accounts. Unknown ids are anyone's to invent (the
    webhook URL is public), so only the `missing_max` most recent are remembered: a flood
    of made-up ids costs lookups, never memory."""

    def __init__(self, box: SecretBox, ttl: float = 10.0, missing_max: int = 1024) -> None:
        self._box = box
        self._ttl = ttl
        self._missing_max = missing_max
        self._known: dict[str, tuple[float, ChannelKeys]] = {}
        self._missing: OrderedDict[str, float] = OrderedDict()  # oldest first
        self._lock = threading.Lock()  # lookups run on worker threads

    def lookup(self, session: Session, channel_id: str) -> ChannelKeys | None:
        hit, keys = self.peek(channel_id)
        if hit:
            return keys
        row = session.execute(
            select(Account.id, Account.channel_secret_sealed).where(
                Account.channel_id == channel_id
            )
        ).first()
        keys = ChannelKeys(row.id, self._box.open(row.channel_secret_sealed)) if row else None
        now = time.monotonic()
        with self._lock:
            if keys is not None:
                self._known[channel_id] = (now, keys)
                self._missing.pop(channel_id, None)
            else:
                self._known.pop(channel_id, None)
                self._missing[channel_id] = now
                self._missing.move_to_end(channel_id)
                while len(self._missing) > self._missing_max:
                    self._missing.popitem(last=False)
        return keys

    def peek(self, channel_id: str) -> tuple[bool, ChannelKeys | None]:
        """(True, keys) when a fresh answer is cached, without touching the database, so an
        async caller goes to a thread (for `lookup`) only on a miss."""
        now = time.monotonic()
        known = self._known.get(channel_id)
        if known is not None and now - known[0] < self._ttl:
            return True, known[1]
        missing = self._missing.get(channel_id)
        if missing is not None and now - missing < self._ttl:
            return True, None
        return False, None

    def __len__(self) -> int:
        """Channel ids remembered, known and unknown."""
        return len(self._known) + len(self._missing)
