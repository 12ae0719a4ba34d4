"""From tallies to the API's reports: rates, cost and ROAS per arm, the holdout comparison
(incremental conversions and revenue with 95% intervals) and the side-by-side comparison
of two groups. The arithmetic is here; the counting is in report.py, the statistics in
stats.py. Services never commit."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from enishi.accounts.models import Account
from enishi.db.base import utcnow
from enishi.delivery.models import HELD_OUT, HOLDOUT_ARM, SKIPPED, Delivery, DeliveryRecipient
from enishi.delivery.report import DeliveryTallies, Tally, tally
from enishi.delivery.schemas import (
    CompareSide,
    DeliveryReport,
    Estimate,
    FailureReason,
    GroupComparison,
    GroupReport,
    HoldoutComparison,
    WindowGroup,
)
from enishi.delivery.stats import Interval, Sample, mean_difference, proportion_difference
from enishi.kit.errors import ApiError

# Below these the normal approximations behind the intervals are not to be trusted: each
# group needs 30 friends and both together 10 who bought (a usual rule of thumb).
MIN_GROUP = 30
MIN_CONVERTERS = 10


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _cost(sent: int, cost_per_message: Decimal) -> float:
    return float(Decimal(sent) * cost_per_message)


def _estimate(interval: Interval | None, method: str) -> Estimate | None:
    if interval is None:
        return None
    return Estimate(
        estimate=interval.estimate,
        ci_low=interval.low,
        ci_high=interval.high,
        significant=interval.significant,
        method=method,
        df=getattr(interval, "df", None),
    )


def _proportions(x1: int, n1: int, x2: int, n2: int) -> Interval | None:
    # a friend counted in x but no longer in n (e.g. clicked, then the send was recorded
    # as failed) must not push a proportion over 1
    return proportion_difference(min(x1, n1), n1, min(x2, n2), n2)


def group_report(t: Tally, cost_per_message: Decimal) -> GroupReport:
    cost = _cost(t.sent, cost_per_message)
    revenue = int(t.revenue.total)
    block_base = t.held_out if t.name == HOLDOUT_ARM else t.sent
    return GroupReport(
        name=t.name,
        targeted=t.targeted,
        queued=t.queued,
        sent=t.sent,
        failed=t.failed,
        failed_by_reason=[
            FailureReason(reason=r, count=n) for r, n in t.failed_by_reason.most_common()
        ],
        cancelled=t.cancelled,
        skipped=t.skipped,
        held_out=t.held_out,
        clicks=t.clicks,
        unique_clicks=t.unique_clicks,
        ctr=_rate(t.unique_clicks, t.sent),
        conversions=t.conversions,
        converters=t.converters,
        cvr=_rate(t.converters, t.sent),
        revenue_jpy=revenue,
        revenue_per_recipient=revenue / t.sent if t.sent else None,
        cost_jpy=cost,
        roas=revenue / cost if cost else None,
        blocks_48h=t.blocks,
        block_rate=_rate(t.blocks, block_base),
    )


def _window_group(t: Tally) -> WindowGroup:
    n = t.window_friends
    return WindowGroup(
        friends=n,
        converters=t.window_converters,
        conversions=t.window_conversions,
        revenue_jpy=int(t.window_revenue.total),
        conversion_rate=_rate(t.window_converters, n),
        revenue_per_friend=t.window_revenue.total / n if n else None,
    )


def _shortfall(sizes: dict[str, int], converters: int) -> str | None:
    """Why the groups are too small to conclude (Japanese), or None when they are not."""
    small = [f"{label}が{n}人" for label, n in sizes.items() if n < MIN_GROUP]
    if converters < MIN_CONVERTERS:
        small.append(f"購入者が合わせて{converters}人")
    if not small:
        return None
    return (
        f"{'、'.join(small)}と少なすぎて結論できません（目安: 各群{MIN_GROUP}人以上、"
        f"購入者が合わせて{MIN_CONVERTERS}人以上）。区間は参考値です。"
    )


def _verdict(closed: bool, end: datetime | None, significant: bool) -> str:
    if not closed:
        return f"計測期間中のため暫定値です（{end:%Y-%m-%d %H:%M} UTC まで）。"
    if significant:
        return "差は統計的に有意です（95%信頼区間が0を含みません）。"
    return "有意な差は見られません（95%信頼区間が0を含みます）。"


def holdout_comparison(
    name: str, treated: Tally, holdout: Tally, dt: DeliveryTallies, cost_per_message: Decimal
) -> HoldoutComparison:
    """Treated (an arm, or every arm) vs held-out friends: every order in the window after
    the send, clicked or not. Randomized assignment makes the difference the delivery's
    effect; intervals are 95%."""
    now = utcnow()
    closed = dt.window_end is not None and now >= dt.window_end
    n1, n2 = treated.window_friends, holdout.window_friends
    cost = _cost(treated.sent, cost_per_message)
    shortfall = _shortfall(
        {"配信群": n1, "ホールドアウト": n2}, treated.window_converters + holdout.window_converters
    )
    if dt.window_start is None:
        status, message = "not_started", "まだ配信が始まっていません。"
    elif n2 == 0:
        status = "no_holdout"
        message = "ホールドアウト（配信しない対照群）がないため、増分効果は計算できません。"
    elif shortfall is not None:
        status, message = "too_small", shortfall
    else:
        status, message = "ok", ""
    out = HoldoutComparison(
        arm=name,
        status=status,
        conclusive=False,
        message="",
        window_start=dt.window_start,
        window_end=dt.window_end,
        window_closed=closed,
        treated=_window_group(treated),
        holdout=_window_group(holdout),
        cost_jpy=cost,
    )
    if status in ("ok", "too_small") and n1 > 0:
        rate = _proportions(treated.window_converters, n1, holdout.window_converters, n2)
        revenue = mean_difference(
            Sample(n1, treated.window_revenue.total, treated.window_revenue.total_sq),
            Sample(n2, holdout.window_revenue.total, holdout.window_revenue.total_sq),
        )
        out.conversion_rate_diff = _estimate(rate, "newcombe")
        out.revenue_per_friend_diff = _estimate(revenue, "welch")
        if rate is not None:
            out.incremental_conversions = _estimate(rate.scaled(n1), "newcombe")
        if revenue is not None:
            out.incremental_revenue_jpy = _estimate(revenue.scaled(n1), "welch")
        if cost and revenue is not None:
            out.incremental_roas = _estimate(revenue.scaled(n1 / cost), "welch")
        if treated.sent:
            out.block_rate_diff = _estimate(
                _proportions(treated.blocks, treated.sent, holdout.blocks, holdout.held_out),
                "newcombe",
            )
    significant = bool(
        (out.conversion_rate_diff and out.conversion_rate_diff.significant)
        or (out.revenue_per_friend_diff and out.revenue_per_friend_diff.significant)
    )
    out.conclusive = status == "ok" and closed
    out.message = message or _verdict(closed, dt.window_end, significant)
    return out


def delivery_report(session: Session, account: Account, delivery: Delivery) -> DeliveryReport:
    dt = tally(session, account, delivery)
    cpm = Decimal(account.cost_per_message_jpy)
    total = dt.total()
    total.add(dt.unassigned)  # attributed orders of friends outside the audience, if any
    treated_total = dt.total()
    has_holdout = dt.holdout.targeted > 0
    return DeliveryReport(
        delivery_id=delivery.id,
        name=delivery.name,
        status=delivery.status,
        final=delivery.finished_at is not None,
        started_at=delivery.started_at,
        finished_at=delivery.finished_at,
        track_links=delivery.track_links,
        cost_per_message_jpy=float(cpm),
        attribution_window_days=account.attribution_window_days,
        totals=_with_holdout_counts(group_report(total, cpm), dt.holdout),
        anonymous_clicks=dt.anonymous_clicks,
        arms=[group_report(t, cpm) for t in dt.arms.values()],
        holdout=group_report(dt.holdout, cpm) if has_holdout else None,
        holdout_comparison=holdout_comparison("total", treated_total, dt.holdout, dt, cpm),
        holdout_comparison_by_arm=[
            holdout_comparison(name, t, dt.holdout, dt, cpm) for name, t in dt.arms.items()
        ]
        if len(dt.arms) > 1
        else [],
    )


def _with_holdout_counts(report: GroupReport, holdout: Tally) -> GroupReport:
    """The delivery's total targets everyone assigned, the held-out friends included."""
    report.targeted += holdout.targeted
    report.held_out += holdout.held_out
    return report


# --- two groups side by side -----------------------------------------------------------------
def _side(
    session: Session,
    account: Account,
    delivery_id: int,
    arm: str | None,
    field: str,
    tallied: dict[int, DeliveryTallies],
) -> tuple[Delivery, Tally]:
    """One side's delivery and figures; a delivery is counted once for both sides."""
    if delivery_id not in tallied:
        delivery = session.scalar(
            select(Delivery).where(Delivery.id == delivery_id, Delivery.account_id == account.id)
        )
        if delivery is None:
            raise ApiError(404, "not_found", f"delivery {delivery_id} not found", field)
        tallied[delivery_id] = tally(session, account, delivery)
    dt = tallied[delivery_id]
    if arm is None:
        return dt.delivery, dt.total()
    if arm not in dt.arms:
        raise ApiError(
            422,
            "invalid",
            f"delivery {delivery_id} has no arm {arm!r} (arms: {', '.join(dt.arms)})",
            f"{field}_arm",
        )
    return dt.delivery, dt.arms[arm]


def _overlap(session: Session, a: int, a_arm: str | None, b: int, b_arm: str | None) -> int:
    """Friends assigned (not held out or skipped) to both groups."""
    ra, rb = DeliveryRecipient.__table__.alias("ra"), DeliveryRecipient.__table__.alias("rb")
    conditions = [
        ra.c.delivery_id == a,
        ra.c.status.not_in((HELD_OUT, SKIPPED)),
        rb.c.status.not_in((HELD_OUT, SKIPPED)),
    ]
    if a_arm is not None:
        conditions.append(ra.c.arm == a_arm)
    if b_arm is not None:
        conditions.append(rb.c.arm == b_arm)
    joined = ra.join(rb, and_(rb.c.delivery_id == b, rb.c.friend_id == ra.c.friend_id))
    return session.scalar(select(func.count()).select_from(joined).where(*conditions)) or 0


def compare(
    session: Session,
    account: Account,
    a: int,
    b: int,
    a_arm: str | None = None,
    b_arm: str | None = None,
) -> GroupComparison:
    """Group a vs group b (two arms of one delivery, or two deliveries — e.g. the same
    message sent to two segments): CTR, CVR and revenue per sent recipient, click-based,
    with the difference a − b and its 95% interval."""
    if a_arm == HOLDOUT_ARM or b_arm == HOLDOUT_ARM:
        raise ApiError(
            422,
            "invalid",
            "the holdout received nothing: see the report's holdout_comparison",
            "a_arm" if a_arm == HOLDOUT_ARM else "b_arm",
        )
    if a == b and a_arm == b_arm:
        raise ApiError(422, "invalid", "compare two different groups", "b")
    cpm = Decimal(account.cost_per_message_jpy)
    tallied: dict[int, DeliveryTallies] = {}
    da, ta = _side(session, account, a, a_arm, "a", tallied)
    db, tb = _side(session, account, b, b_arm, "b", tallied)
    overlap = 0 if a == b and a_arm and b_arm else _overlap(session, a, a_arm, b, b_arm)
    shortfall = _shortfall({"a": ta.sent, "b": tb.sent}, ta.converters + tb.converters)
    status = "ok" if shortfall is None else "too_small"
    out = GroupComparison(
        a=CompareSide(delivery_id=a, delivery_name=da.name, arm=a_arm, group=group_report(ta, cpm)),
        b=CompareSide(delivery_id=b, delivery_name=db.name, arm=b_arm, group=group_report(tb, cpm)),
        overlap_friends=overlap,
        status=status,
        conclusive=status == "ok" and overlap == 0,
        message="",
    )
    if ta.sent and tb.sent:
        out.ctr_diff = _estimate(
            _proportions(ta.unique_clicks, ta.sent, tb.unique_clicks, tb.sent), "newcombe"
        )
        out.cvr_diff = _estimate(
            _proportions(ta.converters, ta.sent, tb.converters, tb.sent), "newcombe"
        )
        out.revenue_per_recipient_diff = _estimate(
            mean_difference(
                Sample(ta.sent, ta.revenue.total, ta.revenue.total_sq),
                Sample(tb.sent, tb.revenue.total, tb.revenue.total_sq),
            ),
            "welch",
        )
    if overlap:
        out.message = (
            f"{overlap}人が両方のグループに含まれています。独立な2群の比較にならないため、"
            "区間は参考値です。"
        )
    elif shortfall is not None:
        out.message = shortfall
    else:
        significant = [
            label
            for label, e in (
                ("CTR", out.ctr_diff),
                ("CVR", out.cvr_diff),
                ("受信者あたり売上", out.revenue_per_recipient_diff),
            )
            if e is not None and e.significant
        ]
        out.message = (
            f"有意な差: {', '.join(significant)}（95%信頼区間が0を含みません）。"
            if significant
            else "有意な差は見られません（95%信頼区間が0を含みます）。"
        )
    return out
