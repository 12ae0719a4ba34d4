"""Request validation of the emulated Messaging API: LINE's documented examples pass, and
every limit is accepted at the limit and refused just over it, at LINE's property path."""

from __future__ import annotations

import copy

import orjson
import pytest

from enishi.emulator.errors import validation_error
from enishi.emulator.validation import (
    validate_custom_aggregation_units,
    validate_messages,
    validate_narrowcast,
    validate_rich_menu,
    validate_user_id,
)
from enishi.emulator.validation_base import grapheme_len, utf16_len

USER = "U4af4980629" + "0" * 22
HTTPS = "https://example.com/"


def problems(*messages: dict) -> list[tuple[str, str]]:
    return validate_messages(list(messages))


def assert_ok(*messages: dict) -> None:
    assert problems(*messages) == []


def assert_fails(message: dict, prop: str, text: str | None = None) -> None:
    found = problems(message)
    assert [p for p, _ in found] == [prop], found
    if text is not None:
        assert found[0][1] == text


def url(length: int) -> str:
    return HTTPS + "a" * (length - len(HTTPS))


def text_msg(text: str = "Hello", **extra) -> dict:
    return {"type": "text", "text": text, **extra}


def message_action(label: str = "Yes", text: str = "yes") -> dict:
    return {"type": "message", "label": label, "text": text}


def postback(data: str = "action=buy&itemid=1", **extra) -> dict:
    return {"type": "postback", "label": "Buy", "data": data, **extra}


def uri_action(uri: str = "https://example.com/page", **extra) -> dict:
    return {"type": "uri", "label": "View", "uri": uri, **extra}


def buttons(actions: list | None = None, **template) -> dict:
    body = {
        "type": "buttons",
        "text": "Please select",
        "actions": [postback()] if actions is None else actions,
    }
    return {
        "type": "template",
        "altText": "This is a buttons template",
        "template": body | template,
    }


def quick_reply(*actions: dict) -> dict:
    return text_msg(quickReply={"items": [{"type": "action", "action": a} for a in actions]})


def bubble(text: str = "Hello, World!", **extra) -> dict:
    body = {"type": "box", "layout": "vertical", "contents": [{"type": "text", "text": text}]}
    return {"type": "bubble", "body": body, **extra}


def flex(contents: dict, alt: str = "This is a Flex Message") -> dict:
    return {"type": "flex", "altText": alt, "contents": contents}


# --- LINE's documented examples of every message type ---

DOC_EXAMPLES = {
    "text": {
        "type": "text",
        "text": "$ LINE emoji $",
        "emojis": [
            {"index": 0, "productId": "5ac1bfd5040ab15980c9b435", "emojiId": "001"},
            {"index": 13, "productId": "5ac1bfd5040ab15980c9b435", "emojiId": "002"},
        ],
    },
    "textV2": {
        "type": "textV2",
        "text": "Welcome, {user1}! {laugh}\n{everyone} There is a {Fishing} event tonight.",
        "substitution": {
            "user1": {"type": "mention", "mentionee": {"type": "user", "userId": USER}},
            "laugh": {"type": "emoji", "productId": "5a8555cfe6256cc92ea23c2a", "emojiId": "002"},
            "everyone": {"type": "mention", "mentionee": {"type": "all"}},
        },
    },
    "sticker": {"type": "sticker", "packageId": "446", "stickerId": "1988"},
    "image": {
        "type": "image",
        "originalContentUrl": "https://example.com/original.jpg",
        "previewImageUrl": "https://example.com/preview.jpg",
    },
    "video": {
        "type": "video",
        "originalContentUrl": "https://example.com/original.mp4",
        "previewImageUrl": "https://example.com/preview.jpg",
        "trackingId": "track-id",
    },
    "audio": {
        "type": "audio",
        "originalContentUrl": "https://example.com/original.m4a",
        "duration": 60000,
    },
    "location": {
        "type": "location",
        "title": "my location",
        "address": "1-3 Kioicho, Chiyoda-ku, Tokyo, 102-8282, Japan",
        "latitude": 35.67966,
        "longitude": 139.73669,
    },
    "imagemap": {
        "type": "imagemap",
        "baseUrl": "https://example.com/bot/images/rm001",
        "altText": "This is an imagemap",
        "baseSize": {"width": 1040, "height": 1040},
        "video": {
            "originalContentUrl": "https://example.com/video.mp4",
            "previewImageUrl": "https://example.com/video_preview.jpg",
            "area": {"x": 0, "y": 0, "width": 1040, "height": 585},
            "externalLink": {"linkUri": "https://example.com/see_more.html", "label": "See More"},
        },
        "actions": [
            {
                "type": "uri",
                "linkUri": "https://example.com/",
                "area": {"x": 0, "y": 586, "width": 520, "height": 454},
            },
            {
                "type": "message",
                "text": "Hello",
                "area": {"x": 520, "y": 586, "width": 520, "height": 454},
            },
            {
                "type": "clipboard",
                "clipboardText": "3B48740B",
                "area": {"x": 0, "y": 0, "width": 10, "height": 10},
            },
        ],
    },
    "buttons": {
        "type": "template",
        "altText": "This is a buttons template",
        "template": {
            "type": "buttons",
            "thumbnailImageUrl": "https://example.com/bot/images/image.jpg",
            "imageAspectRatio": "rectangle",
            "imageSize": "cover",
            "imageBackgroundColor": "#FFFFFF",
            "title": "Menu",
            "text": "Please select",
            "defaultAction": {"type": "uri", "label": "View detail", "uri": "http://example.com/"},
            "actions": [
                {"type": "postback", "label": "Buy", "data": "action=buy&itemid=123"},
                {"type": "postback", "label": "Add to cart", "data": "action=add&itemid=123"},
                {"type": "uri", "label": "View detail", "uri": "http://example.com/page/123"},
            ],
        },
    },
    "confirm": {
        "type": "template",
        "altText": "this is a confirm template",
        "template": {
            "type": "confirm",
            "text": "Are you sure?",
            "actions": [message_action("Yes", "yes"), message_action("No", "no")],
        },
    },
    "carousel": {
        "type": "template",
        "altText": "this is a carousel template",
        "template": {
            "type": "carousel",
            "imageAspectRatio": "rectangle",
            "imageSize": "cover",
            "columns": [
                {
                    "thumbnailImageUrl": "https://example.com/bot/images/item1.jpg",
                    "imageBackgroundColor": "#FFFFFF",
                    "title": "this is menu",
                    "text": "description",
                    "defaultAction": uri_action("http://example.com/page/123"),
                    "actions": [
                        postback("action=buy&itemid=111"),
                        postback("action=add&itemid=111"),
                        uri_action("http://example.com/page/111"),
                    ],
                },
                {
                    "thumbnailImageUrl": "https://example.com/bot/images/item2.jpg",
                    "title": "this is menu",
                    "text": "description",
                    "actions": [
                        postback("action=buy&itemid=222", displayText="Buy it"),
                        message_action("Add to cart", "add 222"),
                        uri_action("http://example.com/page/222"),
                    ],
                },
            ],
        },
    },
    "image_carousel": {
        "type": "template",
        "altText": "this is a image carousel template",
        "template": {
            "type": "image_carousel",
            "columns": [
                {
                    "imageUrl": "https://example.com/bot/images/item1.jpg",
                    "action": {"type": "postback", "label": "Buy", "data": "action=buy&itemid=1"},
                },
                {
                    "imageUrl": "https://example.com/bot/images/item2.jpg",
                    "action": {"type": "message", "label": "Yes", "text": "yes"},
                },
                {
                    "imageUrl": "https://example.com/bot/images/item3.jpg",
                    "action": {"type": "uri", "label": "View detail", "uri": "http://example.com/"},
                },
            ],
        },
    },
    "flex_bubble": flex(bubble()),
    "flex_full_bubble": flex(
        {
            "type": "bubble",
            "hero": {
                "type": "image",
                "url": "https://example.com/cafe.png",
                "size": "full",
                "aspectRatio": "20:13",
                "action": {"type": "uri", "uri": "https://example.com"},
            },
            "body": {
                "type": "box",
                "layout": "vertical",
                "contents": [
                    {"type": "text", "text": "Brown Cafe", "weight": "bold", "size": "xl"},
                    {
                        "type": "box",
                        "layout": "baseline",
                        "contents": [
                            {"type": "icon", "size": "sm", "url": "https://example.com/star.png"},
                            {
                                "type": "text",
                                "contents": [{"type": "span", "text": "4.0", "weight": "bold"}],
                            },
                        ],
                    },
                ],
            },
            "footer": {
                "type": "box",
                "layout": "vertical",
                "contents": [
                    {
                        "type": "button",
                        "style": "link",
                        "action": {"type": "uri", "label": "CALL", "uri": "tel:0312345678"},
                    },
                    {"type": "separator"},
                    {
                        "type": "button",
                        "action": {
                            "type": "datetimepicker",
                            "label": "Select date",
                            "data": "storeId=12345",
                            "mode": "datetime",
                            "initial": "2017-12-25t00:00",
                            "max": "2018-01-24t23:59",
                            "min": "2017-12-25t00:00",
                        },
                    },
                ],
            },
        }
    ),
    "flex_carousel": flex({"type": "carousel", "contents": [bubble("First"), bubble("Second")]}),
    "coupon": {"type": "coupon", "couponId": "01JYNW8JMQVFBNWF5APF8Z3FVT"},
    "quick_reply": {
        "type": "text",
        "text": "Select your favorite food category or send me your location!",
        "quickReply": {
            "items": [
                {
                    "type": "action",
                    "imageUrl": "https://example.com/sushi.png",
                    "action": {"type": "message", "label": "Sushi", "text": "Sushi"},
                },
                {"type": "action", "action": {"type": "location", "label": "Send location"}},
                {"type": "action", "action": {"type": "camera", "label": "Camera"}},
                {"type": "action", "action": {"type": "cameraRoll", "label": "Camera roll"}},
                {
                    "type": "action",
                    "action": {
                        "type": "datetimepicker",
                        "label": "Pick a date",
                        "data": "storeId=12345",
                        "mode": "date",
                    },
                },
                {
                    "type": "action",
                    "action": {"type": "clipboard", "label": "Copy", "clipboardText": "3B48740B"},
                },
            ]
        },
    },
    "sender": {
        "type": "text",
        "text": "Hello, I am Cony!!",
        "sender": {"name": "Cony", "iconUrl": "https://line.me/conyprof"},
    },
}


@pytest.mark.parametrize("name", DOC_EXAMPLES)
def test_documented_examples_pass(name):
    assert_ok(DOC_EXAMPLES[name])


def test_all_examples_together_in_batches_of_five():
    examples = list(DOC_EXAMPLES.values())
    for start in range(0, len(examples), 5):
        assert validate_messages(examples[start : start + 5]) == []


def test_unknown_extra_fields_are_ignored():
    msg = text_msg(futureField={"x": 1}, quoteToken="q")
    msg["quickReply"] = {"items": [], "style": "new"}
    assert_ok(msg)


def test_problems_make_lines_error_body():
    err = validation_error(problems(text_msg("")))
    assert err.status == 400
    assert err.body() == {
        "message": "The request body has 1 error(s)",
        "details": [{"message": "May not be empty", "property": "messages[0].text"}],
    }


# --- messages array ---


def test_messages_count_limits():
    assert validate_messages([text_msg()] * 5) == []
    assert validate_messages([text_msg()] * 6) == [("messages", "Size must be between 1 and 5")]
    assert validate_messages([]) == [("messages", "Size must be between 1 and 5")]
    assert validate_messages(None) == [("messages", "must be specified")]
    assert validate_messages("hi") == [("messages", "Must be an array")]


def test_custom_property_name():
    assert validate_messages([], prop="body.messages") == [
        ("body.messages", "Size must be between 1 and 5")
    ]


def test_message_type():
    assert_fails({"text": "x"}, "messages[0].type", "must be specified")
    found = problems({"type": "file"})
    assert found[0][0] == "messages[0].type"
    assert found[0][1].startswith("Must be one of the following values: [text, textV2, ")
    assert validate_messages(["hi"]) == [("messages[0]", "Must be an object")]


def test_problems_report_the_right_message_index():
    found = validate_messages([text_msg(), text_msg(), text_msg(""), text_msg(), text_msg("")])
    assert [p for p, _ in found] == ["messages[2].text", "messages[4].text"]


# --- text ---


def test_text_length_limit():
    assert_ok(text_msg("a" * 5000))
    assert_fails(text_msg("a" * 5001), "messages[0].text", "Length must be between 0 and 5000")
    assert_fails(text_msg(""), "messages[0].text", "May not be empty")
    assert_fails({"type": "text"}, "messages[0].text", "must be specified")
    assert_fails(text_msg(42), "messages[0].text", "Must be a string")


def test_text_counts_utf16_code_units():
    # 🍎 is outside the BMP: a surrogate pair, counted as 2.
    assert utf16_len("🍎") == 2
    assert utf16_len("あ") == 1
    assert_ok(text_msg("🍎" * 2500))  # 2,500 characters, 5,000 code units
    assert_fails(text_msg("🍎" * 2500 + "a"), "messages[0].text")
    assert_fails(text_msg("🍎" * 2501), "messages[0].text")  # 2,501 code points only
    assert_ok(text_msg("あ" * 5000))  # BMP characters count 1


def test_text_emojis_limit():
    def with_emojis(n: int) -> dict:
        emoji = {"productId": "5ac1bfd5040ab15980c9b435", "emojiId": "001"}
        emojis = [dict(emoji, index=i) for i in range(n)]
        return text_msg("$" * max(n, 1), emojis=emojis)

    assert_ok(with_emojis(20))
    assert_fails(with_emojis(21), "messages[0].emojis", "Size must be between 0 and 20")


def test_text_emoji_index_points_at_placeholder_in_utf16():
    emoji = {"productId": "5ac1bfd5040ab15980c9b435", "emojiId": "001"}
    # "🍎" occupies UTF-16 indexes 0 and 1, so the "$" is at index 2.
    assert_ok(text_msg("🍎$", emojis=[dict(emoji, index=2)]))
    assert_fails(text_msg("🍎$", emojis=[dict(emoji, index=1)]), "messages[0].emojis[0].index")
    assert_fails(text_msg("ab$", emojis=[dict(emoji, index=5)]), "messages[0].emojis[0].index")
    assert_fails(
        text_msg("$", emojis=[{"index": 0, "emojiId": "001"}]), "messages[0].emojis[0].productId"
    )


# --- textV2 ---


def text_v2(substitution: dict) -> dict:
    return {"type": "textV2", "text": "Hi {a}", "substitution": substitution}


def test_text_v2_substitution_limit():
    emoji = {"type": "emoji", "productId": "5a8555cfe6256cc92ea23c2a", "emojiId": "002"}
    assert_ok(text_v2({f"k{i}": emoji for i in range(100)}))
    assert_fails(
        text_v2({f"k{i}": emoji for i in range(101)}),
        "messages[0].substitution",
        "Size must be between 0 and 100",
    )


def test_text_v2_mentions_limit():
    mention = {"type": "mention", "mentionee": {"type": "user", "userId": USER}}
    assert_ok(text_v2({f"m{i}": mention for i in range(20)}))
    assert_fails(text_v2({f"m{i}": mention for i in range(21)}), "messages[0].substitution")


def test_text_v2_substitution_objects():
    assert_fails(text_v2({"a": {"type": "sticker"}}), "messages[0].substitution.a.type")
    assert_fails(
        text_v2({"a": {"type": "mention", "mentionee": {"type": "user"}}}),
        "messages[0].substitution.a.mentionee.userId",
        "must be specified",
    )
    assert_fails(
        text_v2({"a": {"type": "emoji", "productId": "p"}}), "messages[0].substitution.a.emojiId"
    )
    assert_fails({"type": "textV2", "text": "🍎" * 2501}, "messages[0].text")


# --- sticker, media, location ---


def test_sticker_ids_are_strings():
    assert_fails(
        {"type": "sticker", "packageId": 446, "stickerId": "1988"},
        "messages[0].packageId",
        "Must be a string",
    )
    assert_fails(
        {"type": "sticker", "packageId": "446"}, "messages[0].stickerId", "must be specified"
    )


@pytest.mark.parametrize("field", ["originalContentUrl", "previewImageUrl"])
def test_media_url_limits(field):
    image = dict(DOC_EXAMPLES["image"])
    assert_ok(dict(image, **{field: url(2000)}))
    assert_fails(
        dict(image, **{field: url(2001)}),
        f"messages[0].{field}",
        "Length must be between 0 and 2000",
    )
    assert_fails(
        dict(image, **{field: "http://example.com/a.jpg"}),
        f"messages[0].{field}",
        "invalid uri scheme",
    )
    assert_fails(dict(image, **{field: "example.com/a.jpg"}), f"messages[0].{field}", "invalid uri")


def test_video_and_audio_required_fields():
    video = dict(DOC_EXAMPLES["video"])
    del video["previewImageUrl"]
    assert_fails(video, "messages[0].previewImageUrl", "must be specified")
    assert_fails(dict(DOC_EXAMPLES["video"], trackingId="t" * 101), "messages[0].trackingId")
    assert_fails(
        dict(DOC_EXAMPLES["audio"], duration="60000"), "messages[0].duration", "Must be an integer"
    )
    assert_fails(
        dict(DOC_EXAMPLES["audio"], originalContentUrl="ftp://x/a.m4a"),
        "messages[0].originalContentUrl",
    )


def test_location_fields():
    loc = DOC_EXAMPLES["location"]
    assert_ok(dict(loc, title="t" * 100))
    assert_fails(dict(loc, title="t" * 101), "messages[0].title")
    assert_fails(dict(loc, latitude="35.6"), "messages[0].latitude", "Must be a number")
    assert_fails({k: v for k, v in loc.items() if k != "address"}, "messages[0].address")


# --- sender ---


def test_sender_name_limit_and_forbidden_word():
    assert_ok(text_msg(sender={"name": "n" * 20}))
    assert_fails(
        text_msg(sender={"name": "n" * 21}),
        "messages[0].sender.name",
        "Length must be between 0 and 20",
    )
    assert_fails(text_msg(sender={"name": "LINE Support"}), "messages[0].sender.name")
    assert_fails(text_msg(sender={"name": "ＬＩＮＥ公式"}), "messages[0].sender.name")
    assert_ok(text_msg(sender={"name": "Online shop"}))  # "line" inside a word is fine
    assert_fails(text_msg(sender={"iconUrl": "http://line.me/icon"}), "messages[0].sender.iconUrl")


# --- template ---


def test_template_alt_text_limit():
    assert_ok(dict(buttons(), altText="a" * 1500))
    assert_fails(
        dict(buttons(), altText="a" * 1501),
        "messages[0].altText",
        "Length must be between 0 and 1500",
    )
    msg = buttons()
    del msg["altText"]
    assert_fails(msg, "messages[0].altText", "must be specified")


def test_template_type():
    assert_fails(
        {"type": "template", "altText": "x", "template": {"type": "list"}},
        "messages[0].template.type",
        "Must be one of the following values: [buttons, confirm, carousel, image_carousel]",
    )


def test_buttons_text_limits():
    assert_ok(buttons(text="t" * 160))
    assert_fails(
        buttons(text="t" * 161), "messages[0].template.text", "Length must be between 0 and 160"
    )
    assert_ok(buttons(text="t" * 60, title="Menu"))
    assert_fails(
        buttons(text="t" * 61, title="Menu"),
        "messages[0].template.text",
        "Length must be between 0 and 60",
    )
    assert_ok(buttons(text="t" * 60, thumbnailImageUrl=HTTPS + "a.jpg"))
    assert_fails(
        buttons(text="t" * 61, thumbnailImageUrl=HTTPS + "a.jpg"), "messages[0].template.text"
    )
    assert_ok(buttons(title="t" * 40, text="x"))
    assert_fails(buttons(title="t" * 41, text="x"), "messages[0].template.title")


def test_buttons_actions_limit():
    assert_ok(buttons([postback()] * 4))
    assert_fails(
        buttons([postback()] * 5), "messages[0].template.actions", "Size must be between 1 and 4"
    )
    assert_fails(buttons([]), "messages[0].template.actions", "Size must be between 1 and 4")


def test_buttons_image_options():
    assert_fails(buttons(imageAspectRatio="wide"), "messages[0].template.imageAspectRatio")
    assert_fails(buttons(imageSize="fill"), "messages[0].template.imageSize")


def confirm(text: str = "Are you sure?", n_actions: int = 2) -> dict:
    actions = [message_action()] * n_actions
    return {
        "type": "template",
        "altText": "c",
        "template": {"type": "confirm", "text": text, "actions": actions},
    }


def test_confirm_limits():
    assert_ok(confirm("t" * 240))
    assert_fails(
        confirm("t" * 241), "messages[0].template.text", "Length must be between 0 and 240"
    )
    assert_fails(
        confirm(n_actions=1), "messages[0].template.actions", "Size must be between 2 and 2"
    )
    assert_fails(
        confirm(n_actions=3), "messages[0].template.actions", "Size must be between 2 and 2"
    )


def carousel(n_columns: int = 1, n_actions: int = 3, **column) -> dict:
    col = {"text": "description", "actions": [postback()] * n_actions} | column
    return {
        "type": "template",
        "altText": "c",
        "template": {"type": "carousel", "columns": [col] * n_columns},
    }


def test_carousel_limits():
    assert_ok(carousel(10))
    assert_fails(carousel(11), "messages[0].template.columns", "Size must be between 1 and 10")
    assert_fails(carousel(0), "messages[0].template.columns")
    assert_fails(
        carousel(n_actions=4),
        "messages[0].template.columns[0].actions",
        "Size must be between 1 and 3",
    )
    assert_ok(carousel(text="t" * 120))
    assert_fails(carousel(text="t" * 121), "messages[0].template.columns[0].text")
    assert_ok(carousel(text="t" * 60, title="T"))
    assert_fails(carousel(text="t" * 61, title="T"), "messages[0].template.columns[0].text")


def test_carousel_columns_need_the_same_number_of_actions():
    msg = carousel(2)
    msg["template"]["columns"] = [
        {"text": "a", "actions": [postback()] * 3},
        {"text": "b", "actions": [postback()]},
    ]
    assert_fails(msg, "messages[0].template.columns")


def image_carousel(n_columns: int = 1, label: str = "Buy") -> dict:
    col = {"imageUrl": HTTPS + "i.jpg", "action": {"type": "postback", "label": label, "data": "d"}}
    return {
        "type": "template",
        "altText": "c",
        "template": {"type": "image_carousel", "columns": [col] * n_columns},
    }


def test_image_carousel_limits():
    assert_ok(image_carousel(10))
    assert_fails(
        image_carousel(11), "messages[0].template.columns", "Size must be between 1 and 10"
    )
    assert_ok(image_carousel(label="l" * 12))
    assert_fails(
        image_carousel(label="l" * 13),
        "messages[0].template.columns[0].action.label",
        "Length must be between 0 and 12",
    )


# --- flex ---


def sized_bubble(n_bytes: int) -> dict:
    """A bubble whose compact JSON is exactly `n_bytes` long."""
    empty = bubble("")
    pad = n_bytes - len(orjson.dumps(empty))
    return bubble("a" * pad)


def test_flex_alt_text_limit():
    assert_ok(flex(bubble(), alt="a" * 1500))
    assert_fails(
        flex(bubble(), alt="a" * 1501), "messages[0].altText", "Length must be between 0 and 1500"
    )


def test_flex_contents_type():
    assert_fails(flex({"type": "box"}), "messages[0].contents.type")
    assert_fails({"type": "flex", "altText": "x"}, "messages[0].contents", "must be specified")


def test_flex_bubble_size_limit():
    assert len(orjson.dumps(sized_bubble(30 * 1024))) == 30 * 1024
    assert_ok(flex(sized_bubble(30 * 1024)))
    assert_fails(
        flex(sized_bubble(30 * 1024 + 1)), "messages[0].contents", "Size must be 30 KB or less"
    )


def test_flex_carousel_bubble_count_limit():
    assert_ok(flex({"type": "carousel", "contents": [bubble()] * 12}))
    assert_fails(
        flex({"type": "carousel", "contents": [bubble()] * 13}),
        "messages[0].contents.contents",
        "Size must be between 1 and 12",
    )


def test_flex_carousel_size_limit():
    overhead = len(orjson.dumps({"type": "carousel", "contents": [{}, {}]})) - 4
    half = (50 * 1024 - overhead) // 2
    first, second = sized_bubble(half), sized_bubble(50 * 1024 - overhead - half)
    carousel_ok = {"type": "carousel", "contents": [first, second]}
    assert len(orjson.dumps(carousel_ok)) == 50 * 1024
    assert_ok(flex(carousel_ok))
    too_big = {
        "type": "carousel",
        "contents": [first, sized_bubble(50 * 1024 - overhead - half + 1)],
    }
    assert_fails(flex(too_big), "messages[0].contents", "Size must be 50 KB or less")


def test_flex_carousel_bubble_over_30kb():
    carousel_msg = flex({"type": "carousel", "contents": [bubble(), sized_bubble(30 * 1024 + 1)]})
    assert_fails(carousel_msg, "messages[0].contents.contents[1]", "Size must be 30 KB or less")


def test_flex_actions_use_flex_label_limit():
    def button(label: str) -> dict:
        b = bubble()
        b["footer"] = {
            "type": "box",
            "layout": "vertical",
            "contents": [{"type": "button", "action": uri_action(label=label)}],
        }
        return flex(b)

    assert_ok(button("l" * 40))
    assert_fails(
        button("l" * 41),
        "messages[0].contents.footer.contents[0].action.label",
        "Length must be between 0 and 40",
    )


def test_flex_components():
    b = bubble()
    b["body"]["contents"].append({"type": "button"})
    assert_fails(flex(b), "messages[0].contents.body.contents[1].action", "must be specified")
    b = bubble(hero={"type": "image", "url": "http://example.com/a.png"})
    assert_fails(flex(b), "messages[0].contents.hero.url", "invalid uri scheme")
    b = bubble(action={"type": "uri", "uri": "ftp://example.com"})
    assert_fails(flex(b), "messages[0].contents.action.uri", "invalid uri scheme")
    b = bubble()
    b["body"]["contents"][0]["type"] = "table"
    assert_fails(flex(b), "messages[0].contents.body.contents[0].type")


@pytest.mark.parametrize("depth", [200, 5000])
def test_flex_deep_nesting_is_refused_not_crashing(depth):
    node: dict = {"type": "text", "text": "x"}
    for _ in range(depth):
        node = {"type": "box", "layout": "vertical", "contents": [node]}
    found = problems(flex({"type": "bubble", "body": node}))
    assert found and found[0][1] == "Nesting is too deep"


def test_narrowcast_deep_operator_nesting_is_refused_not_crashing():
    node: dict = {"type": "audience", "audienceGroupId": 1}
    for _ in range(5000):
        node = {"type": "operator", "not": node}
    found = validate_narrowcast({"messages": [text_msg()], "recipient": node})
    assert ("recipient" + ".not" * 33, "Nesting is too deep") in found


# --- imagemap ---


def test_imagemap_width_must_be_1040():
    imagemap = copy.deepcopy(DOC_EXAMPLES["imagemap"])
    imagemap["baseSize"]["width"] = 1041
    assert_fails(imagemap, "messages[0].baseSize.width", "Must be 1040")


def test_imagemap_actions_limit():
    imagemap = copy.deepcopy(DOC_EXAMPLES["imagemap"])
    action = imagemap["actions"][0]
    assert_ok(dict(imagemap, actions=[action] * 50))
    assert_fails(
        dict(imagemap, actions=[action] * 51),
        "messages[0].actions",
        "Size must be between 0 and 50",
    )


def test_imagemap_action_fields():
    imagemap = copy.deepcopy(DOC_EXAMPLES["imagemap"])
    imagemap["actions"][1]["area"]["width"] = 0
    imagemap["actions"][0]["linkUri"] = "javascript:alert(1)"
    found = problems(imagemap)
    assert [p for p, _ in found] == [
        "messages[0].actions[0].linkUri",
        "messages[0].actions[1].area.width",
    ]
    assert found[0][1] == "invalid uri scheme"


# --- quick reply ---


def test_quick_reply_items_limit():
    assert_ok(quick_reply(*[message_action()] * 13))
    assert_fails(
        quick_reply(*[message_action()] * 14),
        "messages[0].quickReply.items",
        "Size must be between 0 and 13",
    )


def test_quick_reply_item_shape():
    msg = text_msg(quickReply={"items": [{"type": "button", "action": message_action()}]})
    assert_fails(
        msg, "messages[0].quickReply.items[0].type", "Must be one of the following values: [action]"
    )
    msg = text_msg(quickReply={"items": [{"type": "action"}]})
    assert_fails(msg, "messages[0].quickReply.items[0].action", "must be specified")
    msg = text_msg(
        quickReply={
            "items": [{"type": "action", "imageUrl": "http://x/i.png", "action": message_action()}]
        }
    )
    assert_fails(msg, "messages[0].quickReply.items[0].imageUrl", "invalid uri scheme")


def test_quick_reply_labels_are_required():
    assert_fails(
        quick_reply({"type": "location"}),
        "messages[0].quickReply.items[0].action.label",
        "must be specified",
    )


def test_quick_reply_on_later_message_is_checked():
    found = validate_messages(
        [text_msg(), text_msg(), text_msg(), text_msg(), quick_reply({"type": "camera"})]
    )
    assert found == [("messages[4].quickReply.items[0].action.label", "must be specified")]


def test_camera_and_location_only_in_quick_reply():
    assert_ok(quick_reply({"type": "camera", "label": "Camera"}))
    for kind in ("camera", "cameraRoll", "location"):
        msg = buttons([{"type": kind, "label": "x"}])
        assert_fails(msg, "messages[0].template.actions[0].type")


def test_richmenuswitch_only_in_rich_menus():
    switch = {"type": "richmenuswitch", "label": "Tab", "richMenuAliasId": "tab-b", "data": "t=b"}
    assert_fails(quick_reply(switch), "messages[0].quickReply.items[0].action.type")
    assert_fails(buttons([switch]), "messages[0].template.actions[0].type")


# --- actions ---


def test_action_label_limit():
    assert_ok(buttons([postback(label="l" * 20)]))
    assert_fails(
        buttons([postback(label="l" * 21)]),
        "messages[0].template.actions[0].label",
        "Length must be between 0 and 20",
    )
    assert_fails(
        buttons([{"type": "postback", "data": "d"}]),
        "messages[0].template.actions[0].label",
        "must be specified",
    )


def test_action_labels_count_grapheme_clusters():
    family = "👨\u200d👩\u200d👧"  # one user-perceived character, 5 code points
    assert grapheme_len(family) == 1
    assert_ok(buttons([postback(label=family * 20)]))
    assert_fails(buttons([postback(label=family * 21)]), "messages[0].template.actions[0].label")


def test_grapheme_len():
    assert grapheme_len("abc") == 3
    assert grapheme_len("a\r\nb") == 3
    assert grapheme_len("e\u0301") == 1  # e + combining acute
    assert grapheme_len("🇯🇵🇺🇸") == 2  # two flags
    assert grapheme_len("👍🏽") == 1  # skin-tone modifier
    assert grapheme_len("❤️") == 1  # variation selector
    assert grapheme_len("\u1112\u1161\u11ab") == 1  # Hangul jamo L V T
    assert grapheme_len("あ🍎") == 2


def test_postback_limits():
    assert_ok(buttons([postback("d" * 300)]))
    assert_fails(
        buttons([postback("d" * 301)]),
        "messages[0].template.actions[0].data",
        "Length must be between 0 and 300",
    )
    assert_ok(buttons([postback(displayText="t" * 300)]))
    assert_fails(
        buttons([postback(displayText="t" * 301)]), "messages[0].template.actions[0].displayText"
    )
    assert_fails(
        buttons([postback(displayText="a", text="b")]), "messages[0].template.actions[0].text"
    )
    assert_fails(
        buttons([{"type": "postback", "label": "x"}]),
        "messages[0].template.actions[0].data",
        "must be specified",
    )
    assert_ok(buttons([postback("")]))  # data may be empty
    assert_fails(
        buttons([postback(inputOption="openCamera")]), "messages[0].template.actions[0].inputOption"
    )


def test_message_action_text_limit():
    assert_ok(buttons([message_action(text="t" * 300)]))
    assert_fails(
        buttons([message_action(text="t" * 301)]),
        "messages[0].template.actions[0].text",
        "Length must be between 0 and 300",
    )


def test_uri_action_limits_and_schemes():
    assert_ok(buttons([uri_action(url(1000))]))
    assert_fails(
        buttons([uri_action(url(1001))]),
        "messages[0].template.actions[0].uri",
        "Length must be between 0 and 1000",
    )
    for ok in ("http://example.com", "https://example.com", "line://nv/chat", "tel:09012345678"):
        assert_ok(buttons([uri_action(ok)]))
    assert_fails(
        buttons([uri_action("mailto:a@example.com")]),
        "messages[0].template.actions[0].uri",
        "invalid uri scheme",
    )
    assert_fails(
        buttons([uri_action("example.com")]), "messages[0].template.actions[0].uri", "invalid uri"
    )
    assert_ok(buttons([uri_action(altUri={"desktop": "https://example.com/pc"})]))
    assert_fails(
        buttons([uri_action(altUri={"desktop": "ftp://x"})]),
        "messages[0].template.actions[0].altUri.desktop",
    )


def test_datetimepicker_action():
    def picker(**extra) -> dict:
        return buttons([{"type": "datetimepicker", "label": "Pick", "data": "d", **extra}])

    assert_ok(picker(mode="date", initial="2024-01-15", min="2024-01-01", max="2024-12-31"))
    assert_ok(picker(mode="time", initial="10:00"))
    assert_fails(picker(), "messages[0].template.actions[0].mode", "must be specified")
    assert_fails(
        picker(mode="week"),
        "messages[0].template.actions[0].mode",
        "Must be one of the following values: [date, time, datetime]",
    )
    assert_fails(
        picker(mode="date", initial="2024/01/15"), "messages[0].template.actions[0].initial"
    )
    assert_fails(picker(mode="date", max="2101-01-01"), "messages[0].template.actions[0].max")
    assert_fails(
        picker(mode="time", min="12:00", max="11:00"), "messages[0].template.actions[0].max"
    )
    assert_fails(
        picker(mode="date", initial="2025-01-01", max="2024-12-31"),
        "messages[0].template.actions[0].initial",
    )


def test_clipboard_action():
    clip = {"type": "clipboard", "label": "Copy", "clipboardText": "c" * 1000}
    assert_ok(buttons([clip]))
    assert_fails(
        buttons([dict(clip, clipboardText="c" * 1001)]),
        "messages[0].template.actions[0].clipboardText",
    )


def test_action_type_required():
    assert_fails(
        buttons([{"label": "x"}]), "messages[0].template.actions[0].type", "must be specified"
    )


# --- user ID and aggregation units ---


def test_validate_user_id():
    assert validate_user_id("U" + "0123456789abcdef" * 2)
    assert not validate_user_id("U" + "0123456789ABCDEF" * 2)
    assert not validate_user_id("U" + "0" * 31)
    assert not validate_user_id("U" + "0" * 33)
    assert not validate_user_id("C" + "0" * 32)
    assert not validate_user_id("U" + "0" * 32 + "\n")
    assert not validate_user_id(None)


def test_custom_aggregation_units():
    assert validate_custom_aggregation_units(None) == []
    assert validate_custom_aggregation_units([]) == []
    assert validate_custom_aggregation_units(["spring_sale_2025"]) == []
    assert validate_custom_aggregation_units(["a" * 30]) == []
    assert validate_custom_aggregation_units(["a" * 31]) == [
        ("customAggregationUnits[0]", 'Must match "^[a-zA-Z0-9_]{1,30}$"')
    ]
    assert validate_custom_aggregation_units([""])[0][0] == "customAggregationUnits[0]"
    assert validate_custom_aggregation_units(["sale-1"])[0][0] == "customAggregationUnits[0]"
    assert validate_custom_aggregation_units(["a", "b"]) == [
        ("customAggregationUnits", "Size must be between 0 and 1")
    ]
    assert validate_custom_aggregation_units("a") == [
        ("customAggregationUnits", "Must be an array")
    ]


# --- narrowcast ---

NARROWCAST_EXAMPLE = {
    "messages": [{"type": "text", "text": "test message"}],
    "recipient": {
        "type": "operator",
        "and": [
            {"type": "audience", "audienceGroupId": 5614991017776},
            {"type": "operator", "not": {"type": "audience", "audienceGroupId": 4389303728991}},
        ],
    },
    "filter": {
        "demographic": {
            "type": "operator",
            "or": [
                {
                    "type": "operator",
                    "and": [
                        {"type": "gender", "oneOf": ["male", "female"]},
                        {"type": "age", "gte": "age_20", "lt": "age_25"},
                        {"type": "appType", "oneOf": ["android", "ios"]},
                        {"type": "area", "oneOf": ["jp_23", "jp_05", "tw_01", "th_08", "id_12"]},
                        {"type": "subscriptionPeriod", "gte": "day_7", "lt": "day_30"},
                    ],
                },
                {
                    "type": "operator",
                    "and": [
                        {"type": "age", "gte": "age_35", "lt": "age_40"},
                        {"type": "operator", "not": {"type": "gender", "oneOf": ["male"]}},
                    ],
                },
            ],
        }
    },
    "limit": {"max": 100, "upToRemainingQuota": True},
    "notificationDisabled": False,
}


def narrowcast(**changes) -> dict:
    body = copy.deepcopy(NARROWCAST_EXAMPLE)
    body.update(changes)
    return body


def test_narrowcast_documented_example_passes():
    assert validate_narrowcast(NARROWCAST_EXAMPLE) == []
    assert validate_narrowcast({"messages": [text_msg()]}) == []


def test_narrowcast_messages():
    assert validate_narrowcast({}) == [("messages", "must be specified")]
    assert validate_narrowcast(narrowcast(messages=[text_msg("")])) == [
        ("messages[0].text", "May not be empty")
    ]


def audiences(n: int) -> dict:
    leaves = [{"type": "audience", "audienceGroupId": i} for i in range(n - 1)]
    leaves.append({"type": "redelivery", "requestId": "5b59509c-c57b-11e9-aa8c-2a2ae2dbcce4"})
    return {"type": "operator", "or": leaves}


def test_narrowcast_recipient_leaf_limit():
    assert validate_narrowcast(narrowcast(recipient=audiences(10))) == []
    found = validate_narrowcast(narrowcast(recipient=audiences(11)))
    assert [p for p, _ in found] == ["recipient"]


def test_narrowcast_recipient_tree_rules():
    def paths(recipient) -> list[str]:
        return [p for p, _ in validate_narrowcast(narrowcast(recipient=recipient))]

    a = {"type": "audience", "audienceGroupId": 1}
    assert paths({"type": "operator", "and": [a], "or": [a]}) == ["recipient"]
    assert paths({"type": "operator"}) == ["recipient"]
    assert paths({"type": "operator", "and": []}) == ["recipient.and"]
    assert paths({"type": "operator", "or": [a, {"type": "audience"}]}) == [
        "recipient.or[1].audienceGroupId"
    ]
    assert paths({"type": "audience", "audienceGroupId": "12"}) == ["recipient.audienceGroupId"]
    assert paths({"type": "audience", "audienceGroupId": True}) == ["recipient.audienceGroupId"]
    assert paths({"type": "redelivery"}) == ["recipient.requestId"]
    assert paths({"type": "user"}) == ["recipient.type"]
    assert paths({"type": "operator", "not": {"type": "operator", "and": []}}) == [
        "recipient.not.and"
    ]


def demographic(n: int) -> dict:
    return {"type": "operator", "or": [{"type": "gender", "oneOf": ["male"]}] * n}


def test_narrowcast_filter_limit():
    assert validate_narrowcast(narrowcast(filter={"demographic": demographic(10)})) == []
    found = validate_narrowcast(narrowcast(filter={"demographic": demographic(11)}))
    assert [p for p, _ in found] == ["filter.demographic"]


def test_narrowcast_filter_values():
    def paths(demo) -> list[str]:
        return [p for p, _ in validate_narrowcast(narrowcast(filter={"demographic": demo}))]

    assert paths({"type": "gender", "oneOf": ["other"]}) == ["filter.demographic.oneOf[0]"]
    assert paths({"type": "gender", "oneOf": []}) == ["filter.demographic.oneOf"]
    assert paths({"type": "appType", "oneOf": ["web"]}) == ["filter.demographic.oneOf[0]"]
    assert paths({"type": "area", "oneOf": ["jp_47", "jp_48"]}) == ["filter.demographic.oneOf[1]"]
    assert paths({"type": "area", "oneOf": ["tw_22", "th_01", "id_01"]}) == []
    assert paths({"type": "age", "gte": "age_70"}) == []
    assert paths({"type": "age", "lt": "age_15"}) == []
    assert paths({"type": "age", "gte": "age_18"}) == ["filter.demographic.gte"]
    assert paths({"type": "age"}) == ["filter.demographic"]
    assert paths({"type": "age", "gte": "age_30", "lt": "age_20"}) == ["filter.demographic.lt"]
    assert paths({"type": "subscriptionPeriod", "gte": "day_365"}) == []
    assert paths({"type": "subscriptionPeriod", "lt": "day_14"}) == ["filter.demographic.lt"]
    male = {"type": "gender", "oneOf": ["male"]}
    assert paths({"type": "operator", "and": [male], "not": male}) == ["filter.demographic"]
    assert paths({"type": "income"}) == ["filter.demographic.type"]


def test_narrowcast_limit():
    def found(limit) -> list[tuple[str, str]]:
        return validate_narrowcast(narrowcast(limit=limit))

    assert found({"max": 1}) == []
    assert found({"max": 0}) == [("limit.max", "Must be greater than or equal to 1")]
    assert found({"upToRemainingQuota": True, "forbidPartialDelivery": True}) == []
    assert [p for p, _ in found({"forbidPartialDelivery": True})] == ["limit.forbidPartialDelivery"]
    assert [p for p, _ in found({"upToRemainingQuota": False, "forbidPartialDelivery": True})] == [
        "limit.forbidPartialDelivery"
    ]
    assert found({"upToRemainingQuota": "yes"}) == [
        ("limit.upToRemainingQuota", "Must be a boolean")
    ]


def test_narrowcast_notification_disabled_and_body_shape():
    assert validate_narrowcast(narrowcast(notificationDisabled="true")) == [
        ("notificationDisabled", "Must be a boolean")
    ]
    assert validate_narrowcast([]) == [("", "Must be an object")]


# --- rich menu ---

RICH_MENU_EXAMPLE = {
    "size": {"width": 2500, "height": 1686},
    "selected": False,
    "name": "Nice rich menu",
    "chatBarText": "Tap to open",
    "areas": [
        {
            "bounds": {"x": 0, "y": 0, "width": 1666, "height": 1686},
            "action": {"type": "postback", "data": "action=buy&itemid=123"},
        },
        {
            "bounds": {"x": 1667, "y": 0, "width": 833, "height": 1686},
            "action": {
                "type": "richmenuswitch",
                "richMenuAliasId": "richmenu-alias-b",
                "data": "t=b",
            },
        },
    ],
}


def rich_menu(**changes) -> dict:
    body = copy.deepcopy(RICH_MENU_EXAMPLE)
    body.update(changes)
    return body


def test_rich_menu_documented_example_passes():
    assert validate_rich_menu(RICH_MENU_EXAMPLE) == []
    assert validate_rich_menu(rich_menu(size={"width": 2500, "height": 843}, areas=[])) == []


def test_rich_menu_size_limits():
    def found(width, height) -> list[str]:
        return [
            p
            for p, _ in validate_rich_menu(
                rich_menu(size={"width": width, "height": height}, areas=[])
            )
        ]

    assert found(800, 540) == []
    assert found(799, 540) == ["size.width"]
    assert found(2500, 1686) == []
    assert found(2501, 1686) == ["size.width"]
    assert found(1200, 250) == []
    assert found(1200, 249) == ["size.height"]
    assert found(1450, 1000) == []  # exactly 1.45
    assert found(1449, 1000) == ["size"]
    assert validate_rich_menu(rich_menu(size=None)) == [("size", "must be specified")]


def test_rich_menu_text_limits():
    assert validate_rich_menu(rich_menu(name="n" * 300)) == []
    assert validate_rich_menu(rich_menu(name="n" * 301)) == [
        ("name", "Length must be between 0 and 300")
    ]
    assert validate_rich_menu(rich_menu(chatBarText="c" * 14)) == []
    assert validate_rich_menu(rich_menu(chatBarText="c" * 15)) == [
        ("chatBarText", "Length must be between 0 and 14")
    ]
    assert validate_rich_menu(rich_menu(chatBarText="🍎" * 14)) == []  # graphemes, not UTF-16
    assert validate_rich_menu(rich_menu(selected="false")) == [("selected", "Must be a boolean")]
    body = rich_menu()
    del body["selected"], body["chatBarText"]
    assert validate_rich_menu(body) == [
        ("selected", "must be specified"),
        ("chatBarText", "must be specified"),
    ]


def test_rich_menu_areas_limit():
    area = {"bounds": {"x": 0, "y": 0, "width": 100, "height": 100}, "action": postback()}
    assert validate_rich_menu(rich_menu(areas=[area] * 20)) == []
    assert validate_rich_menu(rich_menu(areas=[area] * 21)) == [
        ("areas", "Size must be between 0 and 20")
    ]


def test_rich_menu_area_bounds():
    def found(bounds) -> list[str]:
        area = {"bounds": bounds, "action": postback()}
        return [p for p, _ in validate_rich_menu(rich_menu(areas=[area]))]

    assert found({"x": 0, "y": 0, "width": 2500, "height": 1686}) == []
    assert found({"x": 1, "y": 0, "width": 2500, "height": 1686}) == ["areas[0].bounds"]
    assert found({"x": 0, "y": 1, "width": 2500, "height": 1686}) == ["areas[0].bounds"]
    assert found({"x": -1, "y": 0, "width": 10, "height": 10}) == ["areas[0].bounds.x"]
    assert found({"x": 0, "y": 0, "width": 0, "height": 10}) == ["areas[0].bounds.width"]
    assert found({"x": 0, "y": 0, "width": 10}) == ["areas[0].bounds.height"]
    assert found({"x": 0.5, "y": 0, "width": 10, "height": 10}) == ["areas[0].bounds.x"]


def test_rich_menu_area_actions():
    def found(action) -> list[tuple[str, str]]:
        area = {"bounds": {"x": 0, "y": 0, "width": 10, "height": 10}, "action": action}
        return validate_rich_menu(rich_menu(areas=[area]))

    assert found({"type": "message", "text": "hi"}) == []  # label optional in rich menus
    assert found({"type": "uri", "label": "l" * 21, "uri": HTTPS}) == [
        ("areas[0].action.label", "Length must be between 0 and 20")
    ]
    assert [p for p, _ in found({"type": "camera"})] == ["areas[0].action.type"]
    assert [p for p, _ in found({"type": "richmenuswitch", "data": "d"})] == [
        "areas[0].action.richMenuAliasId"
    ]
    assert [
        p for p, _ in found({"type": "richmenuswitch", "richMenuAliasId": "a" * 33, "data": "d"})
    ] == ["areas[0].action.richMenuAliasId"]
    assert [p for p, _ in found(None)] == ["areas[0].action"]
