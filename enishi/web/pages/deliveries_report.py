"""The delivery report's charts (plotly figure JSON built from analysis.delivery_report;
docs/web.md §Charts; static/charts.js draws them) and its holdout conclusion in words."""

from __future__ import annotations

from typing import Any

from enishi.delivery.analysis import MIN_CONVERTERS, MIN_GROUP
from enishi.delivery.schemas import DeliveryReport, Estimate, HoldoutComparison
from enishi.web.context import AccountPage
from enishi.web.i18n import N_, translate
from enishi.web.pages.deliveries_common import account_zone

ACCENT, MUTED, HOLDOUT = "#06c755", "#94a3b8", "#f59e0b"


def _percent(value: float | None) -> float | None:
    return None if value is None else round(value * 100, 3)


def outcome_figure(report: DeliveryReport, lang: str) -> dict[str, Any]:
    """Stacked bars per arm: sent, failed, cancelled/skipped, held out."""
    groups = [*report.arms, *([report.holdout] if report.holdout else [])]
    names = [
        translate(lang, N_("ホールドアウト")) if g is report.holdout else g.name for g in groups
    ]
    series = [
        (N_("送信済み"), [g.sent for g in groups], ACCENT),
        (N_("失敗"), [g.failed for g in groups], "#c62828"),
        (N_("キャンセル・上限超過"), [g.cancelled + g.skipped for g in groups], MUTED),
        (N_("配信待ち"), [g.queued for g in groups], "#60a5fa"),
        (N_("ホールドアウト"), [g.held_out for g in groups], HOLDOUT),
    ]
    return {
        "data": [
            {
                "type": "bar",
                "name": translate(lang, label),
                "x": names,
                "y": values,
                "marker": {"color": color},
            }
            for label, values, color in series
            if any(values)
        ],
        "layout": {
            "barmode": "stack",
            "height": 280,
            "yaxis": {"title": {"text": translate(lang, N_("人数"))}},
            "legend": {"orientation": "h"},
        },
    }


def rates_figure(report: DeliveryReport, lang: str) -> dict[str, Any]:
    """CTR and CVR per arm (percent of sent)."""
    names = [g.name for g in report.arms]
    return {
        "data": [
            {
                "type": "bar",
                "name": "CTR",
                "x": names,
                "marker": {"color": ACCENT},
                "y": [_percent(g.ctr) for g in report.arms],
            },
            {
                "type": "bar",
                "name": "CVR",
                "x": names,
                "marker": {"color": "#0b6bcb"},
                "y": [_percent(g.cvr) for g in report.arms],
            },
        ],
        "layout": {
            "barmode": "group",
            "height": 280,
            "legend": {"orientation": "h"},
            "yaxis": {
                "title": {"text": translate(lang, N_("送信数に対する割合（%）"))},
                "rangemode": "tozero",
            },
        },
    }


def _ci_point(estimate: Estimate | None, scale: float) -> tuple[float | None, float, float]:
    if estimate is None:
        return None, 0.0, 0.0
    value = estimate.estimate * scale
    low = value - estimate.ci_low * scale if estimate.ci_low is not None else 0.0
    high = estimate.ci_high * scale - value if estimate.ci_high is not None else 0.0
    return round(value, 4), round(high, 4), round(low, 4)


def holdout_figure(report: DeliveryReport, lang: str) -> dict[str, Any] | None:
    """The conversion-rate lift (treated − holdout, percentage points) with its 95%
    interval, for the total and each arm; None when there is nothing to compare."""
    rows: list[HoldoutComparison] = [
        c
        for c in [report.holdout_comparison, *report.holdout_comparison_by_arm]
        if c.conversion_rate_diff is not None
    ]
    if not rows:
        return None
    points = [_ci_point(c.conversion_rate_diff, 100) for c in rows]
    labels = [translate(lang, N_("全体")) if c.arm == "total" else c.arm for c in rows]
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "markers",
                "x": [p[0] for p in points],
                "y": labels,
                "marker": {"size": 11, "color": ACCENT},
                "error_x": {
                    "type": "data",
                    "symmetric": False,
                    "array": [p[1] for p in points],
                    "arrayminus": [p[2] for p in points],
                    "color": "#1f2933",
                },
                "name": translate(lang, N_("CVRの差（ポイント）")),
            }
        ],
        "layout": {
            "height": 140 + 40 * len(rows),
            "margin": {"t": 16, "r": 16, "b": 64, "l": 60},
            "xaxis": {
                "title": {
                    "text": translate(
                        lang, N_("CVRの差（配信 − ホールドアウト、%ポイント、95%信頼区間）")
                    )
                },
                "zeroline": True,
                "zerolinecolor": "#c62828",
            },
            "yaxis": {"autorange": "reversed"},
            "showlegend": False,
        },
    }


def holdout_message(page: AccountPage, c: HoldoutComparison) -> str:
    """The holdout comparison's conclusion in the page's language, from its figures (the
    API's `message` says the same in Japanese only; enishi.delivery.analysis)."""
    if c.status == "not_started":
        return page.t(N_("まだ配信が始まっていません。"))
    if c.status == "no_holdout":
        return page.t(
            N_("ホールドアウト（配信しない対照群）がないため、増分効果は計算できません。")
        )
    if c.status == "too_small":
        groups = ((N_("配信群"), c.treated.friends), (N_("ホールドアウト"), c.holdout.friends))
        parts = [
            page.t(N_("{group}が{count}人"), group=page.t(label), count=f"{count:,}")
            for label, count in groups
            if count < MIN_GROUP
        ]
        converters = c.treated.converters + c.holdout.converters
        if converters < MIN_CONVERTERS:
            parts.append(page.t(N_("購入者が合わせて{count}人"), count=f"{converters:,}"))
        return page.t(
            N_(
                "{parts}と少なすぎて結論できません（目安: 各群{min_group}人以上、購入者が合わせて{min_converters}人以上）。区間は参考値です。"
            ),
            parts=page.t(N_("、")).join(parts),
            min_group=MIN_GROUP,
            min_converters=MIN_CONVERTERS,
        )
    if not c.window_closed and c.window_end is not None:
        end = c.window_end.astimezone(account_zone(page)).strftime("%Y-%m-%d %H:%M")
        return page.t(N_("計測期間中のため暫定値です（{end} まで）。"), end=end)
    if any(
        e is not None and e.significant for e in (c.conversion_rate_diff, c.revenue_per_friend_diff)
    ):
        return page.t(N_("差は統計的に有意です（95%信頼区間が0を含みません）。"))
    return page.t(N_("有意な差は見られません（95%信頼区間が0を含みます）。"))
