"""What the 配信 pages say about enishi.delivery's problems: one Japanese text per stable
`reason` (English in locale/en/deliveries_problems.yaml), with the problem's params filled
in. The service's English message is the API's; here it is only the fallback detail of a
reason without a text. LINE's own words stay beside the Japanese lead as the detail."""

from __future__ import annotations

from typing import Any

from enishi.messages.validation import Problem
from enishi.web.i18n import N_
from enishi.web.problems import word

FALLBACK = N_("入力内容が正しくありません。")
# reasons whose params carry LINE's (or the SDK's) own words: shown as the detail
LINE_DETAIL = {"line_refused": "line", "line_sdk_refused": "detail", "line_unreachable": "detail"}

PROBLEM_TEXT = {
    # LINE's limits on message objects (enishi.messages.validation)
    "not_list": N_("メッセージを1〜5件入力してください。"),
    "messages_count": N_("メッセージは{max}件までです（現在{count}件）。"),
    "not_object": N_("形式が正しくありません。JSONのオブジェクトにしてください。"),
    "one_of": N_("次のいずれかにしてください: {choices}"),
    "required": N_("必須の項目です。"),
    "not_string": N_("文字列で入力してください。"),
    "empty": N_("空にはできません。"),
    "too_long": N_("{limit}文字以内にしてください（現在{size}文字）。"),
    "too_long_utf16": N_(
        "{limit}文字以内にしてください（絵文字などは2文字と数えます。現在{size}文字）。"
    ),
    "not_https": N_("https:// で始まるURLにしてください。"),
    "uri_scheme": N_("http://、https://、line://、tel: のいずれかで始まるURLにしてください。"),
    "list_required": N_("リスト（[...]）で入力してください。"),
    "item_count": N_("{low}〜{high}個にしてください（現在{count}個）。"),
    "sender_line": N_("送信者名に「LINE」という語は使えません。"),
    "too_many_emojis": N_("絵文字は{max}個までです。"),
    "number_required": N_("数値を入力してください。"),
    "column_actions": N_("カルーセルの各カラムのアクション数をそろえてください。"),
    "flex_container": N_("Flex Messageの中身は bubble か carousel にしてください。"),
    "flex_too_large": N_("Flex MessageのJSONは{limit_kb}KBまでです（現在{size}バイト）。"),
    "not_bubble": N_("carousel の中身は bubble にしてください。"),
    "too_deep": N_("入れ子が深すぎます。"),
    "imagemap_width": N_("イメージマップの baseSize の幅は{width}にしてください。"),
    "imagemap_action": N_("イメージマップのアクションは uri か message にしてください。"),
    # variables and arms (enishi.delivery.compose)
    "unknown_variable": N_(
        "{variable} は使えない変数です（display_name、member_id、attr.キー が使えます）。"
    ),
    "unknown_attribute": N_("{variable}: 属性「{key}」は定義されていません。"),
    "url_variables_tracking": N_(
        "URLに変数を含めるときは、リンクの計測を「友だちごと」か「計測しない」にしてください。"
    ),
    "arms_count": N_("パターンは{max}個までです。"),
    "shares_some": N_("配分はすべてのパターンに入力するか、すべて空欄（均等）にしてください。"),
    "arm_name": N_(
        "パターン名は半角英数字・_・- の1〜64文字にしてください（holdout は使えません）。"
    ),
    "arm_name_twice": N_("パターン名「{name}」が重複しています。"),
    "share_range": N_("配分は0%より大きく100%以下にしてください。"),
    "shares_total": N_("配分の合計を100%にしてください（現在{total}%）。"),
    # LINE's validate endpoint: a Japanese lead, LINE's words as the detail
    "line_refused": N_("LINEが受け付けませんでした。"),
    "line_sdk_refused": N_("LINEのメッセージの形式になっていません。"),
    "line_unreachable": N_(
        "LINEの検証APIに接続できませんでした。時間をおいてもう一度お試しください。"
    ),
    # the audience (enishi.delivery.audience)
    "no_segment": N_("このアカウントにそのセグメントはありません。"),
    "list_empty": N_("LINEユーザーIDか会員IDを1つ以上入力してください。"),
    "no_friend": N_(
        "このLINEユーザーIDの友だちはいません（テスト送信はこのアカウントの友だちに送ります）。"
    ),
    "list_too_large": N_("1回にアップロードできるIDは{max}件までです。"),
    "not_line_user_id": N_("LINEユーザーID（U＋32桁の16進数）ではありません: {value}"),
    "segment_gone": N_("配信対象のセグメントが削除されています。"),
    # timing and scheduling (enishi.delivery.scheduler)
    "in_past": N_("過去の日時は指定できません。"),
    "spread_before_start": N_("終了日時は開始日時（または現在）より後にしてください。"),
    "spread_too_long": N_("分散できるのは最長{days}日間です。"),
    "not_draft": N_("下書きではない配信は予約できません。"),
    "empty_audience": N_("配信対象に、いまフォロー中の友だちがいません。"),
    "quota_exceeded": N_(
        "今月の配信上限を超えます: この配信には{needed}通必要ですが、残りは{remaining}通です。「上限まで無作為に選んで送る」を選ぶと、上限まで送ります。"
    ),
}

# Why a delivery paused (dispatcher: LINE's answer) or could not start (planner): its
# `error_code` -> the Japanese lead; its English `error` is shown as the detail.
RUN_ERRORS = {
    "line_monthly_limit": N_(
        "LINEの月間の送信上限に達したため、一時停止しました。上限に空きができてから再開してください。"
    ),
    "line_token_refused": N_(
        "LINEがアクセストークンを受け付けなかったため、一時停止しました。設定の接続テストで確認してから再開してください。"
    ),
    "quota_exceeded": N_("今月の配信上限を超えるため、配信しませんでした。"),
    "segment_gone": N_("配信対象のセグメントが削除されていたため、配信できませんでした。"),
}
RUN_FALLBACK = N_("配信中にエラーが発生しました。")


def run_error(code: str | None) -> str:
    """The Japanese lead for a delivery's stored error code."""
    return RUN_ERRORS.get(code or "", RUN_FALLBACK)


def describe(problem: Problem, *, with_path: bool = False) -> tuple[str, dict[str, Any], str]:
    """(Japanese text marked for the catalogue, its values, the secondary detail): the
    detail is the field path (for JSON editors) and LINE's words, or the service's English
    message when the reason has no text of its own."""
    text, values, unsaid = word(
        PROBLEM_TEXT, problem.reason, problem.params, problem.message, FALLBACK
    )
    notes = [problem.path] if with_path else []
    if unsaid is not None:
        notes.append(unsaid)
    elif problem.reason in LINE_DETAIL:
        notes.append(str(problem.params.get(LINE_DETAIL[problem.reason], "")))
    return text, values, ": ".join(note for note in notes if note)
