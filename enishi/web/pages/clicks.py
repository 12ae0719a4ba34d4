"""クリック分析 Click recency / frequency analysis (seed 000): for a chosen period and an
optional delivery / link filter, how long ago friends last clicked and how often, with the
purchase rate of each bucket and the detected fall-off; a bucket range becomes a segment in
one click (marketers, audited); the same numbers as CSV.

The numbers come from enishi.analytics.clicks (one aggregate query); this module only reads
the form, draws and links."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields, replace
from datetime import date, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from enishi.analytics.click_segments import (
    ClickFilter,
    frequency_definition,
    frequency_label,
    never_definition,
    recency_definition,
    recency_label,
    save_click_segment,
)
from enishi.analytics.clicks import (
    ClickAnalysis,
    ClickAnalysisParams,
    analyse_clicks,
    as_of_moment,
    frequency_report,
    recency_report,
)
from enishi.analytics.csv_export import analysis_csv
from enishi.delivery.models import Delivery
from enishi.deps import db_session
from enishi.kit.errors import ApiError
from enishi.operators.roles import Role
from enishi.segments.models import Segment
from enishi.segments.service import count_segment
from enishi.tracking.models import Link
from enishi.web.context import AccountPage, account_page
from enishi.web.errors import PageError
from enishi.web.figures.clicks import ChartBucket, ChartCut, bucket_figure, position_between
from enishi.web.i18n import N_
from enishi.web.render import redirect_to, render

router = APIRouter()

BASE = "/accounts/{account_id}/analysis/clicks"
LOOKBACK_CHOICES = (30, 60, 90, 120, 180, 365)
BUCKET_CHOICES = (1, 3, 5, 7, 10, 14, 30)
OUTCOME_DAY_CHOICES = (7, 14, 30, 60, 90)
FILTER_OPTIONS = 50  # deliveries / links offered in the filter selects
AUTO_NAME_TRIES = 20

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


# --- the form ----------------------------------------------------------------------------------
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


def _whole(raw: str | None, default: int | None) -> tuple[int | None, bool]:
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
        value, ok = _whole(values.get(name), getattr(form, name))
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


# --- what the page shows -----------------------------------------------------------------------
def _pct(rate: float | None) -> str:
    return "—" if rate is None else f"{rate:.1%}"


def recency_bucket_label(bucket: dict[str, Any], page: AccountPage) -> str:
    if bucket["key"] == "never":
        return page.t("クリックなし")
    if bucket["key"] == "older":
        return page.t("{days}日以上（期間内クリックなし）", days=bucket["min"])
    return page.t("{low}〜{high}日", low=bucket["min"], high=bucket["max"])


def frequency_bucket_label(bucket: dict[str, Any], page: AccountPage) -> str:
    low, high = bucket["min"], bucket["max"]
    if high is None:
        return page.t("{count}回以上", count=low)
    if high == low:
        return page.t("{count}回", count=low)
    return page.t("{low}〜{high}回", low=low, high=high)


def _rows(buckets: list[dict[str, Any]], label) -> list[dict[str, Any]]:
    return [{**b, "display": label(b), "rate_text": _pct(b["purchase_rate"])} for b in buckets]


def recency_view(analysis: ClickAnalysis, page: AccountPage) -> dict[str, Any]:
    report = recency_report(analysis)
    rows = _rows(report["buckets"], lambda b: recency_bucket_label(b, page))
    falloff = report["falloff"]
    chart_buckets = [
        ChartBucket(r["display"], r["min"], r["max"], r["friends"], r["purchase_rate"])
        for r in rows
    ]
    cut = statement = None
    if falloff is not None:
        n = falloff["days"]
        in_period = len([r for r in rows if r["key"] not in ("older", "never")]) - 0.5
        position = position_between(chart_buckets, n + 1, analysis.params.lookback_days + 1)
        cut = ChartCut(
            in_period if position is None else position,  # None: the cut ends the period
            page.t("{days}日以内 ｜ {next}日以上", days=n, next=n + 1),
            falloff["inside"]["purchase_rate"],
            falloff["outside"]["purchase_rate"],
            inside_first=True,
            step_end=in_period,
        )
        inside, outside, rest = falloff["inside"], falloff["outside"], falloff["complement"]
        low, high = falloff["difference_ci95"]
        statement = {
            "days": n,
            "headline": page.t(
                "{days}日以内にクリックした友だちの購入率は {inside}、{next}日以上は {rest}",
                days=n,
                inside=_pct(inside["purchase_rate"]),
                next=n + 1,
                rest=_pct(rest["purchase_rate"]),
            ),
            "detail": page.t(
                "{days}日以内: {inside_friends}人・購入者{inside_buyers}人。"
                "{low}〜{high}日前にクリック: {outside_friends}人・購入率 {outside}。"
                "{next}日以上（クリックなしを含む）: {rest_friends}人。",
                days=n,
                inside_friends=f"{inside['friends']:,}",
                inside_buyers=f"{inside['purchasers']:,}",
                low=outside["min_days"],
                high=outside["max_days"],
                outside_friends=f"{outside['friends']:,}",
                outside=_pct(outside["purchase_rate"]),
                next=n + 1,
                rest_friends=f"{rest['friends']:,}",
            ),
            "difference": page.t(
                "購入率の差 {difference}ポイント（95%信頼区間 {low}〜{high}）",
                difference=f"{falloff['difference'] * 100:.1f}",
                low=f"{low * 100:.1f}",
                high=f"{high * 100:.1f}",
            ),
            "inside_range": ("0", str(n)),
            "rest_range": (str(n + 1), "never"),
        }
        for row in rows:
            row["in_cut"] = row["max"] is not None and row["min"] <= n <= row["max"]
    figure = bucket_figure(chart_buckets, cut, page.t, x_title=page.t("最後のクリックからの日数"))
    return {"report": report, "rows": rows, "figure": figure, "falloff": statement}


def frequency_view(analysis: ClickAnalysis, page: AccountPage) -> dict[str, Any]:
    report = frequency_report(analysis)
    rows = _rows(report["buckets"], lambda b: frequency_bucket_label(b, page))
    threshold = report["threshold"]
    chart_buckets = [
        ChartBucket(r["display"], r["min"], r["max"], r["friends"], r["purchase_rate"])
        for r in rows
    ]
    cut = statement = None
    if threshold is not None:
        k = threshold["clicks"]
        position = position_between(chart_buckets, k, analysis.params.cap)
        inside, outside = threshold["inside"], threshold["outside"]
        cut = ChartCut(
            position if position is not None else -0.5,
            page.t("{count}回以上", count=k),
            inside["purchase_rate"],
            outside["purchase_rate"],
            inside_first=False,
            step_end=len(rows) - 0.5,
        )
        statement = {
            "clicks": k,
            "headline": page.t(
                "直近{days}日で{count}回以上クリックした友だちの購入率は {inside}、それ未満は {outside}",
                days=analysis.params.lookback_days,
                count=k,
                inside=_pct(inside["purchase_rate"]),
                outside=_pct(outside["purchase_rate"]),
            ),
            "inside_range": (str(k), ""),
        }
    figure = bucket_figure(chart_buckets, cut, page.t, x_title=page.t("期間内のクリック回数"))
    return {"report": report, "rows": rows, "figure": figure, "threshold": statement}


def _range_options(rows: list[dict[str, Any]], kind: str) -> dict[str, list[tuple[str, str]]]:
    """Values for the "from" and "to" selects of the segment form."""
    starts, ends = [], []
    for row in rows:
        if kind == "recency" and row["key"] in ("older", "never"):
            starts.append((str(row["min"]) if row["key"] == "older" else "never", row["display"]))
            ends.append((row["key"], row["display"]))
        else:
            starts.append((str(row["min"]), row["display"]))
            ends.append(("" if row["max"] is None else str(row["max"]), row["display"]))
    return {"from": starts, "to": ends}


def _filter_options(session: Session, page: AccountPage, form: AnalysisForm) -> dict[str, Any]:
    """A few recent deliveries and links for the filter (plus the chosen ones)."""
    account_id = page.account.id
    deliveries = list(
        session.execute(
            select(Delivery.id, Delivery.name)
            .where(Delivery.account_id == account_id)
            .order_by(Delivery.id.desc())
            .limit(FILTER_OPTIONS)
        )
    )
    links_query = select(Link.id, Link.label, Link.url).where(Link.account_id == account_id)
    if form.delivery_id is not None:
        links_query = links_query.where(Link.delivery_id == form.delivery_id)
    links = list(session.execute(links_query.order_by(Link.id.desc()).limit(FILTER_OPTIONS)))
    if form.delivery_id is not None and form.delivery_id not in {d.id for d in deliveries}:
        deliveries += list(
            session.execute(
                select(Delivery.id, Delivery.name).where(
                    Delivery.account_id == account_id, Delivery.id == form.delivery_id
                )
            )
        )
    if form.link_id is not None and form.link_id not in {link.id for link in links}:
        links += list(
            session.execute(
                select(Link.id, Link.label, Link.url).where(
                    Link.account_id == account_id, Link.id == form.link_id
                )
            )
        )
    return {"deliveries": deliveries, "links": links}


def _created_segment(session: Session, page: AccountPage, raw: str | None) -> dict | None:
    if not raw or not raw.isdigit():
        return None
    segment = session.get(Segment, int(raw))
    if segment is None or segment.account_id != page.account.id:
        return None
    return {
        "segment": segment,
        "friends": count_segment(session, page.account.id, segment.definition),
    }


def _analysis_page(
    request: Request,
    page: AccountPage,
    session: Session,
    form: AnalysisForm,
    *,
    segment_form: dict[str, Any] | None = None,
    status: int = 200,
) -> HTMLResponse:
    analysis = run_analysis(session, page, form)
    context: dict[str, Any] = {
        "form": form,
        "query": form.query(),
        "query_string": urlencode(form.query()),
        "choices": {
            "lookback": sorted({*LOOKBACK_CHOICES, form.lookback_days}),
            "bucket": sorted({*BUCKET_CHOICES, form.bucket_days}),
            "outcome_days": sorted({*OUTCOME_DAY_CHOICES, form.outcome_days}),
        },
        "filters": _filter_options(session, page, form),
        "segment_request": segment_form or {},
        "created": _created_segment(session, page, request.query_params.get("created")),
        "analysis": None,
    }
    if analysis is not None:
        zone = ZoneInfo(page.account.timezone)
        params = analysis.params
        recency, frequency = recency_view(analysis, page), frequency_view(analysis, page)
        start, end = params.outcome_window()
        context.update(
            analysis=analysis,
            recency=recency,
            frequency=frequency,
            meta=recency["report"],
            as_of_day=(params.as_of - timedelta(seconds=1)).astimezone(zone).date(),
            since_day=params.since.astimezone(zone).date(),
            outcome_from=start.astimezone(zone).date(),
            outcome_to=(end - timedelta(seconds=1)).astimezone(zone).date(),
            range_options={
                "recency": _range_options(recency["rows"], "recency"),
                "frequency": _range_options(frequency["rows"], "frequency"),
            },
        )
    if form.errors:
        status = 422
    return render(request, "clicks/analysis.html", page, context, status=status)


@router.get(BASE)
def clicks_page(
    request: Request,
    page: AccountPage = Depends(account_page(Role.VIEWER)),
    session: Session = Depends(db_session, scope="function"),
) -> HTMLResponse:
    return _analysis_page(request, page, session, read_form(request.query_params))


@router.get(BASE + ".csv")
def clicks_csv(
    request: Request,
    kind: str = "recency",
    page: AccountPage = Depends(account_page(Role.VIEWER)),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    """The numbers of the page (buckets, then per day or per click count) for Excel."""
    if kind not in ("recency", "frequency"):
        raise PageError(404, N_("ページが見つかりません。"))
    form = read_form(request.query_params)
    analysis = run_analysis(session, page, form, (kind,))
    if analysis is None:
        raise PageError(422, next(iter(form.errors.values())))
    day = (
        (analysis.params.as_of - timedelta(seconds=1))
        .astimezone(ZoneInfo(page.account.timezone))
        .date()
    )
    return Response(
        analysis_csv(kind, analysis),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="click-{kind}-{day}.csv"'},
    )


# --- a segment from a bucket range ---------------------------------------------------------
def range_definition(
    kind: str, start: str, end: str, form: AnalysisForm
) -> tuple[dict[str, Any], str]:
    """(segment definition, default name) of the friends in the chosen bucket range."""
    flt = form.click_filter
    if kind == "recency":
        if start == "never":
            if end != "never":
                raise ApiError(422, "invalid_range", "never is a range of its own", "range")
            return never_definition(flt), f"{flt.label()}クリックなし"
        low, _ok = _whole(start, None)
        if low is None:
            raise ApiError(422, "invalid_range", "no start", "range")
        if end in ("older", "never"):
            include_never = end == "never"
            return (
                recency_definition(low, None, flt, include_never=include_never),
                recency_label(low, None, flt, include_never),
            )
        high, _ok = _whole(end, None)
        if high is None or high < low:
            raise ApiError(422, "invalid_range", "the end is before the start", "range")
        return recency_definition(low, high, flt), recency_label(low, high, flt)
    if kind == "frequency":
        low, ok_low = _whole(start, None)
        high, ok_high = _whole(end, None)
        if low is None or not (ok_low and ok_high):
            raise ApiError(422, "invalid_range", "no start", "range")
        return (
            frequency_definition(low, high, form.lookback_days, flt),
            frequency_label(low, high, form.lookback_days, flt),
        )
    raise ApiError(422, "invalid_range", "kind is recency or frequency", "range")


def _save(session: Session, page: AccountPage, name: str, auto: bool, definition):
    """Save under `name`; an automatic name that is taken gets " (2)", " (3)"…"""
    tries = [name] + ([f"{name} ({n})" for n in range(2, AUTO_NAME_TRIES)] if auto else [])
    for attempt in tries:
        try:
            return save_click_segment(session, page.account.id, attempt, definition)
        except ApiError as error:
            if error.status != 409 or attempt == tries[-1]:
                raise
    raise AssertionError("unreachable")


class SegmentRequest(BaseModel):
    """The segment form: a bucket range of one analysis, whose settings travel with it."""

    kind: str = ""
    range_from: str = ""
    range_to: str = ""
    name: str = ""
    as_of: str = ""
    lookback_days: str = ""
    bucket_days: str = ""
    outcome: str = ""
    outcome_days: str = ""
    min_group: str = ""
    frequency_edges: str = ""
    delivery_id: str = ""
    link_id: str = ""


@router.post(BASE + "/segments")
def create_click_segment(
    request: Request,
    data: Annotated[SegmentRequest, Form()],
    page: AccountPage = Depends(account_page(Role.MARKETER)),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    form = read_form(data.model_dump())
    kind, start, end, typed = data.kind, data.range_from, data.range_to, data.name.strip()
    segment_form = {"kind": kind, "from": start, "to": end, "name": typed}
    try:
        if form.errors:
            raise ApiError(422, "invalid", "the analysis settings are invalid", "range")
        definition, label = range_definition(kind, start, end, form)
        segment, friends = _save(session, page, typed or label, not typed, definition)
    except ApiError as error:
        session.rollback()
        field_name = "name" if error.field == "name" else "range"
        segment_form["error"] = FIELD_ERRORS[field_name]
        return _analysis_page(
            request, page, session, replace(form, errors={}), segment_form=segment_form, status=422
        )
    page.audit(
        session,
        action="segment.created",
        target=f"segment:{segment.id}",
        details={
            "name": segment.name,
            "source": "click_analysis",
            "definition": segment.definition,
            "friends": friends,
        },
    )
    query = {**form.query(), "created": str(segment.id)}
    path = f"{BASE.format(account_id=page.account.id)}?{urlencode(query)}"
    return redirect_to(request, path, notice="saved")
