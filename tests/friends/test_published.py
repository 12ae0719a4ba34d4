"""friend.tag_added, friend.tag_removed and friend.attribute_changed: published once per real
change whichever way it came (REST, the services the dashboard and postbacks use, a CSV
import, deleting a tag or an attribute), never for a change that changes nothing, and
rolled back with the change."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import select

from enishi.audit.actor import Actor
from enishi.friends.csv_io import import_csv
from enishi.friends.models import Friend
from enishi.friends.service import add_tag, remove_tag, set_attribute
from tests.events.support import published
from tests.friends.conftest import make_friend, uid

API = "/api/v1"
NAMES = ("friend.tag_added", "friend.tag_removed", "friend.attribute_changed")


def _changes(state) -> list[tuple]:
    """(name, friend_id, tag or key, old, new, source) of every friend event, oldest first."""
    rows = sorted((e for name in NAMES for e in published(state, name)), key=lambda e: e.id)
    return [
        (
            e.name,
            e.friend_id,
            e.payload.get("tag") or e.payload.get("key"),
            e.payload.get("old"),
            e.payload.get("new"),
            e.payload["source"],
        )
        for e in rows
    ]


def test_a_patch_publishes_each_real_change_once(client, state, api_account, attributes):
    with state.sessions.begin() as session:
        friend_id = make_friend(session, api_account.id, 1).id
    body = {
        "attributes": {"age": 30, "plan": "free", "memo": None},
        "tags_add": ["vip"],
        "tags_remove": ["never-had"],
    }
    url = f"{API}/friends/{uid(1)}"
    assert client.patch(url, headers=api_account.headers, json=body).status_code == 200
    assert client.patch(url, headers=api_account.headers, json=body).status_code == 200
    second = {"attributes": {"age": 31}, "tags_remove": ["vip"]}
    assert client.patch(url, headers=api_account.headers, json=second).status_code == 200
    assert _changes(state) == [
        ("friend.attribute_changed", friend_id, "age", None, 30, "api"),
        ("friend.attribute_changed", friend_id, "plan", None, "free", "api"),
        ("friend.tag_added", friend_id, "vip", None, None, "api"),
        ("friend.attribute_changed", friend_id, "age", 30, 31, "api"),
        ("friend.tag_removed", friend_id, "vip", None, None, "api"),
    ]
    (event,) = published(state, "friend.tag_added")
    assert event.account_id == api_account.id


def test_the_services_publish_only_changes_and_roll_back_with_them(
    client, state, api_account, attributes
):
    with state.sessions.begin() as session:
        friend = make_friend(session, api_account.id, 1)
        friend_id = friend.id
        assert add_tag(session, friend, "vip", source="postback")
        assert not add_tag(session, friend, "vip", source="postback")
        assert not remove_tag(session, friend, "other")
        assert set_attribute(session, friend, "age", "40")
        assert not set_attribute(session, friend, "age", 40.0)  # the same number
        assert not set_attribute(session, friend, "memo", "")  # clearing what is not set
    with pytest.raises(RuntimeError), state.sessions.begin() as session:
        friend = session.get(type(friend), friend_id)
        assert remove_tag(session, friend, "vip")
        assert set_attribute(session, friend, "age", None)
        raise RuntimeError("the request failed after the change")
    assert _changes(state) == [
        ("friend.tag_added", friend_id, "vip", None, None, "postback"),
        ("friend.attribute_changed", friend_id, "age", None, 40, "api"),
    ]


def _import(state, account_id: int, *lines: str) -> dict:
    content = ("\r\n".join(["line_user_id,tags,attr:age", *lines]) + "\r\n").encode()
    return import_csv(state.sessions, account_id, io.BytesIO(content), actor=Actor.cli())


def test_a_csv_import_publishes_one_event_per_friend_and_change(
    client, state, api_account, attributes
):
    with state.sessions.begin() as session:
        old = make_friend(session, api_account.id, 1)
        add_tag(session, old, "a")
        set_attribute(session, old, "age", 20)
        old_id = old.id
    before = len(_changes(state))
    _import(state, api_account.id, f"{uid(1)},a;b,21", f"{uid(2)},b,")
    changes = _changes(state)[before:]
    with state.sessions() as session:
        new_id = session.scalar(select(Friend.id).where(Friend.line_user_id == uid(2)))
    assert sorted(changes, key=str) == sorted(
        [
            ("friend.tag_added", old_id, "b", None, None, "import"),
            ("friend.attribute_changed", old_id, "age", 20, 21, "import"),
            ("friend.tag_added", new_id, "b", None, None, "import"),
        ],
        key=str,
    )
    _import(state, api_account.id, f"{uid(1)},a;b,21", f"{uid(2)},b,")  # nothing changes
    assert len(_changes(state)) == before + 3
    _import(state, api_account.id, f"{uid(1)},b,")
    assert _changes(state)[before + 3 :] == [
        ("friend.tag_removed", old_id, "a", None, None, "import"),
        ("friend.attribute_changed", old_id, "age", 21, None, "import"),
    ]


def test_deleting_a_tag_or_an_attribute_publishes_for_each_friend_that_had_it(
    client, state, api_account, attributes
):
    with state.sessions.begin() as session:
        ids = []
        for n in (1, 2):
            friend = make_friend(session, api_account.id, n)
            add_tag(session, friend, "vip")
            set_attribute(session, friend, "plan", "gold")
            ids.append(friend.id)
        make_friend(session, api_account.id, 3)
    before = len(_changes(state))
    assert client.delete(f"{API}/tags/vip", headers=api_account.headers).status_code == 200
    assert client.delete(f"{API}/attributes/plan", headers=api_account.headers).status_code == 200
    assert _changes(state)[before:] == [
        ("friend.tag_removed", ids[0], "vip", None, None, "tag_deleted"),
        ("friend.tag_removed", ids[1], "vip", None, None, "tag_deleted"),
        ("friend.attribute_changed", ids[0], "plan", "gold", None, "attribute_deleted"),
        ("friend.attribute_changed", ids[1], "plan", "gold", None, "attribute_deleted"),
    ]
