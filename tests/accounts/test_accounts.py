"""Accounts: secrets sealed at rest and never shown; API keys hashed and shown once."""

from __future__ import annotations

from sqlalchemy import select

from enishi.accounts.models import Account, ApiKey
from enishi.accounts.service import ChannelDirectory


def test_secrets_are_sealed_and_never_returned(client, state, api_account):
    with state.sessions() as session:
        account = session.get(Account, api_account.id)
        assert api_account.channel_secret not in account.channel_secret_sealed
        assert api_account.access_token not in account.access_token_sealed
        assert state.box.open(account.channel_secret_sealed) == api_account.channel_secret
    response = client.get("/api/v1/account", headers=api_account.headers)
    assert response.status_code == 200
    body = response.text
    assert api_account.channel_secret not in body and api_account.access_token not in body
    assert response.json()["timezone"] == "Asia/Tokyo"


def test_api_key_required(client, api_account):
    for headers in (
        {},
        {"authorization": "Bearer nope"},
        {"authorization": "Bearer ensk_abcdefgh_wrong"},
    ):
        response = client.get("/api/v1/account", headers=headers)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthorized"


def test_patch_settings_and_rotate_secret(client, state, api_account):
    response = client.patch(
        "/api/v1/account",
        headers=api_account.headers,
        json={
            "cost_per_message_jpy": "2.5",
            "attribution_window_days": 3,
            "channel_secret": "new-secret",
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["attribution_window_days"] == 3
    with state.sessions() as session:
        account = session.get(Account, api_account.id)
        assert state.box.open(account.channel_secret_sealed) == "new-secret"
    bad = client.patch(
        "/api/v1/account", headers=api_account.headers, json={"timezone": "Mars/Olympus"}
    )
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "timezone"
    unknown = client.patch(
        "/api/v1/account", headers=api_account.headers, json={"bot_user_id": "U1"}
    )
    assert unknown.status_code == 422


def test_api_keys_shown_once_stored_hashed_and_revocable(client, state, api_account):
    created = client.post(
        "/api/v1/account/api-keys", headers=api_account.headers, json={"name": "shop"}
    )
    assert created.status_code == 201
    key = created.json()["key"]
    with state.sessions() as session:
        hashes = session.scalars(select(ApiKey.key_hash)).all()
    assert key not in hashes and all(len(h) == 64 for h in hashes)
    listed = client.get("/api/v1/account/api-keys", headers=api_account.headers).json()
    assert all("key" not in item for item in listed)
    assert (
        client.get("/api/v1/account", headers={"authorization": f"Bearer {key}"}).status_code == 200
    )
    revoked = client.delete(
        f"/api/v1/account/api-keys/{created.json()['id']}", headers=api_account.headers
    )
    assert revoked.status_code == 204
    assert (
        client.get("/api/v1/account", headers={"authorization": f"Bearer {key}"}).status_code == 401
    )


def test_channel_directory_forgets_old_unknown_ids_but_not_channels(state, api_account):
    directory = ChannelDirectory(state.box, missing_max=50)
    with state.sessions() as session:
        for n in range(500):  # made-up ids, as anyone may post to the public webhook URL
            assert directory.lookup(session, f"9{n:09d}") is None
        keys = directory.lookup(session, api_account.channel_id)
        assert keys is not None and keys.channel_secret == api_account.channel_secret
        assert len(directory) == 51
        assert directory.peek("9000000499") == (True, None)  # recent: remembered
        assert directory.peek("9000000000") == (False, None)  # oldest: forgotten
        assert directory.peek(api_account.channel_id) == (True, keys)
