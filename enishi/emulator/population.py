"""A seeded population of virtual LINE users: names, profiles and behavioural traits.

`generate_friends(n, seed=..., now=...)` is deterministic in `seed` (user IDs included) and
draws each attribute for the whole batch at once, so 10,000 friends take well under a
second and 1,000,000 a few seconds per 100,000. The behaviour model that reads the traits
is described in docs/emulator-friends.md.
"""

from __future__ import annotations

import base64
import bisect
import itertools
import math
import random
from datetime import datetime
from typing import Any

from enishi.emulator.clock import JST
from enishi.emulator.state import Channel, Friend, Traits

DAY = 86400.0


def _words(text: str, sep: str | None = None) -> list[str]:
    return text.split(sep)


# --- who ---------------------------------------------------------------------------------
# family names, most common first: kanji:romaji
_FAMILY = [
    p.split(":")
    for p in _words(
        "佐藤:Sato 鈴木:Suzuki 高橋:Takahashi 田中:Tanaka 伊藤:Ito 渡辺:Watanabe 山本:Yamamoto "
        "中村:Nakamura 小林:Kobayashi 加藤:Kato 吉田:Yoshida 山田:Yamada 佐々木:Sasaki "
        "山口:Yamaguchi 松本:Matsumoto 井上:Inoue 木村:Kimura 林:Hayashi 斎藤:Saito 清水:Shimizu "
        "山崎:Yamazaki 森:Mori 池田:Ikeda 橋本:Hashimoto 阿部:Abe 石川:Ishikawa 山下:Yamashita "
        "中島:Nakajima 石井:Ishii 小川:Ogawa 前田:Maeda 岡田:Okada 長谷川:Hasegawa 藤田:Fujita "
        "後藤:Goto 近藤:Kondo 村上:Murakami 遠藤:Endo 青木:Aoki 坂本:Sakamoto 福田:Fukuda "
        "太田:Ota 西村:Nishimura 藤井:Fujii 金子:Kaneko 岡本:Okamoto 藤原:Fujiwara 中野:Nakano "
        "三浦:Miura 原田:Harada 松田:Matsuda 竹内:Takeuchi 小野:Ono 田村:Tamura 中山:Nakayama "
        "和田:Wada 石田:Ishida 森田:Morita 上田:Ueda 原:Hara 内田:Uchida 柴田:Shibata "
        "酒井:Sakai 宮崎:Miyazaki 横山:Yokoyama 高木:Takagi 安藤:Ando 宮本:Miyamoto 大野:Ono "
        "小島:Kojima 谷口:Taniguchi 今井:Imai 工藤:Kudo 高田:Takada 増田:Masuda 丸山:Maruyama "
        "杉山:Sugiyama 村田:Murata 大塚:Otsuka 新井:Arai 小山:Koyama 平野:Hirano 野口:Noguchi "
        "菊地:Kikuchi 千葉:Chiba 久保:Kubo 松尾:Matsuo 市川:Ichikawa 菅原:Sugawara 比嘉:Higa"
    )
]
_FAMILY_CUM = list(itertools.accumulate(1.0 / (i + 8) for i in range(len(_FAMILY))))
# given names: kanji:kana:romaji
_GIVEN = {
    "male": [
        p.split(":")
        for p in _words(
            "翔太:しょうた:Shota 大輝:だいき:Daiki 拓也:たくや:Takuya 健太:けんた:Kenta "
            "達也:たつや:Tatsuya 直樹:なおき:Naoki 和也:かずや:Kazuya 蓮:れん:Ren 湊:みなと:Minato "
            "陽翔:はると:Haruto 悠真:ゆうま:Yuma 大翔:ひろと:Hiroto 誠:まこと:Makoto "
            "浩:ひろし:Hiroshi 隆:たかし:Takashi 修:おさむ:Osamu 健一:けんいち:Kenichi "
            "博之:ひろゆき:Hiroyuki 剛:つよし:Tsuyoshi 亮:りょう:Ryo 颯太:そうた:Sota "
            "悠斗:ゆうと:Yuto 海斗:かいと:Kaito 航:わたる:Wataru 信也:しんや:Shinya "
            "雄一:ゆういち:Yuichi 和彦:かずひこ:Kazuhiko 聡:さとし:Satoshi 恭平:きょうへい:Kyohei"
        )
    ],
    "female": [
        p.split(":")
        for p in _words(
            "陽菜:ひな:Hina 結衣:ゆい:Yui 美咲:みさき:Misaki さくら:さくら:Sakura 葵:あおい:Aoi "
            "凛:りん:Rin 結愛:ゆあ:Yua 彩:あや:Aya 愛:あい:Ai 真由美:まゆみ:Mayumi 恵子:けいこ:Keiko "
            "由美:ゆみ:Yumi 久美子:くみこ:Kumiko 明美:あけみ:Akemi 裕子:ゆうこ:Yuko 智子:ともこ:Tomoko "
            "麻衣:まい:Mai 舞:まい:Mai 沙織:さおり:Saori 優子:ゆうこ:Yuko 芽依:めい:Mei 紬:つむぎ:Tsumugi "
            "陽葵:ひまり:Himari 美優:みゆ:Miyu 七海:ななみ:Nanami あかり:あかり:Akari 千尋:ちひろ:Chihiro "
            "奈々:なな:Nana 理恵:りえ:Rie 香織:かおり:Kaori 綾香:あやか:Ayaka 彩花:あやか:Ayaka"
        )
    ],
}
_EMOJI = _words("🌸 ✨ 🍓 🐈 🐶 ☕️ 🌙 💐 🍀 ⭐️ 🎀 🌈 🍑 🐰 ⚽️ 🎸 🍜 💪 🏕 🌻")
_FOREIGN = {  # (given names, family names) of friends whose LINE is not in Japanese
    "en": (
        _words("Emily Michael Jess Chris Sarah David Olivia Ken Anna Tom Lucas Mia"),
        _words("Brown Lee Smith Clark Wilson Taylor Nguyen Garcia"),
    ),
    "zh-TW": (
        _words("怡君 志明 淑芬 家豪 雅婷 俊傑 美玲 冠宇 欣怡 承恩"),
        _words("陳 林 黃 張 李 王 吳 劉 蔡 楊"),
    ),
    "th": (_words("สมชาย อรุณี มะลิ ณัฐ Nok Ploy Fah Mint Bee Ton"), _words("ใจดี สุขสันต์ Srisuk Wongsa")),
}
_STATUS = [
    "毎日がんばる💪",
    "よろしくお願いします",
    "☕️",
    "旅行好き✈️",
    "Keep smiling",
    "猫と暮らしてます🐈",
    "ダイエット中",
    "お菓子作りが趣味",
    "週末はキャンプ⛺️",
    "子育て奮闘中",
    "推し活中🎤",
    "いつもありがとう",
    "LINE返信遅めです",
    "一日一善",
    "Enjoy life!",
    "🌸🌸🌸",
]
_LANGS, _LANG_CUM = ["ja", "en", "zh-TW", "th"], [0.935, 0.965, 0.987, 1.0]

# --- where and how ------------------------------------------------------------------------
# 2020 census population in thousands, jp_01 (Hokkaido) ... jp_47 (Okinawa)
_PREF_POP = [
    5225,
    1238,
    1211,
    2302,
    960,
    1068,
    1833,
    2867,
    1933,
    1939,
    7345,
    6284,
    14048,
    9237,
    2201,
    1035,
    1133,
    767,
    810,
    2048,
    1979,
    3633,
    7542,
    1770,
    1414,
    2578,
    8838,
    5465,
    1324,
    923,
    553,
    671,
    1888,
    2800,
    1342,
    720,
    950,
    1335,
    692,
    5135,
    811,
    1312,
    1738,
    1124,
    1070,
    1588,
    1467,
]
PREFECTURES = [f"jp_{i:02d}" for i in range(1, 48)]
_PREF_CUM = list(itertools.accumulate(_PREF_POP))
# LINE's narrowcast age codes: age_15 = 15-19 ... age_70 = 70+
_AGE_BANDS = list(range(15, 75, 5))
_AGE_CUM = list(itertools.accumulate([4, 8, 10, 11, 11, 11, 11, 10, 8, 6, 5, 5]))
_GENDERS, _GENDER_CUM = ["female", "male", "unknown"], [0.57, 0.95, 1.0]
INFLOW_ROUTES = ["instagram", "store_qr", "web_banner", "flyer", "organic", "line_ads"]
_INFLOW_CUM = list(itertools.accumulate([20, 22, 12, 8, 18, 20]))
_INFLOW_CLICK = {
    "instagram": 1.1,
    "store_qr": 1.25,
    "web_banner": 0.9,
    "flyer": 0.9,
    "organic": 1.0,
    "line_ads": 0.7,
}
# daily rhythm segments: (peak hour JST, spread in hours, share)
ACTIVITY_PATTERNS = {
    "commuter": (7.6, 1.0, 18),
    "lunch": (12.3, 0.9, 18),
    "evening": (19.5, 1.8, 34),
    "night_owl": (23.0, 1.4, 18),
    "diffuse": (15.0, 4.5, 12),
}
_PATTERNS = list(ACTIVITY_PATTERNS.values())
_PATTERN_CUM = list(itertools.accumulate(p[2] for p in _PATTERNS))
CATEGORIES = [
    "skincare",
    "cosmetics",
    "fashion",
    "sweets",
    "gourmet",
    "outdoor",
    "sale",
    "health",
    "home",
    "kids",
]
_CAT_CUM = {
    "female": list(itertools.accumulate([14, 12, 14, 12, 8, 4, 14, 8, 8, 6])),
    "male": list(itertools.accumulate([4, 2, 10, 7, 12, 14, 14, 10, 8, 5])),
}
_CAT_CUM["unknown"] = _CAT_CUM["female"]
CATEGORY_KEYWORDS: dict[str, tuple[str, ...]] = {
    "skincare": ("スキンケア", "化粧水", "美容液", "保湿", "乳液", "日焼け止め", "肌", "skincare"),
    "cosmetics": ("コスメ", "メイク", "リップ", "ファンデ", "アイシャドウ", "口紅", "makeup"),
    "fashion": (
        "ファッション",
        "コーデ",
        "ワンピース",
        "ニット",
        "コート",
        "アウター",
        "バッグ",
        "スニーカー",
        "アパレル",
        "fashion",
    ),
    "sweets": ("スイーツ", "ケーキ", "チョコ", "お菓子", "焼き菓子", "プリン", "和菓子", "sweets"),
    "gourmet": ("グルメ", "ランチ", "ディナー", "お取り寄せ", "レストラン", "食品", "gourmet"),
    "outdoor": ("アウトドア", "キャンプ", "登山", "テント", "ハイキング", "釣り", "outdoor"),
    "sale": ("セール", "sale", "割引", "クーポン", "off", "半額", "ポイント", "値下げ", "特価"),
    "health": ("健康", "サプリ", "ヨガ", "フィットネス", "ダイエット", "プロテイン", "health"),
    "home": ("インテリア", "雑貨", "キッチン", "収納", "家具", "寝具", "interior"),
    "kids": ("キッズ", "子供", "子ども", "ベビー", "育児", "kids", "baby"),
}
MEMBER_SHARE = 0.30  # share of friends with a member ID at the brand's shop (store_qr: 0.5)


def _display_name(rng: random.Random, lang: str, gender: str, age: int, family: list[str]) -> str:
    if lang != "ja":
        givens, families = _FOREIGN[lang]
        given, fam = rng.choice(givens), rng.choice(families)
        r = rng.random()
        if lang == "zh-TW":
            return fam + given if r < 0.8 else f"{given}{rng.choice(_EMOJI)}"
        return (
            given
            if r < 0.4
            else (f"{given} {fam}" if r < 0.8 or not fam.isascii() else f"{given} {fam[0]}.")
        )
    family, family_romaji = family
    given, kana, romaji = rng.choice(_GIVEN["male" if gender == "male" else "female"])
    r = rng.random() * (1.0 if age < 35 else 0.7)  # older people mostly use their real name
    if r < 0.30:
        return f"{family} {given}"
    if r < 0.48:
        return f"{family}{given}"
    if r < 0.56:
        return f"{family_romaji} {romaji}"
    if r < 0.64:
        return f"{family}{given}{rng.choice(_EMOJI)}"
    if r < 0.76:
        return kana
    if r < 0.86:
        return f"{kana}{rng.choice(_EMOJI)}"
    if r < 0.93:
        return f"{romaji.lower()}{rng.choice(['', '_', '.'])}{rng.randrange(1, 100):02d}"
    return f"{kana[:2]}{rng.choice(['ちゃん', 'っち', 'りん', '☆'])}"


def _picture_url(rng: random.Random) -> str:
    raw = base64.urlsafe_b64encode(rng.getrandbits(480).to_bytes(60, "big")).decode()
    return "https://profile.line-scdn.net/0h" + raw.rstrip("=")


def _lognormal(rng: random.Random, median: float, sigma: float) -> float:
    return median * math.exp(rng.gauss(0.0, sigma))


def _kumaraswamy(u: float, a: float, b: float) -> float:
    """A beta-like draw on 0..1 by inverse transform (one uniform, no rejection loop)."""
    return (1.0 - (1.0 - u) ** (1.0 / b)) ** (1.0 / a)


def generate_friends(
    n: int,
    *,
    seed: int,
    now: float,
    following: bool = True,
    history_days: float = 365,
) -> list[Friend]:
    """`n` virtual users, deterministic in `seed`.

    following=True: they are friends already (followed at times spread over the
    `history_days` before `now`, no webhooks); False: they have not added the account yet.
    """
    if n <= 0:
        return []
    rng = random.Random(f"enishi-population:{seed}")
    rand, gauss = rng.random, rng.gauss
    # attributes drawn for the whole batch at once (cheap C-level loops)
    user_ids = [f"U{rng.getrandbits(128):032x}" for _ in range(n)]
    langs = rng.choices(_LANGS, cum_weights=_LANG_CUM, k=n)
    genders = rng.choices(_GENDERS, cum_weights=_GENDER_CUM, k=n)
    bands = rng.choices(_AGE_BANDS, cum_weights=_AGE_CUM, k=n)
    prefs = rng.choices(PREFECTURES, cum_weights=_PREF_CUM, k=n)
    routes = rng.choices(INFLOW_ROUTES, cum_weights=_INFLOW_CUM, k=n)
    patterns = rng.choices(_PATTERNS, cum_weights=_PATTERN_CUM, k=n)
    families = rng.choices(_FAMILY, cum_weights=_FAMILY_CUM, k=n)
    cats = {g: rng.choices(CATEGORIES, cum_weights=cum, k=3 * n) for g, cum in _CAT_CUM.items()}
    friends: list[Friend] = []
    append = friends.append
    for i in range(n):
        lang, gender, band, route = langs[i], genders[i], bands[i], routes[i]
        age = band + int(rand() * (10 if band == 70 else 5))
        peak, spread, _ = patterns[i]
        member = rand() < (0.5 if route == "store_qr" else MEMBER_SHARE)
        k = 1 if rand() < 0.35 else (2 if rand() < 0.7 else 3)
        interests = list(dict.fromkeys(cats[gender][3 * i : 3 * i + k]))
        traits = Traits(
            gender=gender,
            age_band=f"age_{band}",
            age=age,
            prefecture=prefs[i],
            app_type="ios" if rand() < (0.72 if age < 40 else 0.58) else "android",
            inflow_route=route,
            peak_hour=(peak + gauss(0.0, 0.6)) % 24.0,
            hour_spread=spread * (0.8 + 0.45 * rand()),
            click_propensity=min(0.9, _kumaraswamy(rand(), 1.3, 5.0) * _INFLOW_CLICK[route]),
            purchase_propensity=min(0.9, _kumaraswamy(rand(), 1.5, 8.0) * (1.3 if member else 1)),
            organic_purchase_rate=min(0.2, _lognormal(rng, 0.02, 0.8) * (1.6 if member else 1)),
            basket_mean=round(_lognormal(rng, 4200.0, 0.55) * (1 + (age - 30) * 0.008), -1),
            block_sensitivity=_kumaraswamy(rand(), 2.0, 4.0),
            chattiness=min(0.5, _lognormal(rng, 0.006, 1.0)),
            interests=interests,
            member_id=f"M{rng.randrange(10**9):09d}" if member else None,
            store_visit_rate=_lognormal(rng, 0.03 if route == "store_qr" else 0.004, 0.7),
            weekly_tolerance=2.0 - 1.5 * math.log((1.0 - rand()) * (1.0 - rand())),
        )
        followed_at = now - rand() * history_days * DAY if following else None
        append(
            Friend(
                user_id=user_ids[i],
                display_name=_display_name(rng, lang, gender, age, families[i]),
                language=lang,
                picture_url=_picture_url(rng) if rand() < 0.85 else None,
                status_message=rng.choice(_STATUS) if rand() < 0.3 else None,
                traits=traits,
                is_friend=following,
                followed_at=followed_at,
                first_followed_at=followed_at,
                interest=rand() ** 1.7 if following else 0.8,
                interest_at=now,
            )
        )
    return friends


# --- what friends say and buy --------------------------------------------------------------
CATALOG: dict[str, list[tuple[str, str, int]]] = {
    "skincare": [
        ("SK-101", "モイスチャーローション 200ml", 3300),
        ("SK-102", "ブライトニング美容液 30ml", 5500),
        ("SK-103", "UVミルク SPF50+", 2420),
        ("SK-104", "クレンジングバーム", 2860),
    ],
    "cosmetics": [
        ("CO-201", "ティントリップ", 1980),
        ("CO-202", "クッションファンデーション", 3850),
        ("CO-203", "アイシャドウパレット", 4620),
    ],
    "fashion": [
        ("FA-301", "リネンブレンドシャツ", 6490),
        ("FA-302", "ウールニットカーディガン", 8800),
        ("FA-303", "レザーミニバッグ", 12100),
        ("FA-304", "ロゴTシャツ", 3960),
    ],
    "sweets": [
        ("SW-401", "焼き菓子アソート 12個入", 2700),
        ("SW-402", "生チョコレート", 1620),
        ("SW-403", "季節のフルーツタルト", 4200),
    ],
    "gourmet": [
        ("GO-501", "国産牛ハンバーグセット", 4980),
        ("GO-502", "出汁パック 30袋", 1500),
        ("GO-503", "クラフトビール6本セット", 3980),
    ],
    "outdoor": [
        ("OD-601", "ウルトラライトチェア", 9900),
        ("OD-602", "ステンレスマグ 350ml", 2750),
        ("OD-603", "2人用ドームテント", 32800),
    ],
    "sale": [("SA-701", "福袋", 5500), ("SA-702", "アウトレット雑貨", 990)],
    "health": [
        ("HE-801", "マルチビタミン 90日分", 2980),
        ("HE-802", "ヨガマット 6mm", 4400),
        ("HE-803", "ソイプロテイン 1kg", 3680),
    ],
    "home": [
        ("HO-901", "琺瑯ストッカー", 2200),
        ("HO-902", "今治タオル 2枚組", 3300),
        ("HO-903", "アロマディフューザー", 6600),
    ],
    "kids": [
        ("KI-001", "ベビーガーゼケット", 3960),
        ("KI-002", "知育ブロック", 4950),
        ("KI-003", "キッズレインコート", 3520),
    ],
}

_CHAT = {
    "ja": [
        "こんにちは",
        "営業時間を教えてください",
        "クーポンはありますか？",
        "ありがとうございます！",
        "注文した商品はいつ届きますか？",
        "ポイントを確認したいです",
        "店舗の場所を教えてください",
        "了解です",
        "よろしくお願いします",
        "返品について教えてください",
    ],
    "en": ["Hello!", "What are your opening hours?", "Do you have any coupons?", "Thank you!"],
    "zh-TW": ["你好", "請問營業時間？", "有優惠券嗎？", "謝謝！"],
    "th": ["สวัสดีค่ะ", "เปิดกี่โมงคะ", "มีคูปองไหมครับ", "ขอบคุณค่ะ"],
}
_CHAT_INTEREST = [
    "{kw}の新作はありますか？",
    "{kw}のおすすめを教えてください",
    "{kw}気になってます！",
]
# LINE's free sticker packages: (packageId, first stickerId, last stickerId)
STICKERS = [
    ("446", 1988, 2027),
    ("789", 10855, 10894),
    ("11537", 52002734, 52002773),
    ("11538", 51626494, 51626533),
    ("11539", 52114110, 52114149),
]
_PLACES = {
    "jp_13": (35.6812, 139.7671, "東京都千代田区丸の内1丁目"),
    "jp_27": (34.7025, 135.4959, "大阪府大阪市北区梅田3丁目"),
    "jp_14": (35.4658, 139.6223, "神奈川県横浜市西区高島2丁目"),
    "jp_23": (35.1709, 136.8815, "愛知県名古屋市中村区名駅1丁目"),
    "jp_01": (43.0687, 141.3508, "北海道札幌市北区北6条西4丁目"),
    "jp_40": (33.5902, 130.4207, "福岡県福岡市博多区博多駅中央街"),
}
ORDER_KEYS = ("order_id", "line_user_id", "member_id", "amount", "currency", "occurred_at", "items")


def chat_text(rng: random.Random, friend: Friend) -> str:
    interests = friend.traits.interests
    if friend.language == "ja" and interests and rng.random() < 0.4:
        keyword = CATEGORY_KEYWORDS[rng.choice(interests)][0]
        return rng.choice(_CHAT_INTEREST).format(kw=keyword)
    return rng.choice(_CHAT.get(friend.language, _CHAT["ja"]))


def sticker(rng: random.Random) -> tuple[str, str]:
    package, first, last = rng.choice(STICKERS)
    return package, str(rng.randint(first, last))


def place(traits: Traits) -> tuple[float, float, str]:
    return _PLACES.get(traits.prefecture, _PLACES["jp_13"])


def basket(rng: random.Random, traits: Traits, amount: int | None = None) -> list[dict]:
    """Order lines from the friend's favourite categories, about their usual basket size."""
    category = rng.choice(traits.interests) if traits.interests else rng.choice(list(CATALOG))
    products = CATALOG.get(category) or CATALOG["sale"]
    if amount is not None:
        sku, name, _ = rng.choice(products)
        return [{"sku": sku, "name": name, "unit_price": int(amount), "quantity": 1}]
    target = traits.basket_mean * math.exp(rng.gauss(0.0, 0.45))
    lines: dict[str, dict] = {}
    total = 0
    while not lines or (total < 0.8 * target and len(lines) < 4):
        sku, name, price = rng.choice(products)
        line = lines.setdefault(sku, {"sku": sku, "name": name, "unit_price": price, "quantity": 0})
        line["quantity"] += 1
        total += price
    return list(lines.values())


def make_order(
    channel: Channel, friend: Friend, t: float, number: int, items: list[dict], amount: int | None
) -> dict[str, Any]:
    """The order the brand's EC system records (and reports to the CRM)."""
    items = [dict(item) for item in items]
    if amount is None:
        amount = sum(int(i.get("unit_price", 0)) * int(i.get("quantity", 1)) for i in items)
    occurred = datetime.fromtimestamp(t, JST)
    return {
        "order_id": f"EC{occurred:%Y%m%d}-{channel.channel_id[-4:]}{number:07d}",
        "line_user_id": friend.user_id,
        "member_id": friend.linked_member_id,
        "amount": int(amount),
        "currency": "JPY",
        "occurred_at": occurred.isoformat(timespec="seconds"),
        "items": items,
    }


class ActivityPool:
    """A channel's users in insertion order with cumulative per-day rates of their organic
    behaviour, to pick who acts next in O(log n). Users are only ever added, so the pool is
    extended in place as the channel grows."""

    def __init__(self) -> None:
        self.friends: list[Friend] = []
        self.cum: dict[str, list[float]] = {"chat": [], "buy": [], "visit": [], "menu": []}

    def extend(self, friends: list[Friend], menu_rate: float) -> None:
        cum = self.cum
        totals = {kind: values[-1] if values else 0.0 for kind, values in cum.items()}
        for friend in friends:
            traits = friend.traits
            # per-moment acceptance is activity(hour) <= 1, so scale the daily rate up by
            # 1 / mean activity to keep the friend's rate per day as the trait says
            scale = 1.0 / min(1.0, traits.hour_spread * 0.10444659357341871)  # sqrt(2pi)/24
            for kind, rate in (
                ("chat", traits.chattiness),
                ("buy", traits.organic_purchase_rate),
                ("visit", traits.store_visit_rate),
                ("menu", menu_rate),
            ):
                totals[kind] += rate * scale
                cum[kind].append(totals[kind])
        self.friends.extend(friends)

    def pick(self, rng: random.Random, kind: str) -> Friend:
        cum = self.cum[kind]
        return self.friends[bisect.bisect_right(cum, rng.random() * cum[-1])]

    def total(self, kind: str) -> float:
        cum = self.cum[kind]
        return cum[-1] if cum else 0.0


def arrivals(rng: random.Random, rate: float, a: float, b: float) -> list[float]:
    """Times of a Poisson process of `rate` per second in (a, b]."""
    out, t = [], a
    while rate > 0:
        t += rng.expovariate(rate)
        if t > b:
            return out
        out.append(t)
    return out
