"""What every delivery page shares: the status, tracking and quota labels, the account's
time zone, and a delivery of this account (else the 404 page)."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from enishi.delivery import service
from enishi.delivery.models import PAUSED, SCHEDULED, SENDING, Delivery
from enishi.kit.errors import ApiError
from enishi.web.context import AccountPage
from enishi.web.errors import PageError
from enishi.web.i18n import N_
from enishi.web.pages.deliveries_problems import run_error

BASE = "/accounts/{account_id}/deliveries"
RUNNING = (SCHEDULED, SENDING, PAUSED)
STATUS_LABELS = {
    "draft": N_("下書き"),
    "scheduled": N_("予約済み"),
    "sending": N_("配信中"),
    "paused": N_("一時停止中"),
    "done": N_("完了"),
    "cancelled": N_("キャンセル"),
    "failed": N_("失敗"),
}
STATUSES = tuple(STATUS_LABELS)
TRACK_LABELS = {
    "friend": N_("計測する（友だちごと・プッシュ配信）"),
    "delivery": N_("計測する（配信ごと・一斉配信）"),
    "off": N_("計測しない"),
}
QUOTA_LABELS = {
    "refuse": N_("配信しない"),
    "partial": N_("上限まで無作為に選んで送る"),
}


def account_zone(page: AccountPage) -> ZoneInfo:
    try:
        return ZoneInfo(page.account.timezone)
    except (KeyError, ValueError):
        return ZoneInfo("Asia/Tokyo")


def find_delivery(
    session: Session, page: AccountPage, delivery_id: int, *, lock: bool = False
) -> Delivery:
    try:
        return service.get_delivery(session, page.account.id, delivery_id, lock=lock)
    except ApiError:
        raise PageError(404, N_("ページが見つかりません。")) from None


def label_context(page: AccountPage) -> dict[str, Any]:
    return {
        "status_labels": STATUS_LABELS,
        "track_labels": TRACK_LABELS,
        "quota_labels": QUOTA_LABELS,
        "tz": account_zone(page),
        "run_error": run_error,
    }
