"""/api/v1/links: safe destinations only, cursor pages, click counts, per-friend URLs."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from enishi.audit.actor import Actor
from enishi.tracking.tokens import read_token
from tests.tracking.conftest import USER_A, USER_B


def test_create_and_read_a_link(client, settings, api_account):
    response = client.post(
        "/api/v1/links",
        headers=api_account.headers,
        json={
            "url": "https://shop.example/spring?ref=line",
            "utm": {"utm_source": "line", "utm_campaign": "spring"},
            "label": "春のセール",
            "delivery_id": 7,
        },
    )
    assert response.status_code == 201
    link = response.json()
    assert link["url"] == "https://shop.example/spring?ref=line"
    assert link["utm"] == {"utm_source": "line", "utm_campaign": "spring"}
    assert link["delivery_id"] == 7 and link["label"] == "春のセール"
    token = urlsplit(link["tracked_url"]).path.removeprefix("/c/")
    assert link["tracked_url"].startswith("http://testserver/c/")
    assert read_token(settings, token) == (link["id"], None)
    detail = client.get(f"/api/v1/links/{link['id']}", headers=api_account.headers).json()
    assert detail["clicks"] == {"total": 0, "with_friend": 0, "unique_friends": 0}


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("javascript:alert(1)", "http"),
        ("JAVASCRIPT:alert(1)", "http"),
        ("data:text/html,<script>alert(1)</script>", "http"),
        ("//evil.example/x", "http"),
        ("/relative", "http"),
        ("ftp://files.example/x", "http"),
        ("https://", "host"),
        ("https://user:pass@shop.example/", "user name"),
        ("https://shop.example/a b", "spaces"),
        ("https://shop.example/\n", "spaces"),
        ("https://shop.example/" + "a" * 2000, "2000"),
        ("", "non-empty"),
    ],
)
def test_unsafe_urls_are_refused(client, api_account, url, why):
    response = client.post("/api/v1/links", headers=api_account.headers, json={"url": url})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["field"] == "url"
    assert why in error["message"]


@pytest.mark.parametrize(
    "utm",
    [{"source": "line"}, {"utm_source": ""}, {"utm_source": "x" * 201}, {"UTM_SOURCE": "a"}],
)
def test_bad_utm_is_refused(client, api_account, utm):
    response = client.post(
        "/api/v1/links", headers=api_account.headers, json={"url": "https://a.example/", "utm": utm}
    )
    assert response.status_code == 422
    assert response.json()["error"]["field"].startswith("utm")


def test_list_pages_newest_first(client, api_account):
    ids = [
        client.post(
            "/api/v1/links", headers=api_account.headers, json={"url": f"https://a.example/{i}"}
        ).json()["id"]
        for i in range(5)
    ]
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/v1/links", headers=api_account.headers, params=params).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids[::-1]
    bad = client.get("/api/v1/links", headers=api_account.headers, params={"cursor": "!!"})
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "cursor"
    assert (
        client.get("/api/v1/links", headers=api_account.headers, params={"limit": 0}).status_code
        == 400
    )


def test_links_of_other_accounts_are_invisible(client, state, api_account, make_link):
    from enishi.accounts.service import create_account, create_api_key

    link_id = make_link()
    with state.sessions.begin() as session:
        other = create_account(
            session,
            state.box,
            name="他店",
            channel_id="2000000002",
            channel_secret="s",
            access_token="t",
        )
        _, key = create_api_key(session, other, "k", actor=Actor.cli())
    headers = {"authorization": f"Bearer {key}"}
    assert client.get(f"/api/v1/links/{link_id}", headers=headers).status_code == 404
    assert client.get(f"/api/v1/links/{link_id}/tracked-url", headers=headers).status_code == 404
    assert client.get("/api/v1/links", headers=headers).json()["items"] == []


def test_click_counts_and_per_friend_urls(client, settings, api_account, make_friend, make_link):
    make_friend(USER_A)
    make_friend(USER_B)
    link_id = make_link()
    urls = {}
    for user in (USER_A, USER_B):
        response = client.get(
            f"/api/v1/links/{link_id}/tracked-url",
            headers=api_account.headers,
            params={"line_user_id": user},
        )
        assert response.status_code == 200
        urls[user] = response.json()["url"]
    assert urls[USER_A] != urls[USER_B]
    friendless = client.get(f"/api/v1/links/{link_id}/tracked-url", headers=api_account.headers)
    assert friendless.json()["friend_id"] is None
    for url in (urls[USER_A], urls[USER_A], urls[USER_B], friendless.json()["url"]):
        assert client.get(urlsplit(url).path, follow_redirects=False).status_code == 302
    counts = client.get(f"/api/v1/links/{link_id}", headers=api_account.headers).json()["clicks"]
    assert counts == {"total": 4, "with_friend": 3, "unique_friends": 2}
    unknown = client.get(
        f"/api/v1/links/{link_id}/tracked-url",
        headers=api_account.headers,
        params={"line_user_id": "U" + "f" * 32},
    )
    assert unknown.status_code == 404 and unknown.json()["error"]["field"] == "line_user_id"


def test_api_key_required(client):
    assert client.post("/api/v1/links", json={"url": "https://a.example/"}).status_code == 401
    assert client.get("/api/v1/links").status_code == 401
