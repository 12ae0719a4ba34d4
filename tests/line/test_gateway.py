"""The gateway against the emulator over HTTP: typed results, one error type, and no LINE
call from a thread that holds an open write transaction."""

from __future__ import annotations

import logging
import threading
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select, update

from enishi.accounts.models import Account
from enishi.accounts.service import create_account
from enishi.line.errors import LineError
from enishi.line.gateway import (
    BotInfo,
    LineCallInWriteTransaction,
    LineGateway,
    MessageQuota,
    Profile,
)
from tests.conftest import make_settings
from tests.emulator.conftest import start_emulator  # noqa: F401

NOT_A_FRIEND = "U" + "f" * 32


@pytest.fixture
def emulator(start_emulator):  # noqa: F811
    return start_emulator(friends=2, quota_limit=1000)


@pytest.fixture
def settings(database_url, emulator):
    return make_settings(
        database_url, line_api_base=emulator.base_url, line_access_base=emulator.base_url
    )


@pytest.fixture
def line(settings, emulator) -> LineGateway:
    gateway = LineGateway(settings, emulator.token)
    yield gateway
    gateway.close()


def test_typed_results(line, emulator):
    channel = emulator.channel
    info = line.bot_info()
    assert isinstance(info, BotInfo)
    assert (info.user_id, info.basic_id, info.display_name) == (
        channel.bot_user_id,
        channel.basic_id,
        channel.display_name,
    )
    friend = next(iter(channel.friends.values()))
    profile = line.profile(friend.user_id, timeout=5)
    assert isinstance(profile, Profile)
    assert (profile.user_id, profile.display_name) == (friend.user_id, friend.display_name)
    assert line.message_quota() == MessageQuota(type="limited", value=1000)
    assert line.quota_consumption() == 0
    token = line.issue_link_token(friend.user_id)
    url = urlsplit(line.account_link_url(link_token=token, nonce="n0"))
    assert url.path == "/dialog/bot/accountLink"
    assert parse_qs(url.query) == {"linkToken": [token], "nonce": ["n0"]}


def test_refusals_are_line_errors_with_lines_words(line):
    with pytest.raises(LineError) as caught:
        line.profile(NOT_A_FRIEND)
    assert caught.value.status == 404 and caught.value.reached
    assert caught.value.message and caught.value.request_id
    with pytest.raises(LineError) as caught:
        line.validate_push([{"type": "text", "text": "x" * 5001}])
    assert caught.value.status == 400
    assert [d.property for d in caught.value.details] == ["messages[0].text"]
    with pytest.raises(LineError) as caught:
        line.issue_link_token(NOT_A_FRIEND)
    assert caught.value.status == 400 and "friend" in caught.value.message
    line.validate_multicast([{"type": "text", "text": "こんにちは"}])  # valid: no error


def test_the_sdk_refusing_a_message_is_not_lines_answer(line):
    with pytest.raises((ValueError, TypeError)):
        line.validate_push([{"type": "no-such-type"}])


def test_unreachable_is_a_line_error_without_status(database_url):
    line = LineGateway(make_settings(database_url), "token")  # nothing listens there
    for call in (
        line.bot_info,
        line.message_quota,
        lambda: line.verify_id_token("x", client_id="1"),
    ):
        with pytest.raises(LineError) as caught:
            call()
        assert caught.value.status is None and not caught.value.reached
        assert caught.value.message  # what failed, e.g. MaxRetryError


# --- no LINE call inside a write transaction ----------------------------------------------
@pytest.fixture
def account_id(state, emulator) -> int:
    with state.sessions.begin() as session:
        account = create_account(
            session,
            state.box,
            name="gateway",
            channel_id=emulator.channel.channel_id,
            channel_secret=emulator.secret,
            access_token=emulator.token,
        )
        return account.id


def test_refused_inside_a_write_transaction(state, account_id):
    with state.sessions() as session:
        account = session.get(Account, account_id)
    line = state.line_for(account)
    with state.sessions.begin() as session:
        line.bot_info()  # reading only: allowed
        session.execute(update(Account).where(Account.id == account_id).values(name="Core"))
        with pytest.raises(LineCallInWriteTransaction):
            line.bot_info()
        with pytest.raises(LineCallInWriteTransaction):
            line.verify_id_token("x", client_id="1")
    line.bot_info()  # committed: allowed again
    with state.sessions() as session:
        session.get(Account, account_id).name = "ORM"
        session.flush()
        with pytest.raises(LineCallInWriteTransaction):
            line.message_quota()
        session.rollback()
        line.message_quota()  # rolled back: allowed
    with state.sessions() as session:
        session.get(Account, account_id).name = "pending, not flushed"
        line.message_quota()  # nothing written yet: no lock is held
        session.rollback()
    with state.sessions() as session:
        assert session.scalar(select(Account.name)) == "Core"


def test_another_threads_write_transaction_does_not_refuse_this_one(state, account_id):
    with state.sessions() as session:
        line = state.line_for(session.get(Account, account_id))
    written, done = threading.Event(), threading.Event()

    def writer() -> None:
        with state.sessions.begin() as session:
            session.execute(update(Account).values(name="other thread"))
            written.set()
            done.wait(30)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert written.wait(30)
        line.bot_info()
    finally:
        done.set()
        thread.join()


def test_production_logs_the_call_and_makes_it(state, account_id, caplog):
    state.settings.line_in_write_transaction = "log"
    with state.sessions() as session:
        line = state.line_for(session.get(Account, account_id))
    with state.sessions.begin() as session:
        session.execute(update(Account).values(name="logged"))
        with caplog.at_level(logging.ERROR, logger="enishi.line.gateway"):
            assert line.bot_info().basic_id
    assert [r.message for r in caplog.records] == ["LINE called inside a write transaction"]
