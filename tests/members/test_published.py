"""member.linked: once per new link, with the member ID and how it was linked — by the
API, by LINE's account-link flow, by a CSV import — none for a link that exists already,
rolled back with the link."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest

from enishi.audit.actor import Actor
from enishi.db.base import utcnow
from enishi.events.service import Event, publish
from enishi.friends.csv_io import import_csv
from enishi.friends.models import Friend
from enishi.friends.service import get_or_create_friend
from enishi.members.models import LinkNonce
from enishi.members.service import link_member
from tests.events.support import published

USER_A, USER_B = "U" + "a" * 32, "U" + "b" * 32


def _linked(state) -> list[tuple]:
    return [
        (e.friend_id, e.payload["member_id"], e.payload["method"])
        for e in published(state, "member.linked")
    ]


def _friend(state, account_id: int, user: str) -> int:
    with state.sessions.begin() as session:
        return get_or_create_friend(session, account_id, user).id


def test_linking_by_api_publishes_once(client, state, api_account):
    friend_id = _friend(state, api_account.id, USER_A)
    url = f"/api/v1/friends/{USER_A}/member"
    for _ in range(2):  # the second PUT changes nothing
        response = client.put(url, headers=api_account.headers, json={"member_id": "M-1"})
        assert response.status_code == 200, response.text
    response = client.put(url, headers=api_account.headers, json={"member_id": "M-2"})
    assert response.status_code == 200
    assert _linked(state) == [(friend_id, "M-1", "api"), (friend_id, "M-2", "api")]
    assert published(state, "member.linked")[0].account_id == api_account.id


def test_the_account_link_flow_publishes_with_its_method(client, state, api_account):
    friend_id = _friend(state, api_account.id, USER_A)
    now = utcnow()
    with state.sessions.begin() as session:
        session.add(
            LinkNonce(
                account_id=api_account.id,
                nonce="n-1",
                line_user_id=USER_A,
                member_id="M-9",
                expires_at=now + timedelta(minutes=5),
            )
        )
    for _ in range(2):  # LINE's event handled twice links once
        with state.sessions.begin() as session:
            publish(
                session,
                Event(
                    "line.account_link",
                    now,
                    account_id=api_account.id,
                    friend_id=friend_id,
                    payload={"nonce": "n-1", "result": "ok"},
                ),
            )
    assert _linked(state) == [(friend_id, "M-9", "account_link")]


def test_a_csv_import_publishes_each_new_link(client, state, api_account):
    replaced = _friend(state, api_account.id, USER_B)
    with state.sessions.begin() as session:
        link_member(session, session.get_one(Friend, replaced), "M-old", method="api")
    content = f"line_user_id,member_id\r\n{USER_A},M-1\r\n{USER_B},M-2\r\n".encode()
    for _ in range(2):  # the same file again links nothing new
        import_csv(state.sessions, api_account.id, io.BytesIO(content), actor=Actor.cli())
    new = _friend(state, api_account.id, USER_A)
    assert sorted(_linked(state)) == sorted(
        [(replaced, "M-old", "api"), (new, "M-1", "import"), (replaced, "M-2", "import")]
    )


def test_a_rolled_back_link_publishes_nothing(client, state, api_account):
    _friend(state, api_account.id, USER_A)
    with pytest.raises(RuntimeError), state.sessions.begin() as session:
        friend = get_or_create_friend(session, api_account.id, USER_A)
        link_member(session, friend, "M-1", method="api")
        raise RuntimeError("the request failed after linking")
    assert _linked(state) == []
