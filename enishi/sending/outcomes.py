"""What LINE's answer to one attempt means (LINE_PLATFORM.md §2-3).

- 200, 202: it took effect. 409 (kinds with a retry key): the key was accepted before —
  it took effect (LINE's `x-line-accepted-request-id` names the original request).
- 429 rate limit, 5xx, timeout, broken connection: retried later, with the SAME retry key
  where LINE takes one; kinds without one are safe to repeat (a link sets a state; a reply
  token is spent by the first attempt that arrives, a second one is refused).
- 429 monthly limit, 401, 403: every request of the account would fail alike — the
  producer's work is paused with LINE's message (see producers.Producer.pause).
- other 4xx: failed, with LINE's message.
- a request past its expiry (a reply token's life) is never attempted or retried again.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from enishi.db.base import utcnow
from enishi.line.errors import parse_error_body
from enishi.sending.kinds import ENDPOINTS

GIVE_UP_AFTER = timedelta(hours=23)  # LINE forgets a retry key after 24 h


@dataclass
class Job:
    """A claimed request, as the dispatcher sends it."""

    id: int
    source: str
    source_id: int | None
    kind: str
    retry_key: str | None
    method: str
    path: str
    body: bytes
    attempts: int
    first_attempt_at: datetime | None
    lease_until: datetime
    expires_at: datetime | None = None


@dataclass
class Outcome:
    """What became of one attempt (or of a claim given back unsent)."""

    job: Job
    action: str  # sent | failed | retry | release | pause
    at: datetime
    line_request_id: str | None = None
    error: str | None = None
    retry_at: datetime | None = None
    attempted: bool = True
    pause_code: str | None = None  # with action "pause": why (e.g. line_monthly_limit)


def expired(job: Job) -> Outcome:
    """A request whose time ran out before it could be sent."""
    return Outcome(
        job, "failed", utcnow(), error=f"expired at {job.expires_at:%H:%M:%S} UTC", attempted=False
    )


def classify(
    job: Job, status: int | None, headers: dict[str, str], body: bytes, error: str | None = None
) -> Outcome:
    """LINE's answer (or none: `status` None and `error`) to one attempt."""
    now = utcnow()
    attempts = job.attempts + 1
    if status in (200, 202) or (status == 409 and ENDPOINTS[job.kind].retry_key):
        request_id = (
            headers.get("x-line-accepted-request-id") if status == 409 else None
        ) or headers.get("x-line-request-id")
        return Outcome(job, "sent", now, line_request_id=request_id)
    message = error or _line_message(status, body)
    first = job.first_attempt_at or now
    if status == 429 and "monthly limit" in message.lower():
        return Outcome(job, "pause", now, error=f"LINE: {message}", pause_code="line_monthly_limit")
    if status in (401, 403):
        return Outcome(
            job, "pause", now, error=f"LINE {status}: {message}", pause_code="line_token_refused"
        )
    if status is not None and 400 <= status < 500 and status != 429:
        return Outcome(job, "failed", now, error=f"LINE {status}: {message}"[:500])
    if now - first > GIVE_UP_AFTER:
        return Outcome(
            job,
            "failed",
            now,
            error=f"gave up after {attempts} attempts within "
            f"{GIVE_UP_AFTER} (the retry key would expire): {message}"[:500],
        )
    base = 1.0 if status == 429 else 0.5
    delay = min(30.0, base * 2 ** min(attempts - 1, 6)) * random.uniform(0.75, 1.25)
    retry_at = now + timedelta(seconds=delay)
    if job.expires_at is not None and retry_at >= job.expires_at:
        return Outcome(
            job,
            "failed",
            now,
            error=f"no retry past its expiry ({job.expires_at:%H:%M:%S} UTC): "
            f"{status or ''} {message}".strip()[:500],
        )
    return Outcome(
        job, "retry", now, error=f"{status or ''} {message}".strip()[:500], retry_at=retry_at
    )


def _line_message(status: int | None, body: bytes) -> str:
    parsed = parse_error_body(body)
    message = parsed.message or f"HTTP {status}"
    if parsed.details:
        first = parsed.details[0]
        message += f" ({first.property}: {first.message})"
    return message
