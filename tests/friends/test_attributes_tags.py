"""Attribute definitions (/attributes) and tags (/tags)."""

from __future__ import annotations

from sqlalchemy import func, select

from enishi.friends.models import FriendActivity, FriendAttribute, FriendTag, Tag
from enishi.friends.service import add_tag, set_attribute
from tests.friends.conftest import make_friend, uid

API = "/api/v1"


def test_define_list_and_validate(client, api_account):
    h = api_account.headers
    created = client.post(
        f"{API}/attributes",
        headers=h,
        json={"key": "size", "label": "サイズ", "type": "choice", "choices": ["S", "M", "L"]},
    )
    assert created.status_code == 201, created.text
    assert created.json()["choices"] == ["S", "M", "L"]
    client.post(
        f"{API}/attributes", headers=h, json={"key": "age", "label": "年齢", "type": "number"}
    )
    listed = client.get(f"{API}/attributes", headers=h).json()
    assert [(d["key"], d["type"]) for d in listed] == [("age", "number"), ("size", "choice")]
    bad = [
        ({"key": "Size", "label": "x", "type": "text"}, 422, "key"),
        ({"key": "1abc", "label": "x", "type": "text"}, 422, "key"),
        ({"key": "a" * 65, "label": "x", "type": "text"}, 422, "key"),
        ({"key": "has-dash", "label": "x", "type": "text"}, 422, "key"),
        ({"key": "ok", "label": "", "type": "text"}, 422, "label"),
        ({"key": "ok", "label": "x", "type": "bool"}, 422, "type"),
        ({"key": "ok", "label": "x", "type": "choice"}, 422, "choices"),
        ({"key": "ok", "label": "x", "type": "choice", "choices": []}, 422, "choices"),
        ({"key": "ok", "label": "x", "type": "choice", "choices": ["a", "a"]}, 422, "choices.1"),
        ({"key": "ok", "label": "x", "type": "choice", "choices": ["a", " "]}, 422, "choices.1"),
        ({"key": "ok", "label": "x", "type": "text", "choices": ["a"]}, 422, "choices"),
        ({"key": "size", "label": "again", "type": "text"}, 409, "key"),
    ]
    for body, status, field in bad:
        response = client.post(f"{API}/attributes", headers=h, json=body)
        assert response.status_code == status, (body, response.text)
        assert response.json()["error"]["field"] == field, body


def test_type_change_refused_while_values_exist(client, state, api_account, attributes):
    h = api_account.headers
    with state.sessions.begin() as session:
        friend = make_friend(session, api_account.id, 1)
        set_attribute(session, friend, "age", 30)
        set_attribute(session, friend, "plan", "gold")
    refused = client.patch(f"{API}/attributes/age", headers=h, json={"type": "text"})
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["code"] == "type_change_refused" and error["field"] == "type"
    assert "1 friend" in error["message"] and "number" in error["message"]
    # relabel is fine; the type stays
    relabeled = client.patch(f"{API}/attributes/age", headers=h, json={"label": "年齢(歳)"})
    assert relabeled.json()["label"] == "年齢(歳)" and relabeled.json()["type"] == "number"
    # removing a choice that a friend holds is refused; adding one is fine
    gone = client.patch(f"{API}/attributes/plan", headers=h, json={"choices": ["free"]})
    assert gone.status_code == 409 and "'gold'" in gone.json()["error"]["message"]
    grown = client.patch(
        f"{API}/attributes/plan", headers=h, json={"choices": ["free", "gold", "platinum"]}
    )
    assert grown.status_code == 200 and grown.json()["choices"][-1] == "platinum"
    # without values the type may change; a choice type then needs choices
    assert (
        client.patch(f"{API}/attributes/memo", headers=h, json={"type": "choice"}).json()["error"][
            "field"
        ]
        == "choices"
    )
    changed = client.patch(
        f"{API}/attributes/memo", headers=h, json={"type": "choice", "choices": ["a", "b"]}
    )
    assert changed.status_code == 200 and changed.json()["type"] == "choice"
    back = client.patch(f"{API}/attributes/memo", headers=h, json={"type": "date"})
    assert back.json()["choices"] is None
    assert client.patch(f"{API}/attributes/nope", headers=h, json={"label": "x"}).status_code == 404


def test_delete_attribute_removes_values(client, state, api_account, attributes):
    with state.sessions.begin() as session:
        for n in (1, 2):
            set_attribute(session, make_friend(session, api_account.id, n), "age", n)
    response = client.delete(f"{API}/attributes/age", headers=api_account.headers)
    assert response.json() == {"key": "age", "values_deleted": 2}
    with state.sessions() as session:
        assert session.scalar(select(func.count()).select_from(FriendAttribute)) == 0
    assert client.delete(f"{API}/attributes/age", headers=api_account.headers).status_code == 404
    detail = client.get(f"{API}/friends/{uid(1)}", headers=api_account.headers).json()
    assert detail["attributes"] == {}


def test_tags_with_counts_and_delete(client, state, api_account):
    with state.sessions.begin() as session:
        for n in range(1, 6):
            friend = make_friend(session, api_account.id, n)
            add_tag(session, friend, "vip" if n <= 3 else "新規")
            if n == 1:
                add_tag(session, friend, "a/b")
        from enishi.friends.service import get_or_create_tag

        get_or_create_tag(session, api_account.id, "empty")
    h = api_account.headers
    tags = client.get(f"{API}/tags", headers=h).json()
    assert [(t["name"], t["friend_count"]) for t in tags] == [
        ("a/b", 1),
        ("empty", 0),
        ("vip", 3),
        ("新規", 2),
    ]
    deleted = client.delete(f"{API}/tags/vip", headers=h)
    assert deleted.json() == {"name": "vip", "friends_untagged": 3}
    assert client.delete(f"{API}/tags/a/b", headers=h).json()["friends_untagged"] == 1
    assert client.delete(f"{API}/tags/%E6%96%B0%E8%A6%8F", headers=h).status_code == 200
    assert client.delete(f"{API}/tags/vip", headers=h).status_code == 404
    assert [t["name"] for t in client.get(f"{API}/tags", headers=h).json()] == ["empty"]
    with state.sessions() as session:
        assert session.scalar(select(func.count()).select_from(FriendTag)) == 0
        assert session.scalars(select(Tag.name)).all() == ["empty"]
        removed = session.execute(
            select(FriendActivity.friend_id, FriendActivity.data).where(
                FriendActivity.kind == "tag_removed"
            )
        ).all()
    assert len(removed) == 6
    assert {d["tag"] for _, d in removed} == {"vip", "a/b", "新規"}
    timeline = client.get(f"{API}/friends/{uid(1)}/timeline", headers=h).json()["items"]
    assert {(i["kind"], i["data"]["tag"]) for i in timeline} == {
        ("tag_removed", "vip"),
        ("tag_removed", "a/b"),
    }
