"""The whole loop over real HTTP: enishi serving next to the emulator, webhooks signed and
POSTed to enishi's intake and handled by its worker (tests/e2e_support.py)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
from sqlalchemy import select

from enishi.friends.models import Friend, FriendActivity
from enishi.members.service import link_page_url


def with_member_trait(env, user_id: str, member_id: str) -> None:
    """What the user would type into the shop's login form (the emulator copies it to its
    ground truth `linked_member_id` when LINE's dialog completes)."""
    env.channel.friends[user_id].traits.member_id = member_id


def test_account_link_flow_matches_the_emulator(start_e2e):
    env = start_e2e(login_channel_id="1650000000")
    owner, other, page_user = env.new_friends(3)
    for user, member in ((owner, "M000000001"), (other, "M000000002"), (page_user, "M000000003")):
        with_member_trait(env, user, member)
    env.settle()
    with env.api() as api:
        # the brand's backend after the user logged in on its site
        session = api.post(
            "/api/v1/members/link-sessions", json={"line_user_id": owner, "member_id": "M000000001"}
        )
        assert session.status_code == 201, session.text
        redirect = session.json()["redirect_url"]
        # someone else opens the owner's link: LINE says failed, nothing is linked
        assert env.act(other, "open_link", url=redirect)["account_link"] is False
        env.settle()
        assert api.get("/api/v1/members/M000000001").status_code == 404
        # the owner opens it: linked
        assert env.act(owner, "open_link", url=redirect)["account_link"] is True
        env.settle()
        found = api.get("/api/v1/members/M000000001").json()
        assert found["line_user_id"] == owner and found["link_method"] == "account_link"
        # the same link again: LINE has used the token up and sends nothing
        assert env.act(owner, "open_link", url=redirect)["account_link"] is False

        # the built-in page: the virtual friend follows it to LINE's dialog
        url = link_page_url(env.state.settings, env.account_id, page_user)
        result = env.act(page_user, "open_link", url=url)
        assert result["account_link"] is True and result["chain"][0]["status"] == 303
        env.settle()
        assert api.get("/api/v1/members/M000000003").json()["line_user_id"] == page_user

        # unlink any time
        assert api.delete(f"/api/v1/friends/{owner}/member").status_code == 204
        assert api.get("/api/v1/members/M000000001").status_code == 404
        daily = api.get(
            "/api/v1/members/links/daily", params={"from": "2000-01-01", "to": "2000-01-01"}
        )
        assert daily.status_code == 200 and daily.json()["following_friends"] == 3

    with env.state.sessions() as db:
        members = dict(db.execute(select(Friend.line_user_id, Friend.member_id)).all())
        owner_id = db.scalar(select(Friend.id).where(Friend.line_user_id == owner))
        failed = db.scalars(
            select(FriendActivity).where(FriendActivity.kind == "member_link_failed")
        ).all()
    assert members == {owner: None, other: None, page_user: "M000000003"}
    assert [(a.friend_id, a.data["member_id"]) for a in failed] == [(owner_id, "M000000001")]
    # enishi agrees with the emulator's ground truth for the links still in place
    truth = {u: env.channel.friends[u].linked_member_id for u in (other, page_user)}
    assert truth == {other: None, page_user: "M000000003"}


def test_forged_dialog_url_gets_nothing(start_e2e):
    """A link token that LINE did not issue: LINE sends no event, enishi links nothing."""
    env = start_e2e()
    [user] = env.new_friends(1)
    env.settle()
    with env.api() as api:
        redirect = api.post(
            "/api/v1/members/link-sessions", json={"line_user_id": user, "member_id": "M1"}
        ).json()["redirect_url"]
        nonce = parse_qs(urlsplit(redirect).query)["nonce"][0]
        forged = f"{env.emulator.base_url}/dialog/bot/accountLink?linkToken=forged&nonce={nonce}"
        assert env.act(user, "open_link", url=forged)["account_link"] is False
        env.settle()
        assert api.get("/api/v1/members/M1").status_code == 404
    assert httpx.get(f"{env.base_url}/members/link/forged-token").status_code == 404
