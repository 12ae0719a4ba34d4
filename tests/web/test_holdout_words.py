"""The holdout conclusion on a delivery's page: in Japanese it says what the API's `message`
says (enishi.delivery.analysis), and under ?lang=en the same in English."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest

from enishi.db.base import utcnow
from enishi.delivery.analysis import holdout_comparison
from enishi.delivery.models import Delivery
from enishi.delivery.report import DeliveryTallies, Tally
from enishi.delivery.stats import Sample
from enishi.operators.roles import Role
from enishi.web.context import AccountPage
from enishi.web.pages.deliveries_report import holdout_message


def group(name: str, friends: int, buyers: int, spend: float) -> Tally:
    """`friends` compared, `buyers` of whom spent about `spend` each (not all alike)."""
    tally = Tally(name, targeted=friends, sent=0 if name == "holdout" else friends)
    amounts = [spend * (1 + (i % 3) / 10) for i in range(buyers)]
    tally.window_revenue = Sample(buyers, sum(amounts), sum(a * a for a in amounts))
    return tally


def compare(treated: Tally, holdout: Tally, *, started: bool = True, closed: bool = True):
    now = utcnow()
    start = now - timedelta(days=10) if started else None
    end = (now - timedelta(days=3) if closed else now + timedelta(days=4)) if started else None
    dt = DeliveryTallies(Delivery(), {"A": treated}, holdout, 0, Tally("none"), start, end)
    return holdout_comparison("total", treated, holdout, dt, Decimal("3"))


def page(lang: str) -> AccountPage:
    account = SimpleNamespace(id=1, timezone="Asia/Tokyo")
    return AccountPage(viewer=None, account=account, role=Role.VIEWER, lang=lang, ip="testclient")  # type: ignore[arg-type]


CASES = {
    "not_started": (
        lambda: compare(group("A", 500, 40, 3000), group("holdout", 100, 2, 3000), started=False),
        "The delivery has not started yet.",
    ),
    "no_holdout": (
        lambda: compare(group("A", 500, 40, 3000), group("holdout", 0, 0, 0)),
        "There is no holdout",
    ),
    "too_small": (
        lambda: compare(group("A", 500, 4, 3000), group("holdout", 12, 1, 3000)),
        "Too few to conclude: Holdout has 12 friends, 5 buyers in all (rule of thumb: at least "
        "30 friends per group and 10 buyers in all).",
    ),
    "provisional": (
        lambda: compare(group("A", 500, 60, 3000), group("holdout", 500, 20, 3000), closed=False),
        "Provisional: the measurement window runs until ",
    ),
    "significant": (
        lambda: compare(group("A", 2000, 300, 3000), group("holdout", 2000, 100, 3000)),
        "The difference is statistically significant",
    ),
    "not_significant": (
        lambda: compare(group("A", 400, 21, 3000), group("holdout", 400, 20, 3000)),
        "No significant difference",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_the_conclusion_in_both_languages(case):
    build, english = CASES[case]
    comparison = build()
    japanese = holdout_message(page("ja"), comparison)
    if case == "provisional":  # the API writes UTC, the page the account's time zone
        end_jst = comparison.window_end + timedelta(hours=9)
        assert japanese == f"計測期間中のため暫定値です（{end_jst:%Y-%m-%d %H:%M} まで）。"
        assert comparison.message.startswith("計測期間中のため暫定値です")
    else:
        assert japanese == comparison.message
    assert holdout_message(page("en"), comparison).startswith(english)
