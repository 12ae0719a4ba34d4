"""What the 友だち pages say about enishi.friends' refusals: a friend's edit (tags,
attributes, notes) and each problem of a CSV import's report, one Japanese text per stable
`reason` (English in locale/en/friends_problems.yaml). The service's English message is the
API's and the CLI's; here it is only the detail of a reason without a text."""

from __future__ import annotations

from typing import Any

from enishi.web.i18n import N_
from enishi.web.problems import word

FALLBACK = N_("値が正しくありません。")

PROBLEM_TEXT = {
    # a value of a typed attribute (service.parse_attribute), on the page and in a CSV
    "unknown_attribute": N_("属性「{key}」は定義されていません。先に属性を定義してください。"),
    "not_a_number": N_("数値を入力してください。"),
    "not_a_date": N_("日付を YYYY-MM-DD（例: 2025-04-01）の形式で入力してください。"),
    "not_a_choice": N_("選択肢（{choices}）のいずれかを入力してください。"),
    "too_long": N_("{max}文字以内で入力してください。"),
    # tags and notes
    "tag_length": N_("タグ名は1〜{max}文字で入力してください。"),
    "tag_semicolon": N_("タグ名に「;」は使えません（CSVでタグの区切りに使うため）。"),
    # the CSV import's header and rows (csv_read, csv_io, csv_apply)
    "unreadable": N_("CSVとして読めません（ダブルクォートの閉じ忘れなど）。"),
    "no_line_user_id_column": N_("1行目（見出し）に line_user_id 列が必要です。"),
    "column_twice": N_("列「{column}」が2回あります。"),
    "unknown_column": N_("列「{column}」は取り込めません（列名を確認してください）。"),
    "value_count": N_("値が{values}個ありますが、見出しは{columns}列です。"),
    "not_line_user_id": N_("LINEユーザーID（U＋32桁の小文字16進数）ではありません。"),
    "status_choice": N_("status は {choices} のいずれかです（読み取り専用の列です）。"),
    "member_id_invalid": N_("会員IDは1〜200文字で、制御文字は使えません。"),
    "line_user_id_twice": N_("このLINEユーザーIDは{first_row}行目にもあります。"),
    "member_id_twice": N_(
        "会員ID {member_id} は{first_row}行目にもあります（会員IDは1人の友だちのものです）。"
    ),
    "member_id_taken": N_("会員ID {member_id} はすでに別の友だち（{holder}）に連携されています。"),
    "conflict": N_("同時に行われた変更と重なったため、この行は反映されませんでした。"),
    "concurrent_change": N_("同時に行われた変更と重なったため、この行は反映されませんでした。"),
}


def describe(reason: str, params: dict[str, Any], message: str) -> tuple[str, dict, str | None]:
    """(Japanese text marked for the catalogue, its values, the English detail or None)."""
    detail_of = {"unreadable": params.get("detail")}
    text, values, unsaid = word(PROBLEM_TEXT, reason, params, message, FALLBACK)
    return text, values, unsaid or detail_of.get(reason)


def report_rows(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The import report's problems for the page: row, column, text, vals (its values), detail."""
    rows = []
    for error in errors:
        text, values, detail = describe(
            error.get("reason", "invalid"), error.get("params") or {}, error["message"]
        )
        rows.append(
            {
                "row": error["row"],
                "column": error["column"],
                "text": text,
                "vals": values,
                "detail": detail,
            }
        )
    return rows
