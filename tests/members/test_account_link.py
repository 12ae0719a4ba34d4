"""The account-link flow against the emulator: link session → LINE's dialog → the signed
accountLink webhook → complete_account_link; failed, expired, reused and unknown nonces."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import func, select

from enishi.friends.models import FriendActivity
from enishi.members.models import LinkNonce, MemberLink
from enishi.members.service import complete_account_link
from tests.members.helpers import act, event_time, following_friend, signed_events, virtual_friends


def start_session(client, api_account, user_id: str, member_id: str) -> dict:
    response = client.post(
        "/api/v1/members/link-sessions",
        headers=api_account.headers,
        json={"line_user_id": user_id, "member_id": member_id},
    )
    assert response.status_code == 201, response.text
    return response.json()


def dialog_params(redirect_url: str) -> tuple[str, str]:
    query = parse_qs(urlsplit(redirect_url).query)
    return query["linkToken"][0], query["nonce"][0]


def deliver(state, account_id: int, events: list[dict]) -> None:
    """What the webhook processor does with accountLink events."""
    with state.sessions.begin() as session:
        for event in events:
            assert event["type"] == "accountLink"
            user_id = event.get("source", {}).get("userId")
            friend = following_friend(session, account_id, user_id) if user_id else None
            complete_account_link(
                session, friend, event["link"]["nonce"], event["link"]["result"], event_time(event)
            )


def activities(state, kind: str) -> list[FriendActivity]:
    with state.sessions() as session:
        return list(session.scalars(select(FriendActivity).where(FriendActivity.kind == kind)))


def test_link_session_then_account_link_ok(client, api_account, state, emulator, webhook_receiver):
    user = virtual_friends(emulator, member=True)[0]
    body = start_session(client, api_account, user.user_id, user.traits.member_id)
    url = urlsplit(body["redirect_url"])
    assert f"{url.scheme}://{url.netloc}" == emulator.base_url
    assert url.path == "/dialog/bot/accountLink"
    token, nonce = dialog_params(body["redirect_url"])
    assert 43 <= len(nonce) <= 255 and token in emulator.channel.link_tokens
    with state.sessions() as session:
        stored = session.scalar(select(LinkNonce).where(LinkNonce.nonce == nonce))
        assert stored.line_user_id == user.user_id and stored.used_at is None
        assert stored.expires_at - stored.created_at == timedelta(minutes=10)

    result = act(emulator, user.user_id, "open_link", url=body["redirect_url"])
    assert result["account_link"] is True
    events = signed_events(webhook_receiver)
    assert [e["link"] for e in events] == [{"result": "ok", "nonce": nonce}]
    deliver(state, api_account.id, events)

    found = client.get(f"/api/v1/members/{user.traits.member_id}", headers=api_account.headers)
    assert found.status_code == 200
    assert found.json()["line_user_id"] == user.user_id
    assert found.json()["link_method"] == "account_link"
    # enishi's record matches the emulator's ground truth
    assert emulator.channel.friends[user.user_id].linked_member_id == user.traits.member_id
    with state.sessions() as session:
        assert session.scalar(select(LinkNonce.used_at).where(LinkNonce.nonce == nonce))

    # the same event processed twice changes nothing
    deliver(state, api_account.id, events)
    with state.sessions() as session:
        assert session.scalar(select(func.count()).select_from(MemberLink)) == 1


def test_other_user_gets_failed_then_owner_links(
    client, api_account, state, emulator, webhook_receiver
):
    owner, intruder = virtual_friends(emulator)[:2]
    body = start_session(client, api_account, owner.user_id, "M-OWNER-1")
    token, nonce = dialog_params(body["redirect_url"])

    act(emulator, intruder.user_id, "account_link", linkToken=token, nonce=nonce)
    failed = signed_events(webhook_receiver)
    assert failed[0]["link"]["result"] == "failed" and "source" not in failed[0]
    with state.sessions.begin() as session:  # the owner is a friend enishi knows
        following_friend(session, api_account.id, owner.user_id)
    deliver(state, api_account.id, failed)
    assert client.get("/api/v1/members/M-OWNER-1", headers=api_account.headers).status_code == 404
    recorded = activities(state, "member_link_failed")
    assert len(recorded) == 1 and recorded[0].data["member_id"] == "M-OWNER-1"

    # LINE keeps the token valid for its owner, and so does enishi's nonce
    webhook_receiver.requests.clear()
    assert act(emulator, owner.user_id, "account_link", linkToken=token, nonce=nonce) is True
    deliver(state, api_account.id, signed_events(webhook_receiver))
    found = client.get("/api/v1/members/M-OWNER-1", headers=api_account.headers)
    assert found.json()["line_user_id"] == owner.user_id


def test_expired_nonce_is_recorded_and_ignored(
    client, api_account, state, emulator, webhook_receiver
):
    user = virtual_friends(emulator)[0]
    body = start_session(client, api_account, user.user_id, "M-LATE")
    token, nonce = dialog_params(body["redirect_url"])
    # LINE's side: after 10 minutes the dialog sends nothing at all
    emulator.call(_advance(emulator.emulator.state.clock, 601))
    assert act(emulator, user.user_id, "account_link", linkToken=token, nonce=nonce) is False
    assert signed_events(webhook_receiver) == []
    # enishi's side: an ok event dated after the nonce expired is refused
    with state.sessions.begin() as session:
        friend = following_friend(session, api_account.id, user.user_id)
        expires = session.scalar(select(LinkNonce.expires_at).where(LinkNonce.nonce == nonce))
        complete_account_link(session, friend, nonce, "ok", expires + timedelta(seconds=1))
        assert friend.member_id is None
    assert [a.data["reason"] for a in activities(state, "member_link_rejected")] == [
        "expired_nonce"
    ]


async def _advance(clock, seconds: float) -> None:
    clock.advance(seconds)  # the clock alone: no simulated day of other events


def test_reused_and_unknown_nonces(client, api_account, state, emulator, webhook_receiver):
    first, second = virtual_friends(emulator)[:2]
    body = start_session(client, api_account, first.user_id, "M-ONCE")
    token, nonce = dialog_params(body["redirect_url"])
    act(emulator, first.user_id, "account_link", linkToken=token, nonce=nonce)
    events = signed_events(webhook_receiver)
    deliver(state, api_account.id, events)
    # a forged event replaying the nonce for another user, and a made-up nonce
    with state.sessions.begin() as session:
        other = following_friend(session, api_account.id, second.user_id)
        at = event_time(events[0])
        complete_account_link(session, other, nonce, "ok", at)
        complete_account_link(session, other, "x" * 43, "ok", at)
        complete_account_link(session, other, "", "ok", at)
        complete_account_link(session, None, nonce, "ok", at)  # ok without a user: nothing
        assert other.member_id is None
    reasons = [a.data["reason"] for a in activities(state, "member_link_rejected")]
    assert reasons == ["other_user", "unknown_nonce", "unknown_nonce"]
    # after the owner unlinks, replaying the used nonce does not link again
    assert (
        client.delete(
            f"/api/v1/friends/{first.user_id}/member", headers=api_account.headers
        ).status_code
        == 204
    )
    deliver(state, api_account.id, events)
    assert client.get("/api/v1/members/M-ONCE", headers=api_account.headers).status_code == 404
    assert [a.data["reason"] for a in activities(state, "member_link_rejected")][-1] == (
        "used_nonce"
    )


def test_link_session_errors(client, api_account, emulator):
    # LINE issues link tokens only for users who added the account
    response = client.post(
        "/api/v1/members/link-sessions",
        headers=api_account.headers,
        json={"line_user_id": "U" + "0" * 32, "member_id": "M1"},
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "line_rejected"
    assert "friend" in response.json()["error"]["message"]
    for body, field in (
        ({"line_user_id": "not-a-user", "member_id": "M1"}, "line_user_id"),
        ({"line_user_id": "U" + "a" * 32, "member_id": ""}, "member_id"),
        ({"line_user_id": "U" + "a" * 32}, "member_id"),
    ):
        response = client.post(
            "/api/v1/members/link-sessions", headers=api_account.headers, json=body
        )
        assert response.status_code == 422 and response.json()["error"]["field"] == field
    assert (
        client.post(
            "/api/v1/members/link-sessions", json={"line_user_id": "U" + "a" * 32, "member_id": "M"}
        ).status_code
        == 401
    )
