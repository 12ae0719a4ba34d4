"""Errors from the services read in Japanese in the dashboard (English under ?lang=en), with
the technical detail (a field path, LINE's own words) kept as secondary text: delivery
compose, LINE's validate endpoint, delivery controls and stored run errors, friend edits,
the CSV import report, settings, operators, password, inflow routes, click analysis and
the segment builder."""

from __future__ import annotations

import html
import re
from contextlib import closing

import httpx
from sqlalchemy import update

from enishi.audit.actor import Actor
from enishi.delivery import service as deliveries
from enishi.delivery.models import Delivery
from enishi.delivery.schemas import DeliveryCreate
from enishi.friends.attribute_defs import create_attribute_def
from enishi.operators.roles import Role
from tests.delivery.conftest import mirror_friends
from tests.e2e_support import start_e2e  # noqa: F401 - a fixture
from tests.friends.conftest import make_friend, uid
from tests.web.compose import compose_form
from tests.web.conftest import PASSWORD, add_operator, csrf_of, login

LABEL = "とても長いラベルは二十文字を超えるとエラーになります"
TEMPLATE = {
    "type": "template",
    "altText": "お知らせ",
    "template": {
        "type": "buttons",
        "text": "本文",
        "actions": [{"type": "uri", "label": LABEL, "uri": "https://shop.example/"}],
    },
}
# passes enishi's own checks, but not LINE's (a LINE emoji must replace a `$`)
EMOJI = (
    '{"type": "text", "text": "hi", "emojis": [{"index": 0, '
    '"productId": "5ac1bfd5040ab15980c9b435", "emojiId": "001"}]}'
)


def text_of(response) -> str:
    return html.unescape(response.text)


def errors_of(page: str) -> dict[str, str]:
    """Each field's error text with its detail, tags removed."""
    found: dict[str, str] = {}
    for name, inner in re.findall(r'data-error="([^"]+)">(.*?)</span>', page, re.S):
        found[name] = found.get(name, "") + re.sub(r"<[^>]+>", "", inner)
    return found


def post_both(client, url: str, data: dict, **files) -> tuple[str, str]:
    """The same bad input posted in Japanese, then in English: both pages' text."""
    pages = []
    for lang in ("ja", "en"):
        response = client.post(f"{url}?lang={lang}", data=data, **files)
        assert response.status_code in (409, 413, 422), (lang, response.status_code)
        pages.append(text_of(response))
    return pages[0], pages[1]


# --- deliveries ------------------------------------------------------------------------------
def test_message_problems_of_a_draft_are_japanese_with_the_path_as_detail(
    login_as, account_id, state
):
    messages = [
        {"type": "text", "text": "x" * 5001},
        TEMPLATE,
        {"type": "image", "originalContentUrl": "http://shop.example/a.png"},
        {"type": "text", "text": "{{attr.nope}}さん、{{name}}"},
    ]
    body = {"name": "下書き", "audience": {"type": "all"}, "messages": messages}
    with state.sessions.begin() as session:
        draft = deliveries.create_delivery(
            session, account_id, DeliveryCreate(**body), actor=Actor.cli()
        )
    client = login_as(Role.MARKETER)
    url = f"/accounts/{account_id}/deliveries/{draft.id}/edit"
    ja = errors_of(text_of(client.get(url + "?lang=ja")))
    assert ja["arm0_m0_text"].startswith("5000文字以内にしてください（絵文字などは2文字")
    assert "現在5001文字" in ja["arm0_m0_text"]
    label = ja["arm0_m1_json"]
    assert label.startswith("20文字以内にしてください（現在26文字）。")
    assert "arms[0].messages[1].template.actions[0].label" in label  # the path, secondary
    assert ja["arm0_m2_original"] == "https:// で始まるURLにしてください。"
    assert "{{attr.nope}}: 属性「nope」は定義されていません。" in ja["arm0_messages"]
    assert ja["arm0_m3_text"].startswith("{{name}} は使えない変数です")
    assert "must be" not in "".join(ja.values())  # no English sentence in the Japanese page
    en = errors_of(text_of(client.get(url + "?lang=en")))
    assert en["arm0_m0_text"].startswith("Use at most 5000 characters")
    assert en["arm0_m1_json"].startswith("Use at most 20 characters (26 now).")
    assert en["arm0_m2_original"] == "Use a URL that starts with https://."
    assert '{{attr.nope}}: no attribute "nope" is defined.' in en["arm0_messages"]


def test_audience_timing_and_arm_problems_on_save(login_as, account_id):
    client = login_as(Role.MARKETER)
    base = f"/accounts/{account_id}/deliveries"
    token = csrf_of(client.get(f"{base}/new").text)
    form = compose_form(
        token,
        audience_type="friend",
        friend_user_id=uid(999),
        timing="spread",
        send_at="2099-01-01T09:00",
        spread_until="2099-01-20T09:00",
        arm_count="2",
        arm1_name="A",
        arm1_m0_type="text",
        arm1_m0_text="B案",
    )
    ja, en = post_both(client, base, form)
    ja_errors, en_errors = errors_of(ja), errors_of(en)
    assert ja_errors["audience"].startswith("このLINEユーザーIDの友だちはいません")
    assert ja_errors["spread_until"] == "分散できるのは最長7日間です。"
    assert ja_errors["arm1_name"] == "パターン名「A」が重複しています。"
    assert en_errors["audience"].startswith("No friend of this account has that LINE user ID")
    assert en_errors["spread_until"] == "A delivery can be spread over at most 7 days."
    assert en_errors["arm1_name"] == 'The variant name "A" is used twice.'


def test_an_unreachable_validate_endpoint_is_said_in_japanese(login_as, account_id, state):
    with state.sessions.begin() as session:
        make_friend(session, account_id, 1)
    client = login_as(Role.MARKETER)
    base = f"/accounts/{account_id}/deliveries"
    token = csrf_of(client.get(f"{base}/new").text)
    ja, en = post_both(client, base, compose_form(token, intent="validate"))
    assert errors_of(ja)["arm0_messages"].startswith(
        "LINEの検証APIに接続できませんでした。時間をおいてもう一度お試しください。"
    )
    assert errors_of(en)["arm0_messages"].startswith(
        "LINE's validate endpoint could not be reached"
    )


def test_lines_refusal_has_a_japanese_lead_and_lines_words_as_detail(start_e2e):  # noqa: F811
    e2e = start_e2e(friends=2, quota_limit=None)
    mirror_friends(e2e.state, e2e.account_id, e2e.channel)
    add_operator(e2e.state, "marketer@example.jp", Role.MARKETER, e2e.account_id)
    base = f"/accounts/{e2e.account_id}/deliveries"
    with closing(httpx.Client(base_url=e2e.base_url, timeout=60)) as client:
        assert login(client, "marketer@example.jp", PASSWORD).status_code == 303
        token = csrf_of(client.get(f"{base}/new").text)
        form = compose_form(token, intent="validate", arm0_m0_type="other", arm0_m0_json=EMOJI)
        ja, en = post_both(client, base, form)
    error = errors_of(ja)["arm0_m0_json"]
    lead, _, detail = error.partition(" ")
    assert lead == "LINEが受け付けませんでした。"
    assert detail.startswith("arms[0].messages[0].emojis[0].index: ")
    assert re.search(r"[A-Za-z]{4}", detail.partition(": ")[2])  # LINE's English, kept
    assert errors_of(en)["arm0_m0_json"].startswith("LINE did not accept this. arms[0]")


def test_controls_in_the_wrong_state_and_a_stored_run_error(login_as, account_id, state):
    body = {
        "name": "止まった配信",
        "audience": {"type": "all"},
        "messages": [{"type": "text", "text": "a"}],
    }
    with state.sessions.begin() as session:
        draft = deliveries.create_delivery(
            session, account_id, DeliveryCreate(**body), actor=Actor.cli()
        ).id
        stopped = deliveries.create_delivery(
            session, account_id, DeliveryCreate(**body), actor=Actor.cli()
        ).id
        session.execute(
            update(Delivery)
            .where(Delivery.id == stopped)
            .values(
                status="paused",
                error_code="line_token_refused",
                error="LINE 401: Authentication failed. Confirm that the access token in the authorization header is valid.",
            )
        )
    client = login_as(Role.MARKETER)
    base = f"/accounts/{account_id}/deliveries"
    token = csrf_of(client.get(f"{base}/{draft}").text)
    ja, en = post_both(client, f"{base}/{draft}/resume", {"csrf_token": token})
    assert "この配信は今の状態（下書き）では操作できません。" in ja
    assert "This delivery cannot do that now (Draft)." in en
    page = text_of(client.get(f"{base}/{stopped}?lang=ja"))
    shown = re.search(r'data-role="error">(.*?)</p>', page, re.S).group(1)
    assert shown.startswith("LINEがアクセストークンを受け付けなかったため、一時停止しました。")
    assert "LINE 401: Authentication failed" in shown  # LINE's words, as the detail
    page = text_of(client.get(f"{base}/{stopped}?lang=en"))
    assert "Paused because LINE did not accept the access token." in page


# --- friends ---------------------------------------------------------------------------------
def test_friend_edits_are_refused_in_japanese(login_as, account_id, state):
    with state.sessions.begin() as session:
        friend = make_friend(session, account_id, 1).id
        create_attribute_def(session, account_id, key="age", label="年齢", type="number")
        create_attribute_def(session, account_id, key="birthday", label="誕生日", type="date")
    client = login_as(Role.MARKETER)
    url = f"/accounts/{account_id}/friends/{friend}"
    token = csrf_of(client.get(url).text)
    cases = [
        ("/attributes", {"key": ["age"], "value": ["twelve"]}, "attributes.age",
         "数値を入力してください。", "Enter a number."),
        ("/attributes", {"key": ["birthday"], "value": ["4月1日"]}, "attributes.birthday",
         "日付を YYYY-MM-DD（例: 2025-04-01）の形式で入力してください。",
         "Enter a date as YYYY-MM-DD (e.g. 2025-04-01)."),
        ("/tags", {"tag": "a;b"}, "tags",
         "タグ名に「;」は使えません（CSVでタグの区切りに使うため）。",
         'A tag name cannot contain ";" (CSV files separate tags with it).'),
        ("/tags", {"tag": "x" * 101}, "tags",
         "タグ名は1〜100文字で入力してください。", "A tag name is 1 to 100 characters."),
        ("/notes", {"notes": "あ" * 10_001}, "notes",
         "10,000文字以内で入力してください。", "Use at most 10,000 characters."),
    ]  # fmt: skip
    for path, data, field, japanese, english in cases:
        ja, en = post_both(client, url + path, {**data, "csrf_token": token})
        assert errors_of(ja)[field] == japanese, field
        assert errors_of(en)[field] == english, field


def test_the_import_report_lists_each_rows_problem_in_japanese(login_as, account_id, state):
    with state.sessions.begin() as session:
        create_attribute_def(session, account_id, key="age", label="年齢", type="number")
    content = (
        "line_user_id,member_id,status,attr:age\r\n"
        "U123,,,\r\n"
        f"{uid(1)},M1,,\r\n"
        f"{uid(2)},M1,,\r\n"
        f"{uid(4)},,gone,\r\n"
        f"{uid(5)},,,thirty\r\n"
        f"{uid(6)},,,1,extra\r\n"
        f"{uid(1)},,,\r\n"
    ).encode()
    client = login_as(Role.MARKETER)
    url = f"/accounts/{account_id}/friends/import"
    token = csrf_of(client.get(url).text)
    files = {"files": {"file": ("friends.csv", content, "text/csv")}}
    ja, en = post_both(client, url, {"csrf_token": token}, **files)

    def rows(page: str) -> list[list[str]]:
        table = re.search(r'data-testid="import-errors">(.*?)</table>', page, re.S).group(1)
        return [
            [
                re.sub(r"<[^>]+>", "", cell).strip()
                for cell in re.findall(r"<td[^>]*>(.*?)</td>", tr, re.S)
            ]
            for tr in re.findall(r"<tr>(.*?)</tr>", table, re.S)
            if "<td" in tr
        ]

    assert rows(ja) == [
        ["2", "line_user_id", "LINEユーザーID（U＋32桁の小文字16進数）ではありません。"],
        ["4", "member_id", "会員ID M1 は3行目にもあります（会員IDは1人の友だちのものです）。"],
        [
            "5",
            "status",
            "status は following, blocked, unknown のいずれかです（読み取り専用の列です）。",
        ],
        ["6", "attr:age", "数値を入力してください。"],
        ["7", "", "値が5個ありますが、見出しは4列です。"],
        ["8", "line_user_id", "このLINEユーザーIDは3行目にもあります。"],
    ]
    assert [row[2] for row in rows(en)] == [
        "Not a LINE user ID (U and 32 lowercase hex digits).",
        "Member ID M1 is on row 3 already (a member ID belongs to one friend).",
        "status is one of following, blocked, unknown (the column is read-only).",
        "Enter a number.",
        "The row has 5 values but the header has 4 columns.",
        "This LINE user ID is on row 3 already.",
    ]


# --- settings, operators, password -----------------------------------------------------------
def test_settings_operators_and_password_forms_answer_in_japanese(login_as, account_id):
    admin = login_as(Role.ADMIN)
    settings = f"/accounts/{account_id}/settings"
    token = csrf_of(admin.get(settings).text)
    general = {
        "name": "店",
        "timezone": "Mars/Olympus",
        "cost_per_message_jpy": "1",
        "attribution_window_days": "7",
        "csrf_token": token,
    }
    ja, en = post_both(admin, settings + "/general", general)
    assert errors_of(ja)["timezone"] == "タイムゾーンが正しくありません（例: Asia/Tokyo）。"
    assert errors_of(en)["timezone"] == "Unknown time zone (e.g. Asia/Tokyo)."
    tested = admin.post(settings + "/channel/test?lang=ja", data={"csrf_token": token})
    result = re.search(r'data-testid="connection-result">(.*?)</p>', text_of(tested), re.S)
    assert "LINEに接続できません。ネットワークと" in result.group(1)
    assert "LINE unreachable" in result.group(1)  # the technical detail stays
    tested = admin.post(settings + "/channel/test?lang=en", data={"csrf_token": token})
    assert "LINE cannot be reached." in text_of(tested)
    ja, en = post_both(
        admin,
        settings + "/operators",
        {"email": "not-an-email", "name": "x", "role": "viewer", "csrf_token": token},
    )
    assert "メールアドレスの形式が正しくありません。" in ja
    assert "That is not a valid email address." in en
    viewer = login_as(Role.VIEWER)
    token = csrf_of(viewer.get("/password").text)
    change = {"current_password": PASSWORD, "csrf_token": token, "next": "/"}
    ja, en = post_both(
        viewer, "/password", {**change, "new_password": "a", "new_password_again": "b"}
    )
    assert "新しいパスワードが確認用と一致しません。" in ja
    assert "The two new passwords do not match." in en
    short = {**change, "new_password": "short", "new_password_again": "short"}
    ja, en = post_both(viewer, "/password", short)
    assert "パスワードは10文字以上にしてください。" in ja
    assert "Use a password of 10 characters or more." in en


# --- routes, click analysis, segments --------------------------------------------------------
def test_routes_clicks_and_segments_answer_in_japanese(login_as, account_id):
    client = login_as(Role.MARKETER)
    routes = f"/accounts/{account_id}/routes"
    token = csrf_of(client.get(routes).text)
    ja, en = post_both(client, routes, {"name": "店頭", "code": "bad code!", "csrf_token": token})
    assert "コードは半角英数字・_・- の1〜64文字で入力してください。" in ja
    assert "A code is 1–64 characters: A–Z, a–z, 0–9, _ and -." in en
    clicks = f"/accounts/{account_id}/analysis/clicks/segments"
    bad_range = {"kind": "recency", "range_from": "30", "range_to": "7", "csrf_token": token}
    ja, en = post_both(client, clicks, bad_range)
    assert "範囲が正しくありません。始まりは終わり以前にしてください。" in ja
    assert "Invalid range; the start must not come after the end." in en
    segments = f"/accounts/{account_id}/segments"
    definition = '{"version": 1, "where": {"tags": {"any": ["存在しない"]}}}'
    ja, en = post_both(
        client, segments, {"name": "s", "definition": definition, "csrf_token": token}
    )
    errors = re.search(r'data-testid="segment-errors">(.*?)</ul>', ja, re.S).group(1)
    assert "存在しないタグです" in errors  # Japanese first, the service's English after it
    assert errors.index("存在しないタグです") < errors.index("no tag named")
    assert "no such tag" in re.search(r'data-testid="segment-errors">(.*?)</ul>', en, re.S).group(1)
