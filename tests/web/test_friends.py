"""The friends pages: list with search, filters and cursor pages; a friend's page and its
edits (audited); CSV export (audited, BOM) and import with the validation report."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from enishi.audit.models import AuditEntry
from enishi.friends.attribute_defs import create_attribute_def
from enishi.friends.models import BLOCKED, Friend, FriendActivity
from enishi.friends.service import add_tag, friend_attributes, friend_tags
from enishi.inflow.models import InflowRoute
from enishi.operators.roles import Role
from tests.friends.conftest import T0, make_friend, uid
from tests.web.conftest import add_account, csrf_of


def audit(state, action: str) -> list[AuditEntry]:
    with state.sessions() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def friend_links(html: str, account_id: int) -> list[int]:
    return [int(n) for n in re.findall(rf'href="/accounts/{account_id}/friends/(\d+)"', html)]


@pytest.fixture
def people(state, account_id) -> dict[str, int]:
    """120 following friends, 2 blocked, tags, a route, member IDs and attributes."""
    with state.sessions.begin() as session:
        route = InflowRoute(account_id=account_id, code="shop_qr", name="店頭QR")
        session.add(route)
        session.flush()
        friends = [make_friend(session, account_id, n) for n in range(1, 121)]
        blocked = [make_friend(session, account_id, n, status=BLOCKED) for n in (121, 122)]
        for friend in friends[:5]:
            add_tag(session, friend, "VIP")
        friends[0].member_id, friends[0].inflow_route_id = "M-0001", route.id
        friends[1].display_name = "佐藤 美咲"
        create_attribute_def(session, account_id, key="age", label="年齢", type="number")
        create_attribute_def(
            session, account_id, key="plan", label="プラン", type="choice", choices=["free", "gold"]
        )
        return {
            "first": friends[0].id,
            "sato": friends[1].id,
            "blocked": blocked[0].id,
            "blocked2": blocked[1].id,
            "route": route.id,
        }


@pytest.mark.parametrize("role", list(Role))
def test_who_may_read_and_who_may_change_friends(login_as, account_id, people, role, state):
    client = login_as(role)
    base = f"/accounts/{account_id}/friends"
    assert client.get(base).status_code == 200
    page = client.get(f"{base}/{people['first']}")
    assert page.status_code == 200 and "友だち1" in page.text
    token = csrf_of(page.text)
    may_change = role >= Role.MARKETER
    assert ('data-testid="tag-add"' in page.text) is may_change  # buttons follow the role
    expected = 303 if may_change else 403
    response = client.post(
        f"{base}/{people['first']}/tags",
        data={"tag": "新規", "csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == expected
    for path in ("/import", "/export.csv"):
        assert client.get(base + path).status_code == (200 if may_change else 403)
    response = client.post(f"{base}/import/apply", data={"token": "0" * 32, "csrf_token": token})
    assert response.status_code == (404 if may_change else 403)
    with state.sessions() as session:
        assert ("新規" in friend_tags(session, people["first"])) is may_change


def test_the_list_pages_by_cursor_and_never_shows_more_than_a_page(login_as, account_id, people):
    client = login_as(Role.VIEWER)
    first = client.get(f"/accounts/{account_id}/friends")
    ids = friend_links(first.text, account_id)
    assert len(ids) == 50 and ids == sorted(ids)
    assert "122人" in first.text  # the count of every friend of the account
    next_url = re.search(r'data-testid="next-page" href="([^"]+)"', first.text).group(1)
    second = client.get(f"/accounts/{account_id}/friends" + next_url.replace("&amp;", "&"))
    more = friend_links(second.text, account_id)
    assert len(more) == 50 and min(more) > max(ids)
    assert client.get(f"/accounts/{account_id}/friends?cursor=%%%").status_code == 400


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=blocked", {"blocked", "blocked2"}),
        ("tag=VIP&status=following", None),  # five friends, checked below
        ("q=M-0001", {"first"}),
        (f"q={uid(2)}", {"sato"}),
        ("q=佐藤", {"sato"}),
        ("has_member=yes", {"first"}),
        ("route_id={route}", {"first"}),
        ("tag=nobody-has-it", set()),
    ],
)
def test_search_and_filters(login_as, account_id, people, query, expected):
    html = (
        login_as(Role.VIEWER)
        .get(f"/accounts/{account_id}/friends?{query.format(route=people['route'])}")
        .text
    )
    shown = set(friend_links(html, account_id))
    if expected is None:
        assert len(shown) == 5 and "5人" in html
    else:
        assert shown == {people[name] for name in expected}
        assert f"{len(expected)}人" in html


def test_adding_and_removing_a_tag_is_audited_and_on_the_timeline(
    login_as, account_id, people, state
):
    client = login_as(Role.MARKETER)
    url = f"/accounts/{account_id}/friends/{people['sato']}"
    token = csrf_of(client.get(url).text)
    response = client.post(
        url + "/tags", data={"tag": " 常連 ", "csrf_token": token}, follow_redirects=False
    )
    assert response.status_code == 303
    page = client.get(response.headers["location"]).text
    assert "保存しました。" in page and "常連" in page and "タグ追加" in page
    client.post(url + "/tags/remove", data={"tag": "常連", "csrf_token": token})
    with state.sessions() as session:
        assert friend_tags(session, people["sato"]) == ["VIP"]
        kinds = session.scalars(
            select(FriendActivity.kind)
            .where(FriendActivity.friend_id == people["sato"])
            .order_by(FriendActivity.id)
        ).all()
        assert kinds == ["tag_added", "tag_removed"]
    added, removed = audit(state, "friend.updated")
    assert added.target == f"friend:{people['sato']}" and added.details["changes"] == [
        {"kind": "tag_added", "tag": "常連"}
    ]
    assert removed.details["changes"] == [{"kind": "tag_removed", "tag": "常連"}]
    # removing a tag the friend does not have changes nothing and logs nothing
    client.post(url + "/tags/remove", data={"tag": "常連", "csrf_token": token})
    assert len(audit(state, "friend.updated")) == 2


def test_attributes_and_notes_are_saved(login_as, account_id, people, state):
    client = login_as(Role.MARKETER)
    url = f"/accounts/{account_id}/friends/{people['first']}"
    token = csrf_of(client.get(url).text)
    response = client.post(
        url + "/attributes",
        data={"key": ["age", "plan"], "value": ["34", "gold"], "csrf_token": token},
    )
    assert response.status_code == 200 and "保存しました。" in response.text
    client.post(url + "/notes", data={"notes": "電話NG", "csrf_token": token})
    with state.sessions() as session:
        assert friend_attributes(session, people["first"]) == {"age": 34.0, "plan": "gold"}
        assert session.get(Friend, people["first"]).notes == "電話NG"
    page = client.get(url).text
    assert 'value="34"' in page and "電話NG" in page and "属性変更" in page
    # an empty value clears it
    client.post(url + "/attributes", data={"key": ["age"], "value": [""], "csrf_token": token})
    with state.sessions() as session:
        assert friend_attributes(session, people["first"]) == {"plan": "gold"}
    assert [e.details["changes"][0]["kind"] for e in audit(state, "friend.updated")] == [
        "attribute_set",
        "notes_set",
        "attribute_set",
    ]


def test_a_bad_value_is_explained_next_to_its_field_and_changes_nothing(
    login_as, account_id, people, state
):
    client = login_as(Role.MARKETER)
    url = f"/accounts/{account_id}/friends/{people['first']}"
    token = csrf_of(client.get(url).text)
    response = client.post(
        url + "/attributes",
        data={"key": ["age", "plan"], "value": ["twelve", "gold"], "csrf_token": token},
    )
    assert response.status_code == 422
    assert 'data-error="attributes.age"' in response.text
    assert "数値を入力してください。" in response.text  # Japanese first (English: ?lang=en)
    assert 'value="twelve"' in response.text  # the form keeps what was typed
    response = client.post(url + "/tags", data={"tag": "a;b", "csrf_token": token})
    assert response.status_code == 422 and 'data-error="tags"' in response.text
    with state.sessions() as session:
        assert friend_attributes(session, people["first"]) == {}  # plan was not set either
        assert friend_tags(session, people["first"]) == ["VIP"]
    assert audit(state, "friend.updated") == []


def test_friends_of_other_accounts_are_not_found(login_as, account_id, people, state):
    other = add_account(state, name="他社", channel_id="2000000002")
    with state.sessions.begin() as session:
        stranger = make_friend(session, other, 999).id
    client = login_as(Role.OWNER)
    token = csrf_of(client.get(f"/accounts/{account_id}/friends").text)
    assert client.get(f"/accounts/{account_id}/friends/{stranger}").status_code == 404
    response = client.post(
        f"/accounts/{account_id}/friends/{stranger}/tags", data={"tag": "x", "csrf_token": token}
    )
    assert response.status_code == 404


def test_the_timeline_pages(login_as, account_id, people, state):
    with state.sessions.begin() as session:
        friend = session.get(Friend, people["first"])
        for n in range(45):
            session.add(
                FriendActivity(
                    account_id=account_id,
                    friend_id=friend.id,
                    kind="message",
                    at=T0 + timedelta(hours=n),
                    data={"type": "text", "text": f"メッセージ{n}"},
                )
            )
    client = login_as(Role.VIEWER)
    url = f"/accounts/{account_id}/friends/{people['first']}"
    first = client.get(url).text
    assert first.count("メッセージ受信") == 30
    assert "メッセージ44" in first and "メッセージ15" in first and "メッセージ14" not in first
    older = re.search(r'href="\?before=([^"]+)" data-testid="timeline-older"', first).group(1)
    second = client.get(f"{url}?before={older}").text
    assert second.count("メッセージ受信") == 15 and "メッセージ14" in second
    assert 'data-testid="timeline-older"' not in second


def read_csv(body: bytes) -> list[dict[str, str]]:
    assert body.startswith("\ufeff".encode())
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"), newline="")))


def test_export_streams_the_filtered_friends_with_a_bom_and_is_audited(
    login_as, account_id, people, state
):
    client = login_as(Role.MARKETER)
    response = client.get(f"/accounts/{account_id}/friends/export.csv?tag=VIP&status=following")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = read_csv(response.content)
    assert sorted(row["line_user_id"] for row in rows) == [uid(n) for n in range(1, 6)]
    first = next(row for row in rows if row["line_user_id"] == uid(1))
    assert first["member_id"] == "M-0001" and first["tags"] == "VIP"
    assert first["inflow_route"] == "shop_qr" and "attr:age" in first
    assert first["first_followed_at"] == "2026-01-01 18:01:00"  # Asia/Tokyo
    [entry] = audit(state, "friends.exported")
    assert entry.details == {"filters": {"status": "following", "tag": "VIP"}}
    assert len(read_csv(client.get(f"/accounts/{account_id}/friends/export.csv").content)) == 122


def upload(client, account_id: int, content: bytes, **data):
    token = csrf_of(client.get(f"/accounts/{account_id}/friends/import").text)
    return client.post(
        f"/accounts/{account_id}/friends/import",
        data={"csrf_token": token, **data},
        files={"file": ("friends.csv", content, "text/csv")},
    )


def friend_count(state, account_id: int) -> int:
    with state.sessions() as session:
        return session.scalar(
            select(func.count()).select_from(Friend).where(Friend.account_id == account_id)
        )


CSV_WITH_ERRORS = (
    "line_user_id,display_name,tags,attr:age\r\n"
    f"{uid(500)},新しい人,常連;VIP,30\r\n"
    "U123,名前,,\r\n"  # row 3: not a LINE user ID
    f"{uid(501)},もう一人,,thirty\r\n"  # row 4: not a number
    f"{uid(502)},三人目,,41\r\n"
).encode("cp932")


def test_an_import_with_errors_changes_nothing_until_the_valid_rows_are_applied(
    login_as, account_id, people, state
):
    client = login_as(Role.MARKETER)
    response = upload(client, account_id, CSV_WITH_ERRORS)
    assert response.status_code == 422
    html = response.text
    assert "エラーがあるため、何も変更していません。" in html
    report = re.search(r'data-testid="import-errors">(.*?)</table>', html, re.S).group(1)
    cells = [
        re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", report, re.S)
    ]
    assert cells[0:2] == ["3", "line_user_id"] and "LINEユーザーID" in cells[2]
    assert cells[3:5] == ["4", "attr:age"] and "数値を入力してください" in cells[5]
    assert re.search(r'data-testid="valid-rows">2<', html)
    assert friend_count(state, account_id) == 122 and audit(state, "friends.imported") == []
    token = re.search(r'name="token" value="([0-9a-f]{32})"', html).group(1)
    applied = client.post(
        f"/accounts/{account_id}/friends/import/apply",
        data={"token": token, "apply": "valid", "csrf_token": csrf_of(html)},
    )
    assert applied.status_code == 200
    assert "取り込みました: 新規2人・更新0人・変更なし0人" in applied.text
    assert friend_count(state, account_id) == 124
    with state.sessions() as session:
        created = session.scalar(select(Friend).where(Friend.line_user_id == uid(500)))
        assert created.display_name == "新しい人" and created.status == "unknown"
        assert friend_tags(session, created.id) == ["VIP", "常連"]
    [entry] = audit(state, "friends.imported")
    assert entry.details["created"] == 2 and entry.details["apply"] == "valid"
    # the kept file is gone once applied
    again = client.post(
        f"/accounts/{account_id}/friends/import/apply",
        data={"token": token, "apply": "valid", "csrf_token": csrf_of(html)},
    )
    assert again.status_code == 404


def test_a_valid_file_is_imported_at_once_and_check_only_writes_nothing(
    login_as, account_id, people, state
):
    client = login_as(Role.MARKETER)
    content = f"line_user_id,notes\r\n{uid(1)},電話NG\r\n{uid(600)},\r\n".encode()
    checked = upload(client, account_id, content, check_only="1")
    assert checked.status_code == 200 and "チェックのみ" in checked.text
    assert friend_count(state, account_id) == 122
    assert 'data-testid="apply-all"' in checked.text
    response = upload(client, account_id, content)
    assert "取り込みました: 新規1人・更新1人・変更なし0人" in response.text
    assert 'name="token"' not in response.text
    with state.sessions() as session:
        assert session.get(Friend, people["first"]).notes == "電話NG"
    assert friend_count(state, account_id) == 123


def test_files_that_are_not_csv_are_refused(login_as, account_id, people):
    client = login_as(Role.MARKETER)
    response = upload(client, account_id, b"PK\x03\x04 an xlsx workbook")
    assert response.status_code == 422 and "CSV UTF-8" in response.text
    response = upload(client, account_id, b"")
    assert response.status_code == 422


def test_a_kept_upload_belongs_to_the_operator_who_sent_it(login_as, account_id, people):
    alice, bob = login_as(Role.MARKETER), login_as(Role.MARKETER)
    html = upload(alice, account_id, CSV_WITH_ERRORS).text
    token = re.search(r'name="token" value="([0-9a-f]{32})"', html).group(1)
    bob_token = csrf_of(bob.get(f"/accounts/{account_id}/friends/import").text)
    response = bob.post(
        f"/accounts/{account_id}/friends/import/apply",
        data={"token": token, "apply": "valid", "csrf_token": bob_token},
    )
    assert response.status_code == 404
