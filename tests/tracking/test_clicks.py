"""GET /c/{token}: every genuine click stored once before the 302; HEAD, crawlers and
prefetches not counted; anything else a friendly 404 page and never a redirect."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlsplit

import pytest
from sqlalchemy import select

from enishi.friends.models import Friend
from enishi.tracking.models import Click
from enishi.tracking.tokens import TokenCodec, tracked_url
from tests.tracking.conftest import USER_A, USER_B

IPHONE_LINE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148 Safari Line/14.9.0"
)


def path_of(settings, link_id, friend_id=None) -> str:
    return urlsplit(tracked_url(settings, link_id, friend_id)).path


def clicks(state) -> list[Click]:
    with state.sessions() as session:
        return list(session.scalars(select(Click).order_by(Click.id)))


def friend(state, friend_id) -> Friend:
    with state.sessions() as session:
        return session.get(Friend, friend_id)


def test_click_is_recorded_then_redirected(client, state, settings, make_friend, make_link):
    friend_id = make_friend()
    link_id = make_link("https://shop.example/sale")
    before = datetime.now(UTC)
    response = client.get(
        path_of(settings, link_id, friend_id),
        headers={"user-agent": IPHONE_LINE},
        follow_redirects=False,
    )
    assert response.status_code == 302
    assert response.headers["location"] == "https://shop.example/sale"
    assert "no-store" in response.headers["cache-control"]
    stored = clicks(state)  # stored before the answer: no waiting needed
    assert len(stored) == 1
    click = stored[0]
    assert (click.link_id, click.friend_id, click.account_id) == (link_id, friend_id, 1)
    assert click.user_agent == IPHONE_LINE
    assert before <= click.clicked_at <= datetime.now(UTC)
    rollup = friend(state, friend_id)
    assert rollup.click_count == 1 and rollup.last_click_at == click.clicked_at


def test_each_get_counts_once(client, state, settings, make_friend, make_link):
    friend_id = make_friend()
    link_id = make_link()
    for _ in range(3):
        assert (
            client.get(path_of(settings, link_id, friend_id), follow_redirects=False).status_code
            == 302
        )
    assert len(clicks(state)) == 3
    assert friend(state, friend_id).click_count == 3


def test_friendless_token_counts_without_a_friend(client, state, settings, make_friend, make_link):
    friend_id = make_friend()
    link_id = make_link()
    assert client.get(path_of(settings, link_id), follow_redirects=False).status_code == 302
    (click,) = clicks(state)
    assert click.friend_id is None
    assert friend(state, friend_id).click_count == 0


def test_delivery_is_the_links(client, state, settings, make_link):
    link_id = make_link(delivery_id=42)
    client.get(path_of(settings, link_id), follow_redirects=False)
    assert clicks(state)[0].delivery_id == 42


@pytest.mark.parametrize(
    "headers",
    [
        {"user-agent": "facebookexternalhit/1.1;line-poker/1.0"},
        {"user-agent": "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)"},
        {"user-agent": "Twitterbot/1.0"},
        {"user-agent": "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"},
        {"user-agent": "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)"},
        {"user-agent": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"},
        {"user-agent": "SomeCrawler/3"},
        {"user-agent": "my-spider"},
        {"user-agent": IPHONE_LINE, "purpose": "prefetch"},
        {"user-agent": IPHONE_LINE, "sec-purpose": "prefetch;prerender"},
    ],
)
def test_crawlers_and_prefetches_are_redirected_without_counting(
    client, state, settings, make_friend, make_link, headers
):
    friend_id = make_friend()
    link_id = make_link()
    response = client.get(
        path_of(settings, link_id, friend_id), headers=headers, follow_redirects=False
    )
    assert response.status_code == 302
    assert response.headers["location"] == "https://shop.example/sale"
    assert clicks(state) == []
    assert friend(state, friend_id).click_count == 0


def test_head_redirects_without_counting(client, state, settings, make_friend, make_link):
    friend_id = make_friend()
    link_id = make_link()
    response = client.head(path_of(settings, link_id, friend_id), follow_redirects=False)
    assert response.status_code == 302
    assert response.headers["location"] == "https://shop.example/sale"
    assert clicks(state) == []


@pytest.mark.parametrize(
    "token",
    [
        "x",
        "AAAAAAAAAAAAAAAAAAAA",
        "",
        "a/b/c",
        "%2e%2e",
        "javascript:alert(1)",
        "A" * 300,
        "https:%2F%2Fevil.example",
        "ＡＢＣ",
    ],
)
def test_invalid_tokens_get_the_friendly_page(client, state, make_link, token):
    make_link()
    response = client.get(f"/c/{token}", follow_redirects=False)
    assert response.status_code == 404
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")
    assert "リンクが見つかりません" in response.text and "Link not found" in response.text
    assert clicks(state) == []


def test_forged_and_foreign_tokens_get_404(client, state, settings, make_link):
    link_id = make_link()
    forged = TokenCodec("not-our-secret").encode(link_id)
    assert client.get(f"/c/{forged}", follow_redirects=False).status_code == 404
    good = urlsplit(tracked_url(settings, link_id)).path
    tampered = good[:-1] + ("A" if good[-1] != "A" else "B")
    assert client.get(tampered, follow_redirects=False).status_code == 404
    assert client.head(tampered).status_code == 404
    assert clicks(state) == []


def test_signed_token_of_an_unknown_link_gets_404(client, state, settings, make_link):
    make_link()
    response = client.get(path_of(settings, 999), follow_redirects=False)
    assert response.status_code == 404
    assert clicks(state) == []


def test_unknown_friend_in_a_genuine_token_still_counts_the_click(
    client, state, settings, make_link
):
    link_id = make_link()
    response = client.get(path_of(settings, link_id, 424242), follow_redirects=False)
    assert response.status_code == 302
    (click,) = clicks(state)
    assert click.friend_id is None


def test_friend_of_another_account_is_not_credited(client, state, settings, make_link):
    from enishi.accounts.service import create_account
    from enishi.friends.service import get_or_create_friend

    with state.sessions.begin() as session:
        other = create_account(
            session,
            state.box,
            name="他店",
            channel_id="2000000002",
            channel_secret="s",
            access_token="t",
        )
        stranger = get_or_create_friend(session, other.id, USER_B).id
    link_id = make_link()
    client.get(path_of(settings, link_id, stranger), follow_redirects=False)
    (click,) = clicks(state)
    assert click.friend_id is None
    assert friend(state, stranger).click_count == 0


@pytest.mark.parametrize(
    ("url", "utm", "expected"),
    [
        (
            "https://shop.example/p",
            {"utm_source": "line", "utm_medium": "message"},
            "https://shop.example/p?utm_source=line&utm_medium=message",
        ),
        (
            "https://shop.example/p?color=red&size=M#reviews",
            {"utm_source": "line"},
            "https://shop.example/p?color=red&size=M&utm_source=line#reviews",
        ),
        (
            "https://shop.example/p?utm_source=ig",
            {"utm_source": "line", "utm_campaign": "春セール"},
            "https://shop.example/p?utm_source=ig&utm_campaign=%E6%98%A5%E3%82%BB%E3%83%BC%E3%83%AB",
        ),
        (
            "https://shop.example/p?q=a%20b&empty=",
            {"utm_campaign": "a&b=c"},
            "https://shop.example/p?q=a%20b&empty=&utm_campaign=a%26b%3Dc",
        ),
        (
            "https://ショップ.example/商品?色=赤",
            None,
            "https://xn--xckya1d0c.example/%E5%95%86%E5%93%81?%E8%89%B2=%E8%B5%A4",
        ),
        ("http://shop.example:8080/", None, "http://shop.example:8080/"),
    ],
)
def test_utm_parameters_merge_into_the_query(
    client, state, settings, make_link, url, utm, expected
):
    link_id = make_link(url, utm=utm)
    response = client.get(path_of(settings, link_id), follow_redirects=False)
    assert response.status_code == 302
    location = response.headers["location"]
    assert location == expected
    if utm:  # every parameter exactly once
        keys = [k for k, _ in parse_qsl(urlsplit(location).query, keep_blank_values=True)]
        assert len(keys) == len(set(keys))


def test_rollup_keeps_the_latest_click_time(trusted_client, settings, make_link):
    state = trusted_client.app.state.enishi
    from enishi.friends.service import get_or_create_friend

    with state.sessions.begin() as session:
        from enishi.accounts.service import create_account

        account = create_account(
            session,
            state.box,
            name="店",
            channel_id="2000000009",
            channel_secret="s",
            access_token="t",
        )
        friend_id = get_or_create_friend(session, account.id, USER_A).id
        from enishi.tracking.links import create_link

        link_id = create_link(session, account.id, "https://shop.example/").id
    path = path_of(settings, link_id, friend_id)
    for t in (1_767_600_000.0, 1_767_500_000.5, "nonsense", "1e300", "nan"):
        trusted_client.get(path, headers={"x-emulator-sim-time": str(t)}, follow_redirects=False)
    with state.sessions() as session:
        times = [c.clicked_at for c in session.scalars(select(Click).order_by(Click.id))]
        rollup = session.get(Friend, friend_id)
    assert times[0] == datetime.fromtimestamp(1_767_600_000.0, UTC)
    assert times[1] == datetime.fromtimestamp(1_767_500_000.5, UTC)
    now = datetime.now(UTC)
    assert all(abs((t - now).total_seconds()) < 60 for t in times[2:])  # bad values: now
    assert rollup.click_count == 5
    assert rollup.last_click_at == max(times)


def test_sim_time_header_ignored_unless_trusted(client, state, settings, make_friend, make_link):
    friend_id = make_friend()
    link_id = make_link()
    client.get(
        path_of(settings, link_id, friend_id),
        headers={"x-emulator-sim-time": "1767600000.0"},
        follow_redirects=False,
    )
    (click,) = clicks(state)
    assert abs((click.clicked_at - datetime.now(UTC)).total_seconds()) < 60


def test_not_in_openapi(client):
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    assert not any(p.startswith("/c/") for p in paths)
    assert "/api/v1/links" in paths and "/api/v1/conversions" in paths
