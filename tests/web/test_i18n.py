"""The English catalogue covers every marked Japanese string of the dashboard."""

from __future__ import annotations

import re
from pathlib import Path

from enishi.web.i18n import catalogue, translate

PACKAGE = Path(__file__).resolve().parents[2] / "enishi"
WEB = PACKAGE / "web"
# _("…") in templates and code, N_("…") constants, OperatorError("…") messages shown on pages
MARKED = re.compile(r"""(?:\b_|\bN_|OperatorError)\(\s*(["'])(.+?)(?<!\\)\1""", re.S)


def marked_strings() -> set[str]:
    files = [*WEB.rglob("*.html"), *WEB.rglob("*.py"), *(PACKAGE / "operators").glob("*.py")]
    found = set()
    for path in files:
        for _quote, text in MARKED.findall(path.read_text(encoding="utf-8")):
            if re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", text):  # Japanese only
                found.add(text)
    return found


def test_every_marked_string_has_english():
    strings = marked_strings()
    assert len(strings) > 50  # the scan found the dashboard's text
    missing = sorted(s for s in strings if s not in catalogue("en"))
    assert missing == [], "add these to enishi/web/locale/en/<area>.yaml:\n" + "\n".join(missing)


def test_english_keeps_the_placeholders():
    for source, target in catalogue("en").items():
        assert set(re.findall(r"{(\w+)}", source)) == set(re.findall(r"{(\w+)}", target)), source


def test_translate_falls_back_to_japanese_and_formats():
    assert translate("en", "友だち") == "Friends"
    assert translate("ja", "友だち") == "友だち"
    assert translate("en", "まだ翻訳のない文") == "まだ翻訳のない文"
    assert translate("ja", "{count}人", count=3) == "3人"
