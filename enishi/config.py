"""Settings: one object, read from `ENISHI_*` environment variables."""

from __future__ import annotations

import functools
import os
import secrets
from pathlib import Path
from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict

SECRET_FILE = Path(".enishi_secret_key")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ENISHI_", extra="ignore")

    database_url: str = "sqlite:///./enishi.db"
    # Encrypts channel secrets and tokens at rest and signs tracked-link tokens. When unset,
    # a random key is generated once and kept in .enishi_secret_key (mode 0600).
    secret_key: str = ""
    public_base_url: str = "http://127.0.0.1:8000"
    # LINE's hosts; the demo and the tests point these at the emulator.
    line_api_base: str = "https://api.line.me"
    line_data_api_base: str = "https://api-data.line.me"
    line_access_base: str = "https://access.line.me"
    # A LINE call made while its thread holds an open write transaction (a slow answer
    # would hold SQLite's write lock): logged as an error, or refused (the tests).
    line_in_write_transaction: Literal["log", "raise"] = "log"
    # SQLite durability: FULL syncs every commit, so an acknowledged webhook survives a
    # power cut, not only a crash.
    sqlite_synchronous: str = "FULL"
    webhook_max_body_bytes: int = 5 * 1024 * 1024
    # processed webhook events are deleted after this many days (0 keeps them forever)
    webhook_retention_days: int = 30
    # delivered domain events are deleted after this many days (0 keeps them forever)
    event_retention_days: int = 7
    # Demo and tests only: honour the emulator's `x-emulator-sim-time` (simulated click
    # time) and `x-emulator-member-id` headers. Never enable against real LINE users.
    trust_emulator_headers: bool = False
    log_level: str = "info"
    # Deliveries (docs/deliveries.md): the dispatcher sends at LINE's per-channel limits
    # times this scale (tests and CI benchmarks scale LINE down, the emulator likewise);
    # a claimed request is given back after `delivery_lease_seconds` if its worker died.
    delivery_rate_limit_scale: float = 1.0
    delivery_request_timeout: float = 10.0
    delivery_lease_seconds: float = 30.0

    def resolved_secret_key(self) -> str:
        if self.secret_key:
            return self.secret_key
        if SECRET_FILE.exists():
            return SECRET_FILE.read_text().strip()
        key = secrets.token_urlsafe(48)
        fd = os.open(SECRET_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(key)
        return key


@functools.cache
def get_settings() -> Settings:
    return Settings()
