"""The built-in member-link page: signed expiring tokens, the CSRF-protected form, the
redirect to LINE's dialog (and nowhere else), and the emulator's virtual friends."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from enishi.members.service import link_page_token, link_page_url, read_link_page_token
from tests.members.helpers import act, serve, signed_events, virtual_friends

USER = "U" + "1" * 32


def page_path(state, api_account, user: str, ttl: timedelta = timedelta(days=7)) -> str:
    return f"/members/link/{link_page_token(state.secret_key, api_account.id, user, ttl)}"


def form_csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def test_tokens_are_signed_and_expire(state, api_account, settings):
    token = link_page_token(state.secret_key, api_account.id, USER)
    assert len(token) == 59 and re.fullmatch(r"[A-Za-z0-9_-]+", token)
    assert read_link_page_token(state.secret_key, token) == (api_account.id, USER)
    assert read_link_page_token("another-key", token) is None
    flipped = token[:20] + ("A" if token[20] != "A" else "B") + token[21:]
    assert read_link_page_token(state.secret_key, flipped) is None
    assert read_link_page_token(state.secret_key, token[:-1]) is None
    assert read_link_page_token(state.secret_key, "!" * 59) is None
    expired = link_page_token(state.secret_key, api_account.id, USER, timedelta(seconds=-1))
    assert read_link_page_token(state.secret_key, expired) is None
    url = link_page_url(settings, api_account.id, USER)
    assert url.startswith("http://testserver/members/link/")
    with pytest.raises(ValueError):
        link_page_token(state.secret_key, api_account.id, "U123")


def test_form_then_post_redirects_to_line_dialog(
    client, api_account, state, emulator, webhook_receiver
):
    user = virtual_friends(emulator)[0]
    path = page_path(state, api_account, user.user_id)
    page = client.get(path)
    assert page.status_code == 200
    assert "会員ID" in page.text and "Member ID" in page.text
    assert "enishi_link_csrf" in page.cookies
    assert page.headers["referrer-policy"] == "no-referrer"

    response = client.post(
        path,
        data={
            "member_id": "M-PAGE-1",
            "csrf": form_csrf(page.text),
            "next": "https://evil.example/",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith(f"{emulator.base_url}/dialog/bot/accountLink?")
    assert "evil" not in location

    # LINE's dialog, opened by the same user: the accountLink event carries our nonce
    query = parse_qs(urlsplit(location).query)
    assert (
        act(
            emulator,
            user.user_id,
            "account_link",
            linkToken=query["linkToken"][0],
            nonce=query["nonce"][0],
        )
        is True
    )
    assert signed_events(webhook_receiver)[0]["link"] == {
        "result": "ok",
        "nonce": query["nonce"][0],
    }


def test_post_without_the_form_token_is_refused(client, api_account, state, emulator):
    user = virtual_friends(emulator)[0]
    path = page_path(state, api_account, user.user_id)
    page = client.get(path)
    csrf = form_csrf(page.text)
    assert client.post(path, data={"member_id": "M1"}).status_code == 403
    assert client.post(path, data={"member_id": "M1", "csrf": "x" * 22}).status_code == 403
    # the right field without the cookie it is bound to (a cross-site form) fails too
    client.cookies.clear()
    refused = client.post(path, data={"member_id": "M1", "csrf": csrf})
    assert refused.status_code == 403 and "もう一度" in refused.text
    # a form token is bound to its link: it does not work on another user's link
    page = client.get(path)
    other = page_path(state, api_account, virtual_friends(emulator)[1].user_id)
    assert (
        client.post(other, data={"member_id": "M1", "csrf": form_csrf(page.text)}).status_code
        == 403
    )
    assert emulator.channel.link_tokens == {}  # nothing was asked of LINE


def test_bad_links_and_input(client, api_account, state, emulator):
    assert client.get("/members/link/forged").status_code == 404
    expired = page_path(state, api_account, USER, timedelta(seconds=-5))
    page = client.get(expired)
    assert page.status_code == 404 and "有効期限" in page.text
    assert client.post(expired, data={"member_id": "M"}).status_code == 404
    gone = f"/members/link/{link_page_token(state.secret_key, 999, USER)}"
    assert client.get(gone).status_code == 404

    user = virtual_friends(emulator)[0]
    path = page_path(state, api_account, user.user_id)
    csrf = form_csrf(client.get(path).text)
    empty = client.post(path, data={"member_id": "  ", "csrf": csrf})
    assert empty.status_code == 422 and "会員IDを入力してください" in empty.text
    # a LINE user who has not added the account: LINE refuses the link token
    stranger = page_path(state, api_account, USER)
    csrf = form_csrf(client.get(stranger).text)
    refused = client.post(stranger, data={"member_id": "M", "csrf": csrf})
    assert refused.status_code == 409 and "友だち追加" in refused.text


def test_markup_in_input_is_escaped(client, api_account, state, emulator):
    user = virtual_friends(emulator)[0]
    path = page_path(state, api_account, user.user_id)
    csrf = form_csrf(client.get(path).text)
    response = client.post(path, data={"member_id": "<script>x</script>" + "y" * 200, "csrf": csrf})
    assert response.status_code == 422
    assert "<script>x" not in response.text and "&lt;script&gt;" in response.text


def test_virtual_friend_links_through_the_page(
    client, api_account, state, emulator, webhook_receiver, app
):
    """The emulator's friend opens the page with x-emulator-member-id and follows the
    redirect to LINE's dialog, which the emulator completes."""
    with serve(app) as base_url:
        user = virtual_friends(emulator, member=True)[0]
        url = f"{base_url}{page_path(state, api_account, user.user_id)}"
        result = act(emulator, user.user_id, "open_link", url=url)
        assert result["account_link"] is True, result
        assert [hop["status"] for hop in result["chain"][:1]] == [303]
        [event] = signed_events(webhook_receiver)
        assert event["link"]["result"] == "ok"
        assert event["source"]["userId"] == user.user_id
        assert emulator.channel.friends[user.user_id].linked_member_id == user.traits.member_id


def test_emulator_header_is_ignored_unless_trusted(client, api_account, state, emulator, settings):
    user = virtual_friends(emulator, member=True)[0]
    path = page_path(state, api_account, user.user_id)
    headers = {"x-emulator-member-id": user.traits.member_id}
    assert client.get(path, headers=headers, follow_redirects=False).status_code == 303
    state.settings.trust_emulator_headers = False
    try:
        page = client.get(path, headers=headers, follow_redirects=False)
        assert page.status_code == 200 and "<form" in page.text
    finally:
        state.settings.trust_emulator_headers = True
