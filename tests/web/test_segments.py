"""The segments pages: list, builder, the live-count endpoint, save / duplicate / delete
(audited), errors at the path of their condition, and who may do what."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select

from enishi.audit.actor import Actor
from enishi.audit.models import AuditEntry
from enishi.friends.models import BLOCKED
from enishi.friends.service import add_tag
from enishi.operators.roles import Role
from enishi.segments.models import Segment
from tests.friends.conftest import make_friend
from tests.web.conftest import add_account, csrf_of

VIP = {"version": 1, "where": {"all": [{"tags": {"any": ["VIP"]}}]}}


def audit(state, action: str) -> list[AuditEntry]:
    """The dashboard's entries (the setup writes through the services as the CLI)."""
    with state.sessions() as session:
        query = select(AuditEntry).where(
            AuditEntry.action == action, AuditEntry.operator_id.is_not(None)
        )
        return list(session.scalars(query))


def segments(state, account_id: int) -> list[Segment]:
    with state.sessions() as session:
        return list(
            session.scalars(
                select(Segment).where(Segment.account_id == account_id).order_by(Segment.id)
            )
        )


@pytest.fixture
def friends(state, account_id) -> list[int]:
    """10 following friends (the first 3 tagged VIP) and a blocked VIP."""
    with state.sessions.begin() as session:
        people = [make_friend(session, account_id, n) for n in range(1, 11)]
        for friend in people[:3]:
            add_tag(session, friend, "VIP")
        add_tag(session, make_friend(session, account_id, 11, status=BLOCKED), "VIP")
        return [friend.id for friend in people]


@pytest.fixture
def saved(state, account_id, friends) -> int:
    from enishi.segments.service import create_segment

    with state.sessions.begin() as session:
        return create_segment(session, account_id, "VIPの人", VIP, actor=Actor.cli()).id


def preview(client, account_id: int, definition, token: str):
    return client.post(
        f"/accounts/{account_id}/segments/preview",
        json={"definition": definition},
        headers={"x-csrf-token": token},
    )


@pytest.mark.parametrize("role", list(Role))
def test_who_may_look_and_who_may_change_segments(login_as, account_id, saved, role, state):
    client = login_as(role)
    base = f"/accounts/{account_id}/segments"
    listing = client.get(base)
    assert listing.status_code == 200 and "VIPの人" in listing.text
    builder = client.get(f"{base}/{saved}")
    assert builder.status_code == 200 and 'id="segment-catalogue"' in builder.text
    token = csrf_of(builder.text)
    assert preview(client, account_id, VIP, token).json()["count"] == 3  # everyone may count
    may_change = role >= Role.MARKETER
    assert ('data-testid="save-segment"' in builder.text) is may_change
    assert client.get(f"{base}/new").status_code == (200 if may_change else 403)
    expected = 303 if may_change else 403
    form = {"csrf_token": token, "name": "新規", "definition": json.dumps(VIP)}
    assert client.post(base, data=form, follow_redirects=False).status_code == expected
    assert (
        client.post(
            f"{base}/{saved}", data={**form, "name": "改名"}, follow_redirects=False
        ).status_code
        == expected
    )
    assert (
        client.post(f"{base}/{saved}/duplicate", data=form, follow_redirects=False).status_code
        == expected
    )
    assert (
        client.post(f"{base}/{saved}/delete", data=form, follow_redirects=False).status_code
        == expected
    )
    names = [s.name for s in segments(state, account_id)]
    assert names == (["新規", "改名 のコピー"] if may_change else ["VIPの人"])


def test_the_live_count_and_sample(login_as, account_id, friends, state):
    client = login_as(Role.VIEWER)
    token = csrf_of(client.get(f"/accounts/{account_id}/segments").text)
    result = preview(client, account_id, VIP, token).json()
    assert result["ok"] and result["count"] == 3 and result["count_text"] == "3人"
    assert [f["id"] for f in result["sample"]] == sorted(friends[:3], reverse=True)  # newest first
    everyone = preview(client, account_id, {"version": 1, "where": {"all": []}}, token).json()
    assert everyone["count"] == 10  # following friends only: the blocked VIP is never counted
    negated = {"version": 1, "where": {"all": [{"not": {"tags": {"any": ["VIP"]}}}]}}
    assert preview(client, account_id, negated, token).json()["count"] == 7
    english = client.post(
        f"/accounts/{account_id}/segments/preview?lang=en",
        json={"definition": VIP},
        headers={"x-csrf-token": token},
    ).json()
    assert english["count_text"] == "3 friends"


def test_preview_errors_name_the_path_of_their_condition(login_as, account_id, friends):
    client = login_as(Role.VIEWER)
    token = csrf_of(client.get(f"/accounts/{account_id}/segments").text)
    bad = {
        "version": 1,
        "where": {
            "all": [
                {"clicked": {"within_days": 30}},
                {"any": [{"tags": {"any": ["存在しない"]}}, {"clickd": {}}]},
                {"followed_days": {"gte": "x"}},
            ]
        },
    }
    result = preview(client, account_id, bad, token).json()
    assert result["ok"] is False
    paths = {e["path"]: e for e in result["errors"]}
    assert set(paths) == {"where.all[1].any[1]", "where.all[2].followed_days.gte"}
    assert paths["where.all[1].any[1]"]["label"] == "未知の条件です"
    # errors that need the account (an unknown tag) come once the shape is right
    bad["where"]["all"][1]["any"].pop()
    bad["where"]["all"].pop()
    [error] = preview(client, account_id, bad, token).json()["errors"]
    assert error["path"].startswith("where.all[1].any[0].tags") and error["code"] == "unknown_tag"
    assert error["label"] == "存在しないタグです"
    assert preview(client, account_id, None, token).json()["ok"] is False
    assert (
        client.post(
            f"/accounts/{account_id}/segments/preview", json={"definition": VIP}
        ).status_code
        == 403
    )  # no CSRF header


def test_a_segment_is_created_updated_and_audited(login_as, account_id, friends, state):
    client = login_as(Role.MARKETER)
    base = f"/accounts/{account_id}/segments"
    token = csrf_of(client.get(f"{base}/new").text)
    response = client.post(
        base,
        data={"csrf_token": token, "name": " VIP ", "definition": json.dumps(VIP)},
        follow_redirects=False,
    )
    assert response.status_code == 303
    [segment] = segments(state, account_id)
    assert response.headers["location"].startswith(f"{base}/{segment.id}")
    assert segment.name == "VIP" and segment.definition == VIP
    [created] = audit(state, "segment.created")
    assert created.target == f"segment:{segment.id}" and created.details["definition"] == VIP
    page = client.get(response.headers["location"]).text
    assert "保存しました。" in page and "&#34;VIP&#34;" in page  # the JSON, escaped
    clicked = {"version": 1, "where": {"clicked": {"within_days": 50}}}
    client.post(
        f"{base}/{segment.id}",
        data={"csrf_token": token, "name": "VIP", "definition": json.dumps(clicked)},
    )
    [updated] = audit(state, "segment.updated")
    assert updated.details == {"definition": [VIP, clicked]}
    client.post(
        f"{base}/{segment.id}",
        data={"csrf_token": token, "name": "VIP", "definition": json.dumps(clicked)},
    )
    assert len(audit(state, "segment.updated")) == 1  # nothing changed, nothing logged


def test_invalid_definitions_and_names_are_explained_and_not_saved(
    login_as, account_id, saved, state
):
    client = login_as(Role.MARKETER)
    base = f"/accounts/{account_id}/segments"
    token = csrf_of(client.get(f"{base}/new").text)
    bad = {"version": 1, "where": {"all": [{"tags": {"any": ["存在しない"]}}]}}
    response = client.post(
        base, data={"csrf_token": token, "name": "x", "definition": json.dumps(bad)}
    )
    assert response.status_code == 422
    assert "where.all[0].tags" in response.text and "存在しないタグです" in response.text
    initial = re.search(r'id="segment-errors-initial">(.*?)</script>', response.text).group(1)
    assert json.loads(initial)[0]["code"] == "unknown_tag"  # the builder shows it in place
    response = client.post(
        base, data={"csrf_token": token, "name": "x", "definition": '{"version": 1, "where": '}
    )
    assert response.status_code == 422 and "JSONの形式が正しくありません" in response.text
    assert "{&#34;version&#34;: 1, &#34;where&#34;: " in response.text  # kept as typed
    response = client.post(
        base, data={"csrf_token": token, "name": "VIPの人", "definition": json.dumps(VIP)}
    )
    assert response.status_code == 422 and "この名前のセグメントはすでにあります。" in response.text
    response = client.post(
        base, data={"csrf_token": token, "name": "  ", "definition": json.dumps(VIP)}
    )
    assert response.status_code == 422 and "1〜200文字" in response.text
    assert len(segments(state, account_id)) == 1 and audit(state, "segment.created") == []


def test_duplicate_and_delete(login_as, account_id, saved, state):
    client = login_as(Role.MARKETER)
    base = f"/accounts/{account_id}/segments"
    token = csrf_of(client.get(base).text)
    response = client.post(
        f"{base}/{saved}/duplicate", data={"csrf_token": token}, follow_redirects=False
    )
    original, copy = segments(state, account_id)
    assert copy.name == "VIPの人 のコピー" and copy.definition == original.definition
    assert response.headers["location"].startswith(f"{base}/{copy.id}")
    [created] = audit(state, "segment.created")
    assert created.details["duplicate_of"] == saved
    response = client.post(
        f"{base}/{saved}/delete", data={"csrf_token": token}, follow_redirects=False
    )
    assert response.status_code == 303
    assert "削除しました。" in client.get(response.headers["location"]).text
    assert [s.id for s in segments(state, account_id)] == [copy.id]
    [deleted] = audit(state, "segment.deleted")
    assert deleted.target == f"segment:{saved}" and deleted.details["name"] == "VIPの人"


def test_segments_of_other_accounts_are_not_found(login_as, account_id, state):
    from enishi.segments.service import create_segment

    other = add_account(state, name="他社", channel_id="2000000002")
    with state.sessions.begin() as session:
        foreign = create_segment(
            session, other, "他社の", {"version": 1, "where": {"all": []}}, actor=Actor.cli()
        ).id
    client = login_as(Role.OWNER)  # an installation owner, but the URL names this account
    token = csrf_of(client.get(f"/accounts/{account_id}/segments").text)
    assert client.get(f"/accounts/{account_id}/segments/{foreign}").status_code == 404
    for action in ("/delete", "/duplicate", ""):
        response = client.post(
            f"/accounts/{account_id}/segments/{foreign}{action}",
            data={"csrf_token": token, "name": "x", "definition": "{}"},
        )
        assert response.status_code == 404
    assert [s.name for s in segments(state, other)] == ["他社の"]


def test_the_builder_can_start_from_a_definition(login_as, account_id):
    client = login_as(Role.MARKETER)
    definition = json.dumps({"version": 1, "where": {"clicked": {"within_days": 50}}})
    page = client.get(
        f"/accounts/{account_id}/segments/new",
        params={"name": "50日以内にクリック", "definition": definition},
    ).text
    assert 'value="50日以内にクリック"' in page and "within_days" in page
