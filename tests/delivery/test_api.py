"""/api/v1/deliveries: drafts, validation with field errors, states, pagination."""

from __future__ import annotations

import pytest

TEXT = [{"type": "text", "text": "hi"}]


@pytest.mark.parametrize(
    "body, field",
    [
        ({"name": "x", "audience": {"type": "all"}}, "arms"),
        (
            {
                "name": "x",
                "audience": {"type": "all"},
                "messages": TEXT,
                "arms": [{"messages": TEXT}],
            },
            "arms",
        ),
        ({"name": "x", "audience": {"type": "everyone"}, "messages": TEXT}, "audience.type"),
        (
            {"name": "x", "audience": {"type": "segment", "segment_id": 999}, "messages": TEXT},
            "audience.segment_id",
        ),
        (
            {
                "name": "x",
                "audience": {"type": "friend", "line_user_id": "U" + "1" * 32},
                "messages": TEXT,
            },
            "audience.line_user_id",
        ),
        (
            {"name": "x", "audience": {"type": "list", "line_user_ids": ["bad"]}, "messages": TEXT},
            "line_user_ids",
        ),
        (
            {"name": "x", "audience": {"type": "all"}, "messages": TEXT, "holdout_share": 1.0},
            "holdout_share",
        ),
        (
            {"name": "x", "audience": {"type": "all"}, "messages": TEXT, "quota_mode": "maybe"},
            "quota_mode",
        ),
        (
            {
                "name": "x",
                "audience": {"type": "all"},
                "messages": TEXT,
                "send_at": "2020-01-01T00:00:00Z",
            },
            "send_at",
        ),
        (
            {
                "name": "x",
                "audience": {"type": "all"},
                "arms": [
                    {"name": "A", "share": 0.7, "messages": TEXT},
                    {"name": "B", "share": 0.7, "messages": TEXT},
                ],
            },
            "arms",
        ),
    ],
)
def test_bad_drafts_name_the_field(env, body, field):
    response = env.call("POST", "/deliveries", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field


def test_validate_reports_every_problem_including_lines(env):
    delivery = env.create(
        name="v",
        audience={"type": "all"},
        arms=[
            {
                "name": "A",
                "messages": [
                    {"type": "text", "text": "{{nickname}}"},
                    {
                        "type": "image",
                        "originalContentUrl": "http://x/a.png",
                        "previewImageUrl": "https://x/p.png",
                    },
                ],
            },
            {"name": "B", "messages": [{"type": "text", "text": "{{attr.rank}}"}]},
        ],
    )
    out = env.call("POST", f"/deliveries/{delivery['id']}/validate").json()
    assert out["valid"] is False and out["audience_count"] == 50
    fields = {e["field"] for e in out["errors"]}
    assert {
        "arms[0].messages[0].text",
        "arms[0].messages[1].originalContentUrl",
        "arms[1].messages",
    } <= fields
    response = env.call("POST", f"/deliveries/{delivery['id']}/schedule")
    assert response.status_code == 422 and "more" in response.json()["error"]["message"]

    # passes enishi's own checks, but not LINE's (a LINE emoji must replace a `$`)
    emoji = {
        "type": "text",
        "text": "hi",
        "emojis": [{"index": 0, "productId": "5ac1bfd5040ab15980c9b435", "emojiId": "001"}],
    }
    other = env.create(name="emoji", audience={"type": "all"}, messages=[emoji])
    out = env.call("POST", f"/deliveries/{other['id']}/validate").json()
    assert out["valid"] is False
    assert out["errors"][0]["field"] == "arms[0].messages[0].emojis[0].index"
    assert out["errors"][0]["message"].startswith("LINE: ")
    assert env.counters()["validate_multicast"] >= 1
    # not even a LINE message object to the official SDK: said so, nothing sent to LINE
    flex = {
        "type": "flex",
        "altText": "a",
        "contents": {
            "type": "bubble",
            "body": {"type": "box", "layout": "vertical", "contents": [{"type": "sparkle"}]},
        },
    }
    odd = env.create(name="odd", audience={"type": "all"}, messages=[flex])
    out = env.call("POST", f"/deliveries/{odd['id']}/validate").json()
    assert out["errors"][0]["field"] == "arms[0].messages"
    assert "not a LINE message object" in out["errors"][0]["message"]


def test_states_and_errors(env):
    delivery = env.create(name="s", audience={"type": "all"}, messages=TEXT)
    path = f"/deliveries/{delivery['id']}"
    assert env.call("POST", f"{path}/pause").status_code == 409
    assert env.call("POST", f"{path}/resume").status_code == 409
    assert env.call("GET", "/deliveries/99999").status_code == 404
    assert env.call("POST", f"{path}/schedule").json()["status"] == "scheduled"
    again = env.call("POST", f"{path}/schedule")
    assert again.status_code == 409 and again.json()["error"]["code"] == "not_draft"
    assert env.call("DELETE", path).status_code == 409
    draft = env.create(name="d", audience={"type": "all"}, messages=TEXT)
    assert env.call("DELETE", f"/deliveries/{draft['id']}").status_code == 204
    assert env.call("GET", f"/deliveries/{draft['id']}").status_code == 404


def test_other_accounts_see_nothing(env):
    delivery = env.create(name="mine", audience={"type": "all"}, messages=TEXT)
    with env.state.sessions.begin() as session:
        from enishi.accounts.service import create_account, create_api_key
        from enishi.audit.actor import Actor

        other = create_account(
            session,
            env.state.box,
            name="other",
            channel_id="2999999999",
            channel_secret="s" * 32,
            access_token="other-token",
        )
        _, key = create_api_key(session, other, "k", actor=Actor.cli())
    with env.api() as api:
        response = api.get(
            f"/api/v1/deliveries/{delivery['id']}", headers={"authorization": f"Bearer {key}"}
        )
    assert response.status_code == 404
    assert env.call("GET", "/deliveries", headers={}).status_code == 200
    with env.api() as api:
        assert (
            api.get("/api/v1/deliveries", headers={"authorization": "Bearer nope"}).status_code
            == 401
        )


def test_list_and_recipient_pagination(env):
    for i in range(3):
        env.create(name=f"d{i}", audience={"type": "all"}, messages=TEXT)
    page = env.call("GET", "/deliveries", params={"limit": 2}).json()
    assert [d["name"] for d in page["items"]] == ["d2", "d1"] and page["next_cursor"]
    rest = env.call("GET", "/deliveries", params={"limit": 2, "cursor": page["next_cursor"]})
    assert [d["name"] for d in rest.json()["items"]] == ["d0"]
    assert env.call("GET", "/deliveries", params={"cursor": "!!"}).status_code == 400
    assert env.call("GET", "/deliveries", params={"limit": 0}).status_code == 400

    out = env.send(name="sent", audience={"type": "all"}, holdout_share=0.5, seed=1, messages=TEXT)
    everyone = env.recipients(out["id"], limit=7)
    assert len(everyone) == 50 and len({r["friend_id"] for r in everyone}) == 50
    held = env.recipients(out["id"], status="held_out")
    assert len(held) == out["progress"]["held_out"] and all(r["arm"] == "holdout" for r in held)
    bad = env.call("GET", f"/deliveries/{out['id']}/recipients", params={"status": "lost"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "status"


def test_empty_audience_is_refused(env):
    segmentless = env.create(
        name="nobody", audience={"type": "list", "member_ids": ["M-x"]}, messages=TEXT
    )
    assert segmentless["audience"]["matched"] == 0
    response = env.call("POST", f"/deliveries/{segmentless['id']}/schedule")
    assert response.status_code == 422 and response.json()["error"]["code"] == "empty_audience"
