"""Messages: LINE's limits with field paths, personalization variables, arms."""

from __future__ import annotations

import pytest

from enishi.delivery.compose import normalize_arms
from enishi.messages.personalize import FriendContext, MessageTemplate, variables_in
from enishi.messages.validation import validate_messages

TEXT = {"type": "text", "text": "hello"}


def fields(problems):
    return [problem.path for problem in problems]


@pytest.mark.parametrize(
    "messages, field",
    [
        ([], "messages"),
        ([TEXT] * 6, "messages"),
        ("hello", "messages"),
        ([{"type": "txt", "text": "x"}], "messages[0].type"),
        ([{"type": "text", "text": "あ" * 5001}], "messages[0].text"),
        ([{"type": "text", "text": "😀" * 2501}], "messages[0].text"),  # 5,002 UTF-16 units
        ([{"type": "text"}], "messages[0].text"),
        (
            [
                TEXT,
                {
                    "type": "image",
                    "originalContentUrl": "http://x/a.jpg",
                    "previewImageUrl": "https://x/p.jpg",
                },
            ],
            "messages[1].originalContentUrl",
        ),
        (
            [
                {
                    "type": "template",
                    "altText": "a",
                    "template": {
                        "type": "buttons",
                        "text": "t",
                        "actions": [{"type": "uri", "label": "a" * 21, "uri": "https://x"}],
                    },
                }
            ],
            "messages[0].template.actions[0].label",
        ),
        (
            [
                {
                    "type": "template",
                    "altText": "a",
                    "template": {
                        "type": "buttons",
                        "text": "t",
                        "actions": [{"type": "uri", "label": "go", "uri": "ftp://x"}],
                    },
                }
            ],
            "messages[0].template.actions[0].uri",
        ),
        (
            [
                {
                    "type": "template",
                    "altText": "a",
                    "template": {
                        "type": "confirm",
                        "text": "ok?",
                        "actions": [{"type": "message", "label": "yes", "text": "yes"}],
                    },
                }
            ],
            "messages[0].template.actions",
        ),
        (
            [
                {
                    "type": "template",
                    "altText": "a",
                    "template": {
                        "type": "buttons",
                        "text": "t",
                        "actions": [{"type": "postback", "label": "p", "data": "d" * 301}],
                    },
                }
            ],
            "messages[0].template.actions[0].data",
        ),
        (
            [
                {
                    **TEXT,
                    "quickReply": {
                        "items": [
                            {
                                "type": "action",
                                "action": {"type": "message", "label": "l", "text": "t"},
                            }
                        ]
                        * 14
                    },
                }
            ],
            "messages[0].quickReply.items",
        ),
        (
            [
                {
                    "type": "flex",
                    "altText": "a",
                    "contents": {
                        "type": "bubble",
                        "body": {
                            "type": "box",
                            "layout": "vertical",
                            "contents": [
                                {
                                    "type": "button",
                                    "action": {
                                        "type": "uri",
                                        "label": "x" * 41,
                                        "uri": "https://x",
                                    },
                                }
                            ],
                        },
                    },
                }
            ],
            "messages[0].contents.body.contents[0].action.label",
        ),
        (
            [
                {
                    "type": "flex",
                    "altText": "a",
                    "contents": {
                        "type": "bubble",
                        "body": {
                            "type": "box",
                            "layout": "vertical",
                            "contents": [{"type": "text", "text": "x" * 31000}],
                        },
                    },
                }
            ],
            "messages[0].contents",
        ),
        (
            [
                {
                    "type": "imagemap",
                    "baseUrl": "https://x/i",
                    "altText": "a",
                    "baseSize": {"width": 1000, "height": 100},
                    "actions": [],
                }
            ],
            "messages[0].baseSize",
        ),
        ([{**TEXT, "sender": {"name": "LINE公式"}}], "messages[0].sender.name"),
    ],
)
def test_limits_name_the_field(messages, field):
    assert field in fields(validate_messages(messages))


def test_valid_messages_pass():
    messages = [
        {"type": "text", "text": "あ" * 5000},
        {"type": "sticker", "packageId": "446", "stickerId": "1988"},
        {
            "type": "template",
            "altText": "a",
            "template": {
                "type": "carousel",
                "columns": [
                    {"text": "c1", "actions": [{"type": "uri", "label": "go", "uri": "https://x"}]},
                    {"text": "c2", "actions": [{"type": "message", "label": "m", "text": "m"}]},
                ],
            },
        },
        {
            "type": "flex",
            "altText": "a",
            "contents": {
                "type": "carousel",
                "contents": [
                    {
                        "type": "bubble",
                        "body": {"type": "box", "layout": "vertical", "contents": []},
                    }
                ],
            },
        },
        {
            **TEXT,
            "quickReply": {
                "items": [
                    {
                        "type": "action",
                        "action": {"type": "postback", "label": "p", "data": "tag=add:vip"},
                    }
                ]
            },
        },
    ]
    assert validate_messages(messages) == []


def test_variables_render_per_friend_with_defaults():
    template = MessageTemplate(
        [
            {"type": "text", "text": "{{display_name|お客様}}さん、会員番号 {{member_id}}"},
            {"type": "text", "text": "{{ attr.city | 東京 }} / {{attr.points}}pt"},
        ]
    )
    assert template.personalized and template.attr_keys == ["city", "points"]
    full = template.render(FriendContext("花子", "M1", {"city": "大阪", "points": 120.0}))
    assert full == [
        {"type": "text", "text": "花子さん、会員番号 M1"},
        {"type": "text", "text": "大阪 / 120pt"},
    ]
    empty = template.render(FriendContext())
    assert empty == [
        {"type": "text", "text": "お客様さん、会員番号 "},
        {"type": "text", "text": " 東京  / pt"},
    ]


def test_values_are_escaped_and_urls_encoded():
    template = MessageTemplate(
        [
            {
                "type": "template",
                "altText": "{{display_name}}",
                "template": {
                    "type": "buttons",
                    "text": "t",
                    "actions": [
                        {
                            "type": "uri",
                            "label": "go",
                            "uri": "https://shop.example/m?id={{member_id}}",
                        }
                    ],
                },
            }
        ]
    )
    rendered = template.render(FriendContext('"quote" \\ name', "a b&c=d"))
    assert rendered[0]["altText"] == '"quote" \\ name'
    assert rendered[0]["template"]["actions"][0]["uri"] == "https://shop.example/m?id=a%20b%26c%3Dd"


def test_unknown_variables_are_problems():
    found, problems = variables_in(
        [{"type": "text", "text": "{{name}} {{display_name}}"}], "messages"
    )
    assert [v.name for v in found] == ["display_name"]
    assert problems and problems[0].path == "messages[0].text" and "{{name}}" in problems[0].message


def test_unpersonalized_arm_renders_as_is():
    template = MessageTemplate([TEXT])
    assert not template.personalized
    assert template.render(FriendContext("x")) == [TEXT]


@pytest.mark.parametrize(
    "arms, field",
    [
        ([], "arms"),
        (
            [
                {"name": "A", "share": 0.5, "messages": [TEXT]},
                {"name": "B", "share": 0.4, "messages": [TEXT]},
            ],
            "arms",
        ),
        (
            [
                {"name": "A", "share": 0.5, "messages": [TEXT]},
                {"name": "A", "share": 0.5, "messages": [TEXT]},
            ],
            "arms[1].name",
        ),
        ([{"name": "holdout", "messages": [TEXT]}], "arms[0].name"),
        ([{"name": "A", "share": 1.5, "messages": [TEXT]}], "arms[0].share"),
        (
            [{"name": "A", "share": 1.0, "messages": [TEXT]}, {"name": "B", "messages": [TEXT]}],
            "arms",
        ),
    ],
)
def test_bad_arms(arms, field):
    _, problems = normalize_arms(arms)
    assert field in fields(problems)


def test_arms_default_to_equal_shares_and_letters():
    arms, problems = normalize_arms([{"messages": [TEXT]}, {"messages": [TEXT]}])
    assert problems == []
    assert [(a["name"], a["share"]) for a in arms] == [("A", 0.5), ("B", 0.5)]
