"""EnishiApp answers /c/{token} and the webhook intake before FastAPI, exactly as FastAPI's
own route for them would."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from enishi.accounts.service import create_account
from enishi.tracking.clicks import ClickRecorder
from enishi.tracking.links import create_link
from enishi.tracking.models import Click
from enishi.tracking.tokens import TokenCodec
from enishi.webhook.models import WebhookEvent
from tests.conftest import ApiAccount
from tests.webhook.events import USER_A, body_of, follow, post

ROUTER = "x-test-through-fastapi"


@pytest.fixture
def dual(app) -> Iterator[TestClient]:
    """A client whose requests take the hot path, or FastAPI's route when they carry the
    ROUTER header."""

    async def either(scope, receive, send):
        if scope["type"] == "http" and any(name == ROUTER.encode() for name, _ in scope["headers"]):
            return await FastAPI.__call__(app, scope, receive, send)
        await app(scope, receive, send)

    with TestClient(either, raise_server_exceptions=False) as client:
        yield client


def both(client: TestClient, method: str, url: str, **kwargs):
    """(hot path answer, FastAPI answer) as (status, raw headers, body)."""
    answers = []
    for extra in ({}, {ROUTER: "1"}):
        headers = {**kwargs.pop("headers", {}), **extra}
        response = client.request(method, url, headers=headers, follow_redirects=False, **kwargs)
        answers.append((response.status_code, response.headers.raw, response.content))
        kwargs["headers"] = {k: v for k, v in headers.items() if k != ROUTER}
    return answers


@pytest.fixture
def account(dual, state) -> ApiAccount:
    """A connected channel, made once `dual` runs the app (api_account would start a
    second client, and with it a second group writer)."""
    secret = "0123456789abcdef0123456789abcdef"
    with state.sessions.begin() as session:
        made = create_account(
            session,
            state.box,
            name="店",
            channel_id="2000000001",
            channel_secret=secret,
            access_token="token-abc",
        )
        account_id = made.id
    return ApiAccount(account_id, "2000000001", secret, "token-abc", "")


@pytest.fixture
def link_token(state, account) -> str:
    with state.sessions.begin() as session:
        link = create_link(
            session, account.id, "https://shop.example/sale", utm={"utm_source": "line"}
        )
        link_id = link.id
    return TokenCodec(state.secret_key).encode(link_id)


def clicks(state) -> int:
    with state.sessions() as session:
        return session.scalar(select(func.count()).select_from(Click))


@pytest.mark.parametrize(
    ("method", "suffix", "headers"),
    [
        ("GET", "", {}),
        ("HEAD", "", {}),
        ("GET", "", {"user-agent": "facebookexternalhit/1.1;line-poker/1.0"}),
        ("GET", "。続きはこちら", {}),
        ("GET", "X", {}),  # forged
        ("HEAD", "X", {}),
        ("GET", "/more/segments", {}),
    ],
)
def test_clicks_answer_as_through_fastapi(dual, state, link_token, method, suffix, headers):
    hot, routed = both(dual, method, f"/c/{link_token}{suffix}", headers=headers)
    assert hot == routed
    assert hot[0] in (302, 404)
    counted = method == "GET" and suffix != "X" and not headers  # linkifier text is ignored
    assert clicks(state) == (2 if counted else 0)


def test_webhook_answers_as_through_fastapi(dual, state, account):
    cases = [
        ({}, body_of(follow(USER_A, 1_700_000_000_000))),  # stored
        ({"channel_id": "2999999999"}, body_of()),  # unknown channel
        ({"signature": "AAAA"}, body_of()),  # bad signature
        ({}, b"{not json"),
        ({}, body_of()),  # Verify
        ({"headers": {"content-length": "10000000"}}, b"{}"),  # too large
    ]
    for options, body in cases:
        hot = post(dual, account, body, **options)
        headers = {**options.get("headers", {}), ROUTER: "1"}
        routed = post(dual, account, body, **{**options, "headers": headers})
        assert (hot.status_code, hot.headers.raw, hot.content) == (
            routed.status_code,
            routed.headers.raw,
            routed.content,
        )
    with state.sessions() as session:
        assert session.scalar(select(func.count()).select_from(WebhookEvent)) == 1


def test_other_methods_and_paths_are_left_to_fastapi(client, api_account):
    assert client.post("/c/anything").status_code == 405
    assert client.get(f"/webhooks/line/{api_account.channel_id}").status_code == 405
    response = client.post(f"/webhooks/line/{api_account.channel_id}/extra", content=b"{}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_an_unexpected_error_is_the_same_plain_500(dual, link_token, monkeypatch):
    def broken(self, link_id):
        raise RuntimeError("database on fire")

    monkeypatch.setattr(ClickRecorder, "_load", broken)
    hot, routed = both(dual, "GET", f"/c/{link_token}")
    assert hot == routed
    assert hot[0] == 500 and hot[2] == b"Internal Server Error"
