"""`enishi worker` killed with SIGKILL while it sends for a producer that is not a delivery
(300 system pushes and a bulk rich-menu link for 300 users), with 5% of LINE's answers
lost: every push arrives exactly once and every user ends with the menu, read from the
emulator's records. The kills come at shares of the requests sent, read from enishi's own
outbox: a point that always lies before the end."""

from __future__ import annotations

import subprocess
from collections import Counter

from sqlalchemy import func, select

from enishi.sending.models import SENT, SYSTEM, OutboundRequest
from enishi.sending.service import enqueue
from tests.emulator.test_richmenu import new_menu
from tests.support.workers import kill, sender, start_worker, wait_for

SCALE = 0.05  # push 100/s, rich-menu bulk link 100/s
LEASE_SECONDS = 6.0  # claims: a takeover gives them back at once; otherwise after this
KILL_AT = (0.2, 0.45, 0.7)  # shares of the requests sent
USERS = 300
BULK_SIZE = 25  # users per bulk link request: 12 of them


def outbox(env) -> dict[str, int]:
    """enishi's own view: requests by status."""
    with env.state.sessions() as session:
        return dict(
            session.execute(
                select(OutboundRequest.status, func.count()).group_by(OutboundRequest.status)
            ).all()
        )


def test_sigkill_while_sending_system_pushes_and_bulk_links(start_sending, tmp_path):
    log = tmp_path / "workers.log"
    env = start_sending(friends=USERS, rate_limit_scale=SCALE)
    users = env.following()
    menu = new_menu(env.emulator)
    env.control("PUT", "/faults", json={"*": {"drop_rate": 0.05}})
    processes = [start_worker(env, log, scale=SCALE, lease_seconds=LEASE_SECONDS)]
    with env.state.sessions.begin() as session:  # one producer's transaction
        for user in users:
            payload = {"to": user, "messages": [{"type": "text", "text": "お知らせ"}]}
            enqueue(session, account_id=env.account_id, kind="push", source=SYSTEM, payload=payload)
        for at in range(0, USERS, BULK_SIZE):
            enqueue(
                session,
                account_id=env.account_id,
                kind="richmenu_bulk_link",
                source=SYSTEM,
                payload={"richMenuId": menu, "userIds": users[at : at + BULK_SIZE]},
            )
    total = USERS + USERS // BULK_SIZE

    def seen() -> str:
        counters = env.control("GET", "/counters")["counters"]
        alive = [(p.pid, p.poll()) for p in processes]
        return f"outbox {outbox(env)}, emulator {counters}, workers {alive}"

    try:
        for share in KILL_AT:

            def due(target=round(share * total)) -> subprocess.Popen | None:
                if outbox(env).get(SENT, 0) < target:
                    return None
                return sender(env, processes)

            victim = wait_for(due, 120, log, seen)
            before = outbox(env)
            kill(victim)
            assert before.get(SENT, 0) < total, seen()  # killed mid-way
            processes[processes.index(victim)] = start_worker(
                env, log, scale=SCALE, lease_seconds=LEASE_SECONDS, wait=False
            )
        wait_for(lambda: outbox(env) == {SENT: total}, 180, log, seen)
    finally:
        for process in processes:
            kill(process)
    pushes = Counter(
        user
        for user in users
        for entry in env.channel.inboxes.get(user, [])
        if entry.kind == "push"
    )
    assert pushes == Counter(dict.fromkeys(users, 1))
    assert [env.channel.friends[u].rich_menu_id for u in users] == [menu] * USERS
    counters = env.control("GET", "/counters")["counters"]
    assert counters.get("rate_limited", 0) == 0
    assert counters.get("retry_key_conflicts", 0) > 0  # lost answers and orphans were resent
