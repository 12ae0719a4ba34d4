"""A slow LINE answer while a delivery is validated and scheduled does not stall the webhook
intake: LINE is never asked inside a write transaction (on SQLite one would hold the only
write lock for as long as LINE takes; docs/decisions/0101-line-gateway.md)."""

from __future__ import annotations

import threading
import time

import httpx
from sqlalchemy import update

from enishi.accounts.models import ApiKey
from enishi.line.signature import signature_for
from tests.webhook.events import USER_A, body_of, text

LATENCY_MS = 1500  # per LINE call; scheduling asks LINE three times
INTAKE_MAX_S = 1.0


def test_webhook_intake_stays_fast_while_line_answers_slowly(env):
    delivery = env.create(
        name="slow LINE",
        audience={"type": "all"},
        messages=[{"type": "text", "text": "こんにちは"}],
    )
    slow = {"latency_ms": LATENCY_MS}
    env.faults({"validate_multicast": slow, "quota": slow, "quota_consumption": slow})
    with env.state.sessions.begin() as session:  # the API key's next use writes its touch
        session.execute(update(ApiKey).values(last_used_at=None))
    answers: list[httpx.Response] = []

    def schedule() -> None:
        answers.append(env.call("POST", f"/deliveries/{delivery['id']}/schedule"))

    scheduling = threading.Thread(target=schedule)
    started = time.monotonic()
    scheduling.start()
    intake: list[float] = []
    with httpx.Client(timeout=30) as client:
        while scheduling.is_alive():
            body = body_of(text(USER_A, int(time.time() * 1000), f"hello {len(intake)}"))
            sent = time.monotonic()
            response = client.post(
                env.e2e.webhook_url,
                content=body,
                headers={
                    "content-type": "application/json",
                    "x-line-signature": signature_for(env.e2e.emulator.secret, body),
                },
            )
            assert response.status_code == 200, response.text
            intake.append(time.monotonic() - sent)
    scheduling.join()
    assert answers[0].status_code == 200 and answers[0].json()["status"] == "scheduled"
    assert time.monotonic() - started >= 3 * LATENCY_MS / 1000  # LINE was slow throughout
    assert max(intake) < INTAKE_MAX_S, sorted(intake)[-5:]
    assert len(intake) >= 5
