"""POST /friends/import: encodings, the validation report, all / valid / none."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import func, select

import enishi.friends.api as friends_api
from enishi.audit.actor import Actor
from enishi.friends.models import UNKNOWN, Friend, FriendActivity, FriendAttribute, FriendTag
from enishi.friends.service import add_tag, set_attribute
from enishi.members.models import MemberLink
from tests.friends.conftest import make_friend, uid

API = "/api/v1"
HEADER = "line_user_id,display_name,status,member_id,tags,notes,attr:age,attr:birthday,attr:plan"


def _import(client, account, content: bytes, apply: str = "all", name: str = "friends.csv"):
    return client.post(
        f"{API}/friends/import",
        headers=account.headers,
        files={"file": (name, content, "text/csv")},
        data={"apply": apply},
    )


def _csv(*lines: str, encoding: str = "utf-8") -> bytes:
    return ("\r\n".join(lines) + "\r\n").encode(encoding)


def _snapshot(state):
    """Everything an import can touch, to prove that nothing was."""
    with state.sessions() as session:
        return (
            session.execute(
                select(
                    Friend.line_user_id,
                    Friend.display_name,
                    Friend.member_id,
                    Friend.notes,
                    Friend.status,
                ).order_by(Friend.id)
            ).all(),
            session.execute(
                select(FriendTag.friend_id, FriendTag.tag_id).order_by(
                    FriendTag.friend_id, FriendTag.tag_id
                )
            ).all(),
            session.execute(
                select(
                    FriendAttribute.friend_id,
                    FriendAttribute.value_text,
                    FriendAttribute.value_number,
                    FriendAttribute.value_date,
                ).order_by(FriendAttribute.friend_id)
            ).all(),
            session.scalar(select(func.count()).select_from(FriendActivity)),
            session.scalar(select(func.count()).select_from(MemberLink)),
        )


def _detail(client, account, n):
    return client.get(f"{API}/friends/{uid(n)}", headers=account.headers).json()


@pytest.fixture
def existing(state, api_account, attributes):
    """Friend 1 (tag old, age 20, M-1), friend 2 (display name from LINE)."""
    with state.sessions.begin() as session:
        one = make_friend(session, api_account.id, 1, member_id="M-1")
        session.add(
            MemberLink(account_id=api_account.id, friend_id=one.id, member_id="M-1", method="api")
        )
        add_tag(session, one, "old")
        set_attribute(session, one, "age", 20)
        make_friend(session, api_account.id, 2, display_name="LINEの名前")


def test_import_creates_updates_and_records(client, state, api_account, existing):
    content = _csv(
        HEADER,
        f"{uid(1)},ignored,following,M-1,vip;新規; vip ,メモ,21,1990/5/6,gold",
        f'{uid(2)},ファイルの名前,,M-2,,,"1,234",,',
        f'{uid(3)},新しい人,,,常連,"複数\n行",,2001-02-03,free',
    )
    report = _import(client, api_account, content)
    assert report.status_code == 200, report.text
    body = report.json()
    assert body["errors"] == [] and body["applied"] is True and body["encoding"] == "utf-8"
    assert (
        body["rows"],
        body["valid_rows"],
        body["created"],
        body["updated"],
        body["unchanged"],
    ) == (3, 3, 1, 2, 0)
    one = _detail(client, api_account, 1)
    assert one["tags"] == ["vip", "新規"] and one["notes"] == "メモ"
    assert one["attributes"] == {"age": 21, "birthday": "1990-05-06", "plan": "gold"}
    assert one["display_name"] == "友だち1"  # LINE's profile wins over the file
    two = _detail(client, api_account, 2)
    assert two["member_id"] == "M-2" and two["attributes"] == {"age": 1234}
    assert two["display_name"] == "LINEの名前"
    three = _detail(client, api_account, 3)
    assert three["status"] == UNKNOWN and three["display_name"] == "新しい人"
    assert three["notes"] == "複数\n行" and three["tags"] == ["常連"]
    with state.sessions() as session:
        links = session.execute(
            select(MemberLink.member_id, MemberLink.method).order_by(MemberLink.id)
        ).all()
        kinds = session.scalars(select(FriendActivity.kind)).all()
    assert links == [("M-1", "api"), ("M-2", "import")]
    assert kinds.count("tag_added") == 2 and kinds.count("tag_removed") == 1
    assert kinds.count("attribute_set") == 4 and kinds.count("friend_imported") == 1
    with state.sessions() as session:
        imported = session.scalar(
            select(FriendActivity.data).where(FriendActivity.kind == "friend_imported")
        )
    assert imported == {
        "source": "import",
        "tags": ["常連"],
        "member_id": None,
        "attributes": {"birthday": "2001-02-03", "plan": "free"},
    }
    timeline = client.get(f"{API}/friends/{uid(1)}/timeline", headers=api_account.headers).json()[
        "items"
    ]
    assert {"attribute_set", "tag_added", "tag_removed", "notes_set"} <= {
        i["kind"] for i in timeline
    }
    assert all(
        i["data"]["source"] == "import" for i in timeline if i["source"] == "friend_activity"
    )
    # the same file again: nothing to do, nothing recorded
    again = _import(client, api_account, content).json()
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 3)
    with state.sessions() as session:
        assert len(session.scalars(select(FriendActivity.kind)).all()) == len(kinds)


def test_export_then_import_round_trips(client, state, api_account, existing):
    with state.sessions.begin() as session:
        make_friend(
            session,
            api_account.id,
            5,
            display_name="=cmd|' /C calc'!A0",
            notes="'quoted",
            member_id="-5",
        )
        set_attribute(
            session,
            session.scalar(select(Friend).where(Friend.line_user_id == uid(5))),
            "plan",
            "free",
        )
    before = _snapshot(state)
    exported = client.get(f"{API}/friends/export.csv", headers=api_account.headers).content
    body = _import(client, api_account, exported).json()
    assert body["errors"] == [] and body["encoding"] == "utf-8-sig"
    assert (body["updated"], body["unchanged"]) == (0, 3)
    assert _snapshot(state) == before


def test_shift_jis_file_with_japanese(client, state, api_account, attributes):
    content = _csv(
        "line_user_id,display_name,tags,notes,attr:plan",
        f"{uid(7)},髙橋 ①さん,新規;ｶﾀｶﾅ,～電話希望～,gold",
        encoding="cp932",
    )
    with pytest.raises(UnicodeDecodeError):
        content.decode("utf-8")
    body = _import(client, api_account, content).json()
    assert body["encoding"] == "cp932" and body["errors"] == [], body
    friend = _detail(client, api_account, 7)
    assert friend["display_name"] == "髙橋 ①さん" and friend["notes"] == "～電話希望～"
    assert friend["tags"] == sorted(["新規", "ｶﾀｶﾅ"])


def test_invalid_rows_are_reported_and_change_nothing(client, state, api_account, existing):
    lines = [
        HEADER,
        f"{uid(10)},ok,,M-10,,,30,,",  # row 2: valid
        f"{uid(11)},x,,,,,abc,,",  # 3: age not a number
        f"{uid(12)},x,,,,,,2025-13-01,",  # 4: bad date
        f"{uid(13)},x,,,,,,,platinum",  # 5: not a choice
        "U123,x,,,,,,,",  # 6: not a LINE user ID
        f"{uid(10)},again,,,,,,,",  # 7: duplicate user
        f"{uid(14)},x,,M-10,,,,,",  # 8: member ID of row 2
        f"{uid(15)},x,,M-1,,,,,",  # 9: member ID of friend 1 in the db
        f"{uid(16)},x,,,,,,,,extra",  # 10: too many columns
        f"{uid(17)},x,,",  # 11: too few columns
        f"{uid(18)},x,gone,,,,,,",  # 12: bad status
        ",,,,,,,,",  # 13: blank, skipped
        f"{uid(19)},x,,,{'t' * 101},,nan,,",  # 14: long tag and nan
        f"{uid(20)},fine,,,a;b,,,,",  # 15: valid
    ]
    before = _snapshot(state)
    body = _import(client, api_account, _csv(*lines)).json()
    errors = [(e["row"], e["column"]) for e in body["errors"]]
    assert errors == [
        (3, "attr:age"),
        (4, "attr:birthday"),
        (5, "attr:plan"),
        (6, "line_user_id"),
        (7, "line_user_id"),
        (8, "member_id"),
        (9, "member_id"),
        (10, None),
        (11, None),
        (12, "status"),
        (14, "tags"),
        (14, "attr:age"),
    ]
    messages = {(e["row"], e["column"]): e["message"] for e in body["errors"]}
    assert "row 2" in messages[(7, "line_user_id")] and "row 2" in messages[(8, "member_id")]
    assert uid(1) in messages[(9, "member_id")]
    assert "10 values" in messages[(10, None)] and "9 columns" in messages[(10, None)]
    assert "platinum" not in messages[(5, "attr:plan")] and "gold" in messages[(5, "attr:plan")]
    assert (body["rows"], body["valid_rows"], body["invalid_rows"]) == (13, 2, 11)
    assert body["applied"] is False and body["error_count"] == 12
    assert _snapshot(state) == before

    dry = _import(client, api_account, _csv(*lines), apply="none").json()
    assert dry["applied"] is False and dry["created"] == 2 and _snapshot(state) == before

    valid = _import(client, api_account, _csv(*lines), apply="valid").json()
    assert valid["applied"] is True and valid["created"] == 2 and valid["error_count"] == 12
    assert _detail(client, api_account, 10)["member_id"] == "M-10"
    assert _detail(client, api_account, 20)["tags"] == ["a", "b"]
    for n in (11, 12, 13, 14, 15, 16, 17, 18, 19):
        assert (
            client.get(f"{API}/friends/{uid(n)}", headers=api_account.headers).status_code == 404
        ), n
    assert _detail(client, api_account, 1)["member_id"] == "M-1"


def test_header_problems_stop_everything(client, state, api_account, existing):
    before = _snapshot(state)
    for header, column, text in [
        ("line_user_id,attr:shoe_size", "attr:shoe_size", "no attribute"),
        ("line_user_id,nickname", "nickname", "unknown column"),
        ("line_user_id,notes,Notes", "Notes", "twice"),
        ("display_name,notes", "line_user_id", "line_user_id column"),
    ]:
        body = _import(client, api_account, _csv(header, f"{uid(30)},x"), apply="valid").json()
        assert body["applied"] is False and body["created"] == 0, header
        first = body["errors"][0]
        assert (first["row"], first["column"]) == (1, column), header
        assert text in first["message"], header
    assert _snapshot(state) == before


def test_clearing_values_and_tags(client, state, api_account, existing):
    body = _import(
        client, api_account, _csv("LINE_USER_ID, tags ,attr:age,notes", f"{uid(1)},,,")
    ).json()
    assert body["updated"] == 1, body
    one = _detail(client, api_account, 1)
    assert one["tags"] == [] and one["attributes"] == {} and one["notes"] is None
    assert one["member_id"] == "M-1"  # no member_id column: the link stays


def test_file_level_refusals(client, state, api_account, monkeypatch):
    cases = [
        (b"", "empty_file"),
        (b"\xef\xbb\xbf\r\n", "empty_file"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "not_csv"),
        (b"PK\x03\x04\x14\x00\x06\x00" + b"[Content_Types].xml", "not_csv"),
        ("line_user_id\r\n".encode("utf-16"), "not_csv"),
        (b"line_user_id\r\n\xef\xbf\xff\x80\x81", "unknown_encoding"),
    ]
    for content, code in cases:
        response = _import(client, api_account, content)
        assert response.status_code == 422, (content[:10], response.text)
        assert response.json()["error"] == {
            **response.json()["error"],
            "code": code,
            "field": "file",
        }, content[:10]
    text = _import(client, api_account, b'{"friends": [1, 2, 3]}\n').json()
    assert text["errors"][0]["row"] == 1 and text["applied"] is False
    assert _import(client, api_account, b"line_user_id\r\n").json()["rows"] == 0
    bad_apply = _import(client, api_account, _csv("line_user_id"), apply="some")
    assert bad_apply.status_code == 422 and bad_apply.json()["error"]["field"] == "apply"
    missing = client.post(
        f"{API}/friends/import", headers=api_account.headers, data={"apply": "all"}
    )
    assert missing.status_code == 422 and missing.json()["error"]["field"] == "file"
    monkeypatch.setattr(friends_api, "MAX_IMPORT_BYTES", 1000)
    huge = _import(client, api_account, _csv("line_user_id", *[uid(i) for i in range(100)]))
    assert huge.status_code == 413 and huge.json()["error"]["field"] == "file"


def test_unreadable_csv_is_reported_on_its_row(client, state, api_account):
    oversized = "x" * 200_000  # over the csv module's field limit
    body = _import(
        client,
        api_account,
        _csv("line_user_id,notes", f"{uid(1)},ok", f'{uid(2)},"{oversized}"'),
        apply="valid",
    ).json()
    assert [(e["row"], e["column"]) for e in body["errors"]] == [(3, None)]
    assert "unreadable" in body["errors"][0]["message"]
    assert body["created"] == 1 and body["applied"] is True


def test_large_file_in_chunks_and_error_cap(client, state, api_account, attributes):
    n = 12_345
    lines = ["line_user_id,tags,attr:age"] + [f"{uid(i)},t{i % 7},{i}" for i in range(n)]
    body = _import(client, api_account, _csv(*lines)).json()
    assert body["created"] == n and body["errors"] == []
    with state.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Friend)) == n
        assert session.scalar(select(func.count()).select_from(FriendTag)) == n
        assert session.scalar(select(func.sum(FriendAttribute.value_number))) == sum(range(n))
    broken = ["line_user_id,attr:age"] + [f"{uid(i)},x" for i in range(1500)]
    report = _import(client, api_account, _csv(*broken), apply="valid").json()
    assert report["error_count"] == 1500 and len(report["errors"]) == 1000
    assert report["errors_truncated"] is True and report["errors"][-1]["row"] == 1001


def test_csv_rows_count_like_excel(client, state, api_account, attributes):
    """A quoted cell spanning lines is one Excel row: later row numbers are not shifted."""
    content = _csv("line_user_id,notes,attr:age", f'{uid(1)},"a\nb\nc",1', f"{uid(2)},,x")
    body = _import(client, api_account, content).json()
    assert [(e["row"], e["column"]) for e in body["errors"]] == [(3, "attr:age")]


def test_reads_excel_output_back(client, state, api_account, attributes):
    """What Excel writes after editing an export: CRLF, quotes, a BOM, formula guards."""
    rows = [
        ["line_user_id", "notes", "attr:memo"],
        [uid(1), "'=1+1", "'-5"],
        [uid(2), "''=x", "'plain"],
    ]
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    body = _import(client, api_account, b"\xef\xbb\xbf" + buffer.getvalue().encode()).json()
    assert body["errors"] == [] and body["encoding"] == "utf-8-sig"
    assert _detail(client, api_account, 1)["notes"] == "=1+1"
    assert _detail(client, api_account, 1)["attributes"] == {"memo": "-5"}
    assert _detail(client, api_account, 2)["notes"] == "'=x"
    assert _detail(client, api_account, 2)["attributes"] == {"memo": "'plain"}


def test_member_ids_link_like_the_members_service(client, state, api_account, existing):
    """A new member ID is linked (history kept, method import); a different one replaces
    the friend's old link, which is closed, not deleted."""
    body = _import(
        client,
        api_account,
        _csv("line_user_id,member_id", f"{uid(1)},M-9", f"{uid(2)},M-2", f"{uid(3)},M-3"),
    ).json()
    assert body["errors"] == [] and (body["created"], body["updated"]) == (1, 2)
    with state.sessions() as session:
        links = session.execute(
            select(
                MemberLink.member_id, MemberLink.method, MemberLink.unlinked_at.is_not(None)
            ).order_by(MemberLink.member_id)
        ).all()
        activity = session.execute(
            select(FriendActivity.kind, FriendActivity.data).where(
                FriendActivity.kind.like("member_%")
            )
        ).all()
    assert links == [
        ("M-1", "api", True),
        ("M-2", "import", False),
        ("M-3", "import", False),
        ("M-9", "import", False),
    ]
    assert sorted(d["member_id"] for k, d in activity if k == "member_linked") == [
        "M-2",
        "M-3",
        "M-9",
    ]
    assert [_detail(client, api_account, n)["member_id"] for n in (1, 2, 3)] == [
        "M-9",
        "M-2",
        "M-3",
    ]
    timeline = client.get(f"{API}/friends/{uid(1)}/timeline", headers=api_account.headers).json()[
        "items"
    ]
    assert [
        (i["kind"], i["data"]["member_id"]) for i in timeline if i["kind"].startswith("member_")
    ] == [("member_linked", "M-9"), ("member_unlinked", "M-1"), ("member_linked", "M-1")]
    # the freed M-1 can now go to another friend; M-9 cannot
    again = _import(
        client, api_account, _csv("line_user_id,member_id", f"{uid(4)},M-1", f"{uid(5)},M-9")
    ).json()
    assert [(e["row"], e["column"]) for e in again["errors"]] == [(3, "member_id")]


@pytest.mark.parametrize("blind", [False, True])
def test_a_write_racing_the_import_costs_only_its_row(state, api_account, monkeypatch, blind):
    """Between the passes another friend takes a member ID the file links. The apply pass
    sees it (or, blind to it, hits the unique constraint and retries row by row): that row
    is reported and skipped, the others still go in."""
    from enishi.friends import csv_apply
    from enishi.friends.csv_io import import_csv

    real = csv_apply._plans

    def without_holder_check(session, account_id, rows):
        plans, conflicts = real(session, account_id, rows)
        plans += [
            csv_apply.Plan(row, None, created=True, member_id=row.member_id) for row, _ in conflicts
        ]
        return plans, []

    def race(phase, done, total):
        if phase == "validate" and done == total and not race.done:
            race.done = True
            with state.sessions.begin() as session:
                make_friend(session, api_account.id, 42, member_id="M-race")
            if blind:
                monkeypatch.setattr(csv_apply, "_plans", without_holder_check)

    race.done = False
    content = _csv("line_user_id,member_id", f"{uid(40)},M-race", f"{uid(41)},M-41")
    report = import_csv(
        state.sessions, api_account.id, io.BytesIO(content), progress=race, actor=Actor.cli()
    )
    assert report["applied"] is True and report["created"] == 1
    assert [e["row"] for e in report["errors"]] == [2]
    assert (report["valid_rows"], report["invalid_rows"]) == (1, 1)
    with state.sessions() as session:
        members = dict(session.execute(select(Friend.line_user_id, Friend.member_id)).all())
    assert members == {uid(41): "M-41", uid(42): "M-race"}
