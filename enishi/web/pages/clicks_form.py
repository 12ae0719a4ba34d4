"""The click analysis page's settings: read from the query string (or the segment form,
whose fields carry the same settings), checked, and turned into the service's parameters;
the analysis run with its refusals shown beside the fields."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from enishi.analytics.click_segments import ClickFilter
from enishi.analytics.clicks import (
    ClickAnalysis,
    ClickAnalysisParams,
    analyse_clicks,
    as_of_moment,
)
from enishi.kit.errors import ApiError
from enishi.web.context import AccountPage
from enishi.web.i18n import N_

FIELD_ERRORS = {
    "as_of": N_("基準日は YYYY-MM-DD の形式で入力してください。"),
    "lookback_days": N_("集計期間は1〜3650日で指定してください。"),
    "bucket_days": N_("区切りの日数は1日以上、集計期間以下で指定してください。"),
    "outcome": N_("購入の集計方法が正しくありません。"),
    "outcome_days": N_("購入の集計日数は1〜3650日で指定してください。"),
    "min_group": N_("最小人数は1以上で指定してください。"),
    "frequency_edges": N_(
        "回数の区切りは 1,2,3,5,10,20 のように増えていく整数で指定してください。"
    ),
    "delivery_id": N_("配信が見つかりません。"),
    "link_id": N_("リンクが見つかりません。"),
    "range": N_("範囲が正しくありません。始まりは終わり以前にしてください。"),
    "name": N_("同じ名前のセグメントがあるか、名前が長すぎます（200文字まで）。"),
}


# the service's defaults (ClickAnalysisParams) are the page's
DEFAULTS: dict[str, Any] = {
    f.name: f.default for f in fields(ClickAnalysisParams) if f.default is not MISSING
}


@dataclass
class AnalysisForm:
    """The analysis settings as read from the query string (or the segment form)."""

    as_of: date | None = None
    lookback_days: int = DEFAULTS["lookback_days"]
    bucket_days: int = DEFAULTS["bucket_days"]
    outcome: str = DEFAULTS["outcome"]
    outcome_days: int = DEFAULTS["outcome_days"]
    min_group: int = DEFAULTS["min_group"]
    frequency_edges: tuple[int, ...] = DEFAULTS["frequency_edges"]
    delivery_id: int | None = None
    link_id: int | None = None
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def click_filter(self) -> ClickFilter:
        return ClickFilter(self.delivery_id, self.link_id)

    def query(self) -> dict[str, str]:
        """The settings that differ from the defaults, for links back to the same analysis."""
        defaults = AnalysisForm()
        out: dict[str, str] = {}
        for name in (
            "as_of",
            "lookback_days",
            "bucket_days",
            "outcome",
            "outcome_days",
            "min_group",
            "delivery_id",
            "link_id",
        ):
            value = getattr(self, name)
            if value is not None and value != getattr(defaults, name):
                out[name] = str(value)
        if self.frequency_edges != defaults.frequency_edges:
            out["frequency_edges"] = ",".join(map(str, self.frequency_edges))
        return out


def whole_number(raw: str | None, default: int | None) -> tuple[int | None, bool]:
    """(value, ok): an empty field is the default."""
    text = (raw or "").strip()
    if not text:
        return default, True
    return (int(text), True) if text.isdigit() else (default, False)


def read_form(values: Mapping[str, str]) -> AnalysisForm:
    form = AnalysisForm()
    errors: dict[str, str] = {}
    for name in (
        "lookback_days",
        "bucket_days",
        "outcome_days",
        "min_group",
        "delivery_id",
        "link_id",
    ):
        value, ok = whole_number(values.get(name), getattr(form, name))
        setattr(form, name, value)
        if not ok:
            errors[name] = FIELD_ERRORS[name]
    outcome = (values.get("outcome") or form.outcome).strip()
    if outcome in ("after", "period"):
        form.outcome = outcome
    else:
        errors["outcome"] = FIELD_ERRORS["outcome"]
    as_of = (values.get("as_of") or "").strip()
    if as_of:
        try:
            form.as_of = date.fromisoformat(as_of)
        except ValueError:
            errors["as_of"] = FIELD_ERRORS["as_of"]
    edges = (values.get("frequency_edges") or "").replace(" ", "")
    if edges:
        parts = edges.split(",")
        if all(part.isdigit() for part in parts):
            form.frequency_edges = tuple(int(part) for part in parts)
        else:
            errors["frequency_edges"] = FIELD_ERRORS["frequency_edges"]
    form.errors = errors
    return form


def params_for(page: AccountPage, form: AnalysisForm) -> ClickAnalysisParams:
    account = page.account
    return ClickAnalysisParams(
        as_of=as_of_moment(account, form.as_of, form.outcome, form.outcome_days),  # type: ignore[arg-type]
        lookback_days=form.lookback_days,
        bucket_days=form.bucket_days,
        frequency_edges=form.frequency_edges,
        outcome=form.outcome,  # type: ignore[arg-type]
        outcome_days=form.outcome_days,
        min_group=form.min_group,
        click_filter=form.click_filter,
    )


def run_analysis(
    session: Session,
    page: AccountPage,
    form: AnalysisForm,
    kinds: tuple[str, ...] = ("recency", "frequency"),
) -> ClickAnalysis | None:
    """The analysis, or None with the form's errors filled in."""
    if form.errors:
        return None
    try:
        return analyse_clicks(session, page.account, params_for(page, form), kinds)
    except ApiError as error:
        name = error.field if error.field in FIELD_ERRORS else "lookback_days"
        form.errors[name] = FIELD_ERRORS[name]
        return None
