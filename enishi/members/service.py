"""Member-ID linking (seed 001): a friend's LINE user ID ↔ the brand's member ID.

Two ways in, both recorded in MemberLink with their method:
- LINE's account-link flow: a link session (linkToken + nonce) → LINE's dialog → the
  `accountLink` webhook event → `complete_account_link`;
- the brand's backend calls the API (`link_member` with method "api").

A member ID belongs to one friend per account: linking it to another friend ends the old
link (history kept, `unlinked_by="moved"`). Services never commit.
"""

from __future__ import annotations

import base64
import logging
import re
import secrets
import struct
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from enishi.accounts.models import Account
from enishi.config import Settings
from enishi.db.base import utcnow
from enishi.events.service import Event, publish
from enishi.friends.models import FOLLOWING, Friend
from enishi.friends.service import LINE_USER_ID, get_friend, record_activity
from enishi.kit.crypto import Signer
from enishi.kit.errors import ApiError
from enishi.line.errors import LineError
from enishi.line.gateway import LineGateway
from enishi.members.models import LinkNonce, MemberLink

log = logging.getLogger(__name__)

LINK_TOKEN_TTL = timedelta(minutes=10)  # LINE's linkToken lifetime; the nonce dies with it
LINK_PAGE_TTL = timedelta(days=7)
MAX_DAILY_RANGE = 366
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
METHODS = ("account_link", "api", "import")


# --- linking and unlinking -----------------------------------------------------------------
def clean_member_id(raw: Any, field: str = "member_id") -> str:
    """The member ID as stored: trimmed, 1-200 characters, no control characters."""
    value = raw.strip() if isinstance(raw, str) else ""
    if not value or len(value) > 200 or _CONTROL.search(value):
        raise ApiError(422, "invalid", "a member ID is 1-200 printable characters", field)
    return value


def open_link(session: Session, friend_id: int) -> MemberLink | None:
    return session.scalar(
        select(MemberLink)
        .where(MemberLink.friend_id == friend_id, MemberLink.unlinked_at.is_(None))
        .order_by(MemberLink.id.desc())
        .limit(1)
    )


def _end_links(session: Session, friend: Friend, at: datetime, reason: str) -> str | None:
    """Close the friend's open link(s) and clear friend.member_id; the old member ID."""
    old = friend.member_id
    for link in session.scalars(
        select(MemberLink).where(
            MemberLink.friend_id == friend.id, MemberLink.unlinked_at.is_(None)
        )
    ):
        link.unlinked_at, link.unlinked_by = at, reason
    friend.member_id = None
    return old


def link_member(
    session: Session,
    friend: Friend,
    member_id: str,
    *,
    method: str,
    at: datetime | None = None,
) -> MemberLink:
    """Link `member_id` to the friend (idempotent: member.linked is published only when the
    link is new). A member ID held by another friend moves to this one; a different member
    ID this friend held is replaced."""
    if method not in METHODS:
        raise ValueError(f"unknown link method {method!r}")
    member_id = clean_member_id(member_id)
    at = at or utcnow()
    if friend.member_id == member_id:
        current = open_link(session, friend.id)
        if current is not None:
            return current
    holder = session.scalar(
        select(Friend).where(
            Friend.account_id == friend.account_id,
            Friend.member_id == member_id,
            Friend.id != friend.id,
        )
    )
    if holder is not None:
        _end_links(session, holder, at, "moved")
        record_activity(
            session,
            holder,
            "member_unlinked",
            at,
            {"member_id": member_id, "reason": "moved", "to": friend.line_user_id},
        )
    if friend.member_id is not None and friend.member_id != member_id:
        old = _end_links(session, friend, at, "replaced")
        record_activity(
            session, friend, "member_unlinked", at, {"member_id": old, "reason": "replaced"}
        )
    session.flush()  # the old holder lets go before the unique (account, member_id) sees us
    link = MemberLink(
        account_id=friend.account_id,
        friend_id=friend.id,
        member_id=member_id,
        method=method,
        linked_at=at,
    )
    try:  # in a savepoint: a concurrent link of the same ID fails this link, not the caller
        with session.begin_nested():
            friend.member_id = member_id
            session.add(link)
            session.flush()
    except IntegrityError:
        raise ApiError(
            409,
            "conflict",
            "this member ID was linked to another friend at the same moment",
            "member_id",
        ) from None
    record_activity(
        session, friend, "member_linked", at, {"member_id": member_id, "method": method}
    )
    publish(session, linked_event(friend.account_id, friend.id, member_id, method, at))
    return link


def linked_event(account_id: int, friend_id: int, member_id: str, method: str, at) -> Event:
    """member.linked: a member ID is now the friend's, and how (account_link, api, import)."""
    return Event(
        "member.linked",
        at,
        account_id=account_id,
        friend_id=friend_id,
        payload={"member_id": member_id, "method": method},
    )


def unlink_member(
    session: Session, friend: Friend, *, at: datetime | None = None, reason: str = "api"
) -> bool:
    """End the friend's link (idempotent); True when there was one."""
    if friend.member_id is None and open_link(session, friend.id) is None:
        return False
    at = at or utcnow()
    old = _end_links(session, friend, at, reason)
    record_activity(session, friend, "member_unlinked", at, {"member_id": old, "reason": reason})
    return True


def friend_by_member_id(session: Session, account_id: int, member_id: str) -> Friend | None:
    return session.scalar(
        select(Friend).where(Friend.account_id == account_id, Friend.member_id == member_id)
    )


def link_history(session: Session, friend_id: int) -> list[MemberLink]:
    return list(
        session.scalars(
            select(MemberLink)
            .where(MemberLink.friend_id == friend_id)
            .order_by(MemberLink.linked_at.desc(), MemberLink.id.desc())
        )
    )


# --- the account-link flow -----------------------------------------------------------------
@dataclass(frozen=True)
class LinkSession:
    redirect_url: str
    expires_at: datetime


def _line_failure(error: LineError, what: str) -> ApiError:
    """A LINE API failure as the API error enishi answers with."""
    if not error.reached:
        return ApiError(502, "line_unreachable", f"LINE could not be reached to {what}")
    if error.status == 400:
        return ApiError(
            422, "line_rejected", f"LINE refused to {what}: {error.message}", "line_user_id"
        )
    return ApiError(502, "line_error", f"LINE answered {error.status} to {what}: {error.message}")


def create_link_session(
    session: Session, *, line: LineGateway, account: Account, line_user_id: str, member_id: str
) -> LinkSession:
    """Issue a linkToken for the user (before anything is written), store a nonce standing
    for the member ID, and answer the URL of LINE's account-link dialog."""
    if not LINE_USER_ID.match(line_user_id or ""):
        raise ApiError(422, "invalid", "not a LINE user ID (U + 32 hex)", "line_user_id")
    member_id = clean_member_id(member_id)
    try:
        link_token = line.issue_link_token(line_user_id)
    except LineError as error:
        raise _line_failure(error, "issue a link token") from None
    now = utcnow()
    nonce = secrets.token_urlsafe(32)  # 256 random bits, 43 base64url characters
    session.add(
        LinkNonce(
            account_id=account.id,
            nonce=nonce,
            line_user_id=line_user_id,
            member_id=member_id,
            created_at=now,
            expires_at=now + LINK_TOKEN_TTL,
        )
    )
    session.flush()
    return LinkSession(
        redirect_url=line.account_link_url(link_token=link_token, nonce=nonce),
        expires_at=now + LINK_TOKEN_TTL,
    )


def complete_account_link(
    session: Session, friend: Friend | None, nonce: str, result: str, at: datetime
) -> None:
    """The accountLink webhook event. "ok" links the nonce's member ID to the friend;
    "failed" (LINE sends it without a source, so `friend` may be None) is recorded on the
    nonce's user; an unknown, expired, used or foreign nonce is recorded and ignored."""
    record = session.scalar(select(LinkNonce).where(LinkNonce.nonce == nonce)) if nonce else None
    if record is not None and friend is not None and record.account_id != friend.account_id:
        record = None  # another account's nonce is no nonce of ours
    if friend is None and record is not None and result != "ok":  # ok names its user
        friend = get_friend(session, record.account_id, record.line_user_id)
    if friend is None:
        log.info(
            "accountLink %s for an unknown user ignored (nonce known: %s)",
            result,
            record is not None,
        )
        return
    member_id = record.member_id if record is not None else None
    if result != "ok":
        record_activity(
            session, friend, "member_link_failed", at, {"result": result, "member_id": member_id}
        )
        return
    reason = None
    if record is None:
        reason = "unknown_nonce"
    elif record.line_user_id != friend.line_user_id:
        reason = "other_user"
    elif record.used_at is not None:
        if friend.member_id == record.member_id:
            return  # the same event processed again: already linked
        reason = "used_nonce"
    elif at > record.expires_at:
        reason = "expired_nonce"
    if reason is not None:
        log.info("accountLink ok ignored: %s", reason)
        record_activity(
            session, friend, "member_link_rejected", at, {"reason": reason, "member_id": member_id}
        )
        return
    record.used_at = at
    link_member(session, friend, record.member_id, method="account_link", at=at)


# --- the built-in link page ----------------------------------------------------------------
def _page_signer(secret_key: str) -> Signer:
    return Signer(secret_key, "member-link", size=16)


def link_page_token(
    secret_key: str, account_id: int, line_user_id: str, ttl: timedelta = LINK_PAGE_TTL
) -> str:
    """A signed, expiring token naming (account, LINE user): 59 URL-safe characters."""
    if not LINE_USER_ID.match(line_user_id):
        raise ValueError("not a LINE user ID")
    expires = int((utcnow() + ttl).timestamp())
    payload = struct.pack(">QI", account_id, expires) + bytes.fromhex(line_user_id[1:])
    raw = payload + _page_signer(secret_key).sign(payload)
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def read_link_page_token(secret_key: str, token: str) -> tuple[int, str] | None:
    """(account id, LINE user ID), or None for a forged, malformed or expired token."""
    if len(token) != 59:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=")
    except ValueError:
        return None
    payload, signature = raw[:28], raw[28:]
    if len(raw) != 44 or not _page_signer(secret_key).verify(payload, signature):
        return None
    account_id, expires = struct.unpack(">QI", payload[:12])
    if expires < utcnow().timestamp():
        return None
    return account_id, "U" + payload[12:].hex()


def link_page_url(
    settings: Settings, account_id: int, line_user_id: str, ttl: timedelta = LINK_PAGE_TTL
) -> str:
    """The built-in member-link page for a friend, to send them in a message."""
    token = link_page_token(settings.resolved_secret_key(), account_id, line_user_id, ttl)
    return f"{settings.public_base_url.rstrip('/')}/members/link/{token}"


# --- daily counts --------------------------------------------------------------------------
def _day_bounds(tz: ZoneInfo, start: date, end: date) -> tuple[datetime, datetime]:
    low = datetime.combine(start, time(0), tz).astimezone(UTC)
    high = datetime.combine(end + timedelta(days=1), time(0), tz).astimezone(UTC)
    return low, high


def daily_link_counts(session: Session, account: Account, start: date, end: date) -> dict:
    """New links, first-ever member IDs and unlinks per day in the account's timezone, and
    the share of following friends who are linked now."""
    if end < start:
        raise ApiError(400, "invalid", "`to` is before `from`", "to")
    if (end - start).days + 1 > MAX_DAILY_RANGE:
        raise ApiError(400, "invalid", f"at most {MAX_DAILY_RANGE} days at once", "to")
    tz = ZoneInfo(account.timezone or "Asia/Tokyo")
    low, high = _day_bounds(tz, start, end)
    days = {start + timedelta(days=i): [0, 0, 0] for i in range((end - start).days + 1)}

    def bucket(moments, index: int) -> None:
        for moment in moments:
            days[moment.astimezone(tz).date()][index] += 1

    in_range = (MemberLink.account_id == account.id,)
    bucket(
        session.scalars(
            select(MemberLink.linked_at).where(
                *in_range, MemberLink.linked_at >= low, MemberLink.linked_at < high
            )
        ),
        0,
    )
    first = (
        select(func.min(MemberLink.linked_at).label("first"))
        .where(*in_range)
        .group_by(MemberLink.member_id)
        .subquery()
    )
    bucket(
        session.scalars(select(first.c.first).where(first.c.first >= low, first.c.first < high)), 1
    )
    bucket(
        session.scalars(
            select(MemberLink.unlinked_at).where(
                *in_range, MemberLink.unlinked_at >= low, MemberLink.unlinked_at < high
            )
        ),
        2,
    )
    following, linked = session.execute(
        select(func.count(), func.count(Friend.member_id)).where(
            Friend.account_id == account.id, Friend.status == FOLLOWING
        )
    ).one()
    rows = [
        {"date": day, "links": c[0], "new_members": c[1], "unlinks": c[2]}
        for day, c in days.items()
    ]
    return {
        "timezone": str(tz),
        "days": rows,
        "total_links": sum(r["links"] for r in rows),
        "total_new_members": sum(r["new_members"] for r in rows),
        "total_unlinks": sum(r["unlinks"] for r in rows),
        "following_friends": following,
        "linked_following_friends": linked,
        "linked_share": round(linked / following, 4) if following else 0.0,
    }
