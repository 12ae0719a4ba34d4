"""rewrite_message_urls: every URL a friend can open becomes a tracked URL, media URLs stay,
and the messages still satisfy LINE's limits (checked with the emulator's validator)."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from enishi.emulator import behaviour as bh
from enishi.emulator.validation import validate_messages
from enishi.tracking.models import Link
from enishi.tracking.rewrite import find_text_urls, rewrite_action_urls, rewrite_message_urls
from enishi.tracking.tokens import read_token, tracked_path_prefix

IMG = "https://cdn.shop.example/img/hero.jpg"
SALE = "https://shop.example/sale?utm_source=line"
INFO = "https://shop.example/info"


def uri(url: str, label: str = "見る", **extra) -> dict:
    return {"type": "uri", "label": label, "uri": url, **extra}


TEXT = "$ 春のセール🌸開催中！" + SALE + "。詳しくは " + INFO + " をご覧ください $"
LAST_EMOJI = len(TEXT.encode("utf-16-le")) // 2 - 1  # 🌸 takes two UTF-16 units

MESSAGES = {
    "text": {
        "type": "text",
        "text": TEXT,
        "emojis": [
            {"index": 0, "productId": "5ac1bfd5040ab15980c9b435", "emojiId": "001"},
            {"index": LAST_EMOJI, "productId": "5ac1bfd5040ab15980c9b435", "emojiId": "002"},
        ],
        "quickReply": {
            "items": [
                {"type": "action", "imageUrl": IMG, "action": uri(SALE, "セール")},
                {"type": "action", "action": {"type": "postback", "label": "後で", "data": "a=1"}},
                {"type": "action", "action": {"type": "camera", "label": "カメラ"}},
            ]
        },
    },
    "textV2": {
        "type": "textV2",
        "text": "{name}さん、限定クーポンはこちら→https://shop.example/coupon",
        "substitution": {
            "name": {"type": "mention", "mentionee": {"type": "user", "userId": "U" + "1" * 32}}
        },
    },
    "buttons": {
        "type": "template",
        "altText": "新作のご案内",
        "template": {
            "type": "buttons",
            "thumbnailImageUrl": IMG,
            "title": "新作",
            "text": "春の新作が入荷しました",
            "defaultAction": uri(SALE),
            "actions": [
                uri(INFO, "詳細", altUri={"desktop": "https://shop.example/pc/info"}),
                {"type": "postback", "label": "興味あり", "data": "tag=spring"},
                uri("tel:0312345678", "電話"),
            ],
        },
    },
    "confirm": {
        "type": "template",
        "altText": "確認",
        "template": {
            "type": "confirm",
            "text": "予約しますか？",
            "actions": [
                uri("https://shop.example/reserve", "はい"),
                {"type": "message", "label": "いいえ", "text": "いいえ"},
            ],
        },
    },
    "carousel": {
        "type": "template",
        "altText": "おすすめ",
        "template": {
            "type": "carousel",
            "columns": [
                {
                    "thumbnailImageUrl": IMG,
                    "text": f"商品{i}",
                    "defaultAction": uri(f"https://shop.example/p/{i}"),
                    "actions": [uri(f"https://shop.example/p/{i}", "買う")],
                }
                for i in range(3)
            ],
        },
    },
    "image_carousel": {
        "type": "template",
        "altText": "写真",
        "template": {
            "type": "image_carousel",
            "columns": [{"imageUrl": IMG, "action": uri("https://shop.example/look", "見る")}],
        },
    },
    "flex": {
        "type": "flex",
        "altText": "特集",
        "contents": {
            "type": "carousel",
            "contents": [
                {
                    "type": "bubble",
                    "hero": {
                        "type": "image",
                        "url": IMG,
                        "size": "full",
                        "action": uri(SALE, "hero"),
                    },
                    "body": {
                        "type": "box",
                        "layout": "vertical",
                        "action": uri(INFO, "body"),
                        "contents": [
                            {
                                "type": "text",
                                "text": "表示だけ https://shop.example/display",
                                "wrap": True,
                            },
                            {"type": "button", "action": uri("https://shop.example/buy", "購入")},
                            {"type": "image", "url": IMG},
                        ],
                    },
                },
                {
                    "type": "bubble",
                    "footer": {
                        "type": "box",
                        "layout": "vertical",
                        "contents": [
                            {"type": "button", "action": uri("line://app/1234", "アプリ")},
                            {
                                "type": "button",
                                "action": uri(SALE, "セール", altUri={"desktop": SALE}),
                            },
                        ],
                    },
                },
            ],
        },
    },
    "imagemap": {
        "type": "imagemap",
        "baseUrl": "https://cdn.shop.example/imagemap/spring",
        "altText": "イメージマップ",
        "baseSize": {"width": 1040, "height": 1040},
        "video": {
            "originalContentUrl": "https://cdn.shop.example/v.mp4",
            "previewImageUrl": IMG,
            "area": {"x": 0, "y": 0, "width": 1040, "height": 585},
            "externalLink": {"linkUri": "https://shop.example/movie", "label": "もっと見る"},
        },
        "actions": [
            {
                "type": "uri",
                "linkUri": SALE,
                "area": {"x": 0, "y": 585, "width": 520, "height": 455},
            },
            {
                "type": "message",
                "text": "こんにちは",
                "area": {"x": 520, "y": 585, "width": 520, "height": 455},
            },
        ],
    },
    "image": {"type": "image", "originalContentUrl": IMG, "previewImageUrl": IMG},
}


@pytest.fixture
def rewrite(state, api_account):
    def run(messages, **kwargs):
        kwargs.setdefault("settings", state.settings)
        with state.sessions.begin() as session:
            return rewrite_message_urls(session, api_account.id, messages, **kwargs)

    return run


def links(state) -> dict[int, Link]:
    with state.sessions() as session:
        return {link.id: link for link in session.scalars(select(Link))}


def tracked_in(obj, settings) -> list[str]:
    prefix = tracked_path_prefix(settings)
    found = []

    def walk(node):
        if isinstance(node, dict):
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
        elif isinstance(node, str):
            for start, end in find_text_urls(node):
                if node[start:end].startswith(prefix):
                    found.append(node[start:end].split("$")[0])  # tokens have no "$"
            if node.startswith(prefix):
                found.append(node)

    walk(obj)
    return list(dict.fromkeys(found))


def destination(state, url: str):
    ids = read_token(state.settings, urlsplit(url).path.removeprefix("/c/"))
    assert ids is not None, url
    return links(state)[ids[0]], ids[1]


def test_the_originals_are_valid(state):
    for name, message in MESSAGES.items():
        assert validate_messages([message]) == [], name


@pytest.mark.parametrize("name", list(MESSAGES))
def test_every_openable_url_is_tracked_and_still_valid(state, rewrite, name):
    original = MESSAGES[name]
    snapshot = json.dumps(original, ensure_ascii=False)
    (out,) = rewrite([original], delivery_id=5, friend_id=9)
    assert json.dumps(original, ensure_ascii=False) == snapshot  # the input is not touched
    assert validate_messages([out]) == []
    # every link a virtual friend could open in the result is a tracked one...
    openable = [u for u in bh.message_links([out]) if u.startswith("http")]
    display_only = "https://shop.example/display"
    for url in openable:
        if url == display_only:
            continue
        assert url.startswith(tracked_path_prefix(state.settings)), url
        link, friend_id = destination(state, url)
        assert friend_id == 9 and link.delivery_id == 5
    # ...and media, app and telephone URLs are left as they were
    dumped = json.dumps(out, ensure_ascii=False)
    assert dumped.count(IMG) == snapshot.count(IMG)
    for kept in (
        "tel:0312345678",
        "line://app/1234",
        "https://cdn.shop.example/v.mp4",
        "https://cdn.shop.example/imagemap/spring",
        display_only,
    ):
        assert dumped.count(kept) == snapshot.count(kept)


def test_text_keeps_its_words_and_emojis(state, rewrite):
    (out,) = rewrite([MESSAGES["text"]], delivery_id=1)
    text = out["text"]
    sale, info = tracked_in(out, state.settings)[:2]
    assert text == "$ 春のセール🌸開催中！" + sale + "。詳しくは " + info + " をご覧ください $"
    assert destination(state, sale)[0].url == SALE
    assert destination(state, info)[0].url == INFO
    units = text.encode("utf-16-le")
    for emoji in out["emojis"]:
        assert units[2 * emoji["index"] : 2 * emoji["index"] + 2] == b"$\x00"
    assert out["emojis"][0]["index"] == 0 and out["emojis"][1]["index"] != LAST_EMOJI


@pytest.mark.parametrize(
    ("text", "urls"),
    [
        ("詳細はhttps://shop.example/aをご覧ください", ["https://shop.example/a"]),
        (
            "https://shop.example/a。次は https://shop.example/b、",
            ["https://shop.example/a", "https://shop.example/b"],
        ),
        ("「https://shop.example/a」", ["https://shop.example/a"]),
        ("（https://shop.example/a）", ["https://shop.example/a"]),
        ("see https://shop.example/a.", ["https://shop.example/a"]),
        ("(see https://shop.example/a)", ["https://shop.example/a"]),
        ("https://en.wikipedia.org/wiki/Foo_(bar) ok", ["https://en.wikipedia.org/wiki/Foo_(bar)"]),
        ("https://shop.example/?q=1&r=2! wow", ["https://shop.example/?q=1&r=2"]),
        ("HTTPS://SHOP.EXAMPLE/A", ["HTTPS://SHOP.EXAMPLE/A"]),
        ("http:// nothing, https:// nor javascript:alert(1)", []),
        ("{name}https://shop.example/x{code}", ["https://shop.example/x"]),
    ],
)
def test_urls_are_found_as_line_links_them(text, urls):
    assert [text[s:e] for s, e in find_text_urls(text)] == urls


def test_one_link_per_url_per_delivery(state, rewrite):
    messages = [MESSAGES["text"], MESSAGES["flex"], MESSAGES["imagemap"]]
    first = rewrite(messages, delivery_id=11, friend_id=1)
    made = len(links(state))
    again = rewrite(messages, delivery_id=11, friend_id=2)  # another friend, another session
    assert len(links(state)) == made
    sale_links = {
        destination(state, u)[0].id
        for u in tracked_in(first + again, state.settings)
        if destination(state, u)[0].url == SALE
    }
    assert len(sale_links) == 1
    assert tracked_in(first, state.settings) != tracked_in(again, state.settings)
    rewrite(messages, delivery_id=12)
    assert len(links(state)) == 2 * made
    urls = {link.url for link in links(state).values()}
    assert IMG not in urls and "tel:0312345678" not in urls


def test_rewriting_twice_does_not_wrap_twice(state, rewrite):
    once = rewrite([MESSAGES["buttons"]], delivery_id=3)
    made = len(links(state))
    twice = rewrite(once, delivery_id=3)
    assert twice == once and len(links(state)) == made


def test_multicast_tokens_name_no_friend(state, rewrite):
    (out,) = rewrite([MESSAGES["confirm"]], delivery_id=4)
    (url,) = tracked_in(out, state.settings)
    assert destination(state, url)[1] is None


def test_the_5000_character_limit_holds(state, rewrite):
    short = [f"https://a.jp/{i}" for i in range(40)]
    body = " ".join(short)
    text = "あ" * (5000 - len(body) - 1) + " " + body
    assert len(text) == 5000
    (out,) = rewrite([{"type": "text", "text": text}], delivery_id=1)
    assert validate_messages([out]) == []
    assert len(out["text"]) <= 5000
    assert out["text"] == text  # every tracked URL is longer: none fits
    roomy = "あ" * 4000 + " " + body
    (out,) = rewrite([{"type": "text", "text": roomy}], delivery_id=1)
    assert len(out["text"]) <= 5000
    tracked = tracked_in(out, state.settings)
    assert 0 < len(tracked) < 40  # as many as fit
    assert validate_messages([out]) == []


def test_invalid_urls_are_left_for_line_to_judge(state, rewrite):
    too_long = "https://shop.example/" + "a" * 2100
    message = {"type": "text", "text": f"{too_long} https://user:pw@shop.example/ ok"}
    (out,) = rewrite([message], delivery_id=1)
    assert out == message
    assert links(state) == {}


def test_rich_menu_areas(state, api_account):
    menu = {
        "size": {"width": 2500, "height": 843},
        "selected": False,
        "name": "main",
        "chatBarText": "メニュー",
        "areas": [
            {"bounds": {"x": 0, "y": 0, "width": 1250, "height": 843}, "action": uri(SALE)},
            {
                "bounds": {"x": 1250, "y": 0, "width": 1250, "height": 843},
                "action": {"type": "postback", "data": "menu=2"},
            },
        ],
    }
    with state.sessions.begin() as session:
        out = rewrite_action_urls(session, api_account.id, menu, settings=state.settings)
    assert out["areas"][0]["action"]["uri"].startswith(tracked_path_prefix(state.settings))
    assert out["areas"][1] == menu["areas"][1]
    assert destination(state, out["areas"][0]["action"]["uri"])[0].delivery_id is None


def test_links_vanish_with_a_rolled_back_transaction(state, api_account):
    with state.sessions() as session:
        rewrite_message_urls(
            session, api_account.id, [MESSAGES["confirm"]], delivery_id=8, settings=state.settings
        )
        session.rollback()
        (out,) = rewrite_message_urls(
            session, api_account.id, [MESSAGES["confirm"]], delivery_id=8, settings=state.settings
        )
        session.commit()
    (url,) = tracked_in(out, state.settings)
    assert destination(state, url)[0].url == "https://shop.example/reserve"


def test_tracked_links_redirect_to_the_original(client, state, rewrite):
    (out,) = rewrite([MESSAGES["text"]], delivery_id=2, friend_id=None)
    for url in tracked_in(out, state.settings):
        response = client.get(urlsplit(url).path, follow_redirects=False)
        assert response.status_code == 302
        assert response.headers["location"] in (SALE, INFO)
    with state.sessions() as session:
        from enishi.tracking.models import Click

        assert session.scalar(select(func.count(Click.id))) == 2


def test_a_line_emoji_right_after_a_url_is_not_part_of_it(state, rewrite):
    text = "セール→https://shop.example/a$ 🌸https://shop.example/b $"
    first = text.index("$")
    last = len(text.encode("utf-16-le")) // 2 - 1
    message = {
        "type": "text",
        "text": text,
        "emojis": [
            {"index": first, "productId": "5ac1bfd5040ab15980c9b435", "emojiId": "001"},
            {"index": last, "productId": "5ac1bfd5040ab15980c9b435", "emojiId": "002"},
        ],
    }
    assert validate_messages([message]) == []
    (out,) = rewrite([message], delivery_id=1)
    assert validate_messages([out]) == []
    a, b = tracked_in(out, state.settings)
    assert destination(state, a)[0].url == "https://shop.example/a"
    assert destination(state, b)[0].url == "https://shop.example/b"
    assert out["text"] == f"セール→{a}$ 🌸{b} $"
