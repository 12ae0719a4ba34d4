"""The compose and detail pages' LINE-like preview (static/deliveries.js): its words in the
page's language, sample values for the placeholders, and the samples "サンプルを入れる"
puts into a JSON editor."""

from __future__ import annotations

from typing import Any

from enishi.messages.personalize import SAMPLE
from enishi.web.context import AccountPage
from enishi.web.i18n import N_

# the preview script's words (static/deliveries.js), translated per page
PREVIEW_TEXT = {
    "image": N_("画像"),
    "sticker": N_("スタンプ"),
    "video": N_("動画"),
    "audio": N_("音声"),
    "location": N_("位置情報"),
    "imagemap": N_("イメージマップ"),
    "unknown": N_("プレビューできないメッセージ"),
    "invalid": N_("JSONが正しくありません"),
    "empty": N_("メッセージを入力するとここに表示されます"),
    "arm": N_("パターン"),
    "now": N_("今"),
}
# what "サンプルを入れる" puts into a JSON editor
JSON_SAMPLES = {
    "sticker": {"type": "sticker", "packageId": "446", "stickerId": "1988"},
    "template": {
        "type": "template",
        "altText": "秋のセールのお知らせ",
        "template": {
            "type": "buttons",
            "title": "秋のセール",
            "text": "{{display_name|お客様}}さん、全品20%オフです",
            "actions": [
                {"type": "uri", "label": "セール会場へ", "uri": "https://shop.example/sale"},
                {"type": "message", "label": "あとで見る", "text": "あとで見る"},
            ],
        },
    },
    "flex": {
        "type": "flex",
        "altText": "新商品のご案内",
        "contents": {
            "type": "bubble",
            "body": {
                "type": "box",
                "layout": "vertical",
                "contents": [
                    {"type": "text", "text": "新商品のご案内", "weight": "bold", "size": "xl"},
                    {
                        "type": "text",
                        "text": "{{display_name|お客様}}さんへのおすすめです",
                        "wrap": True,
                        "color": "#666666",
                        "size": "sm",
                    },
                ],
            },
            "footer": {
                "type": "box",
                "layout": "vertical",
                "contents": [
                    {
                        "type": "button",
                        "style": "primary",
                        "action": {
                            "type": "uri",
                            "label": "詳しく見る",
                            "uri": "https://shop.example/new",
                        },
                    },
                ],
            },
        },
    },
    "imagemap": {
        "type": "imagemap",
        "baseUrl": "https://shop.example/imagemap",
        "altText": "キャンペーン",
        "baseSize": {"width": 1040, "height": 1040},
        "actions": [
            {
                "type": "uri",
                "linkUri": "https://shop.example/a",
                "area": {"x": 0, "y": 0, "width": 520, "height": 1040},
            },
            {
                "type": "uri",
                "linkUri": "https://shop.example/b",
                "area": {"x": 520, "y": 0, "width": 520, "height": 1040},
            },
        ],
    },
    "other": {
        "type": "location",
        "title": "本店",
        "address": "東京都渋谷区",
        "latitude": 35.658,
        "longitude": 139.7016,
    },
}


def preview_config(page: AccountPage, arms: list[dict[str, Any]] | None) -> dict[str, Any]:
    """What static/deliveries.js needs: the account's name, sample values, its words, and
    (on the detail page) the delivery's arms."""
    return {
        "accountName": page.account.name,
        "sample": SAMPLE,
        "text": {key: page.t(text) for key, text in PREVIEW_TEXT.items()},
        "samples": JSON_SAMPLES,
        "arms": arms,
    }
