"""Tracked links: creating them safely, finding them, counting their clicks, and the exact
redirect target (destination + UTM parameters) that `/c/{token}` answers with."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from enishi.kit.errors import ApiError
from enishi.tracking.models import Click, Link

URL_MAX = 2000
LABEL_MAX = 200
UTM_KEY = re.compile(r"^utm_[a-z0-9_]{1,30}$")
UTM_MAX_KEYS = 10
UTM_VALUE_MAX = 200
_UTM_ORDER = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "utm_id")
_FORBIDDEN_CHARS = re.compile(r"[\x00-\x20\x7f\\]")
# characters kept as they are when a destination is made ASCII for the Location header
_URI_SAFE = "!#$%&'()*+,-./:;=?@[]_~"


def check_url(url: Any, field: str = "url") -> str:
    """A destination a friend may be sent to: absolute http(s) with a host, at most 2,000
    characters, no whitespace, control characters or credentials. Anything else (javascript:,
    data:, relative or protocol-relative URLs) is refused, so a link can never run script or
    redirect somewhere the account did not name."""
    if not isinstance(url, str) or not url:
        raise ApiError(422, "invalid", "url must be a non-empty string", field)
    if len(url) > URL_MAX:
        raise ApiError(422, "invalid", f"url must be at most {URL_MAX} characters", field)
    if _FORBIDDEN_CHARS.search(url):
        raise ApiError(422, "invalid", "url must not contain spaces or control characters", field)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ApiError(422, "invalid", "url is not a valid URL", field) from None
    if parts.scheme.lower() not in ("http", "https"):
        raise ApiError(422, "invalid", "url must start with http:// or https://", field)
    if not parts.hostname or port == 0:
        raise ApiError(422, "invalid", "url must name a host", field)
    if parts.username is not None or parts.password is not None:
        raise ApiError(422, "invalid", "url must not contain a user name or password", field)
    try:
        _ascii_host(parts.hostname)
    except UnicodeError:
        raise ApiError(422, "invalid", "url has a host name that is not valid", field) from None
    return url


def check_utm(utm: Any, field: str = "utm") -> dict[str, str] | None:
    if utm is None or utm == {}:
        return None
    if not isinstance(utm, dict) or len(utm) > UTM_MAX_KEYS:
        raise ApiError(
            422, "invalid", f"utm must be an object of at most {UTM_MAX_KEYS} entries", field
        )
    out: dict[str, str] = {}
    for key, value in utm.items():
        if not isinstance(key, str) or not UTM_KEY.match(key):
            raise ApiError(
                422, "invalid", "utm keys look like utm_source, utm_medium, utm_campaign…", field
            )
        if not isinstance(value, str) or not value or len(value) > UTM_VALUE_MAX:
            raise ApiError(
                422,
                "invalid",
                f"utm values are strings of 1-{UTM_VALUE_MAX} characters",
                f"{field}.{key}",
            )
        out[key] = value
    return out


def create_link(
    session: Session,
    account_id: int,
    url: str,
    *,
    delivery_id: int | None = None,
    utm: dict[str, str] | None = None,
    label: str | None = None,
) -> Link:
    """A new tracked link (flushed, so it has its id)."""
    url = check_url(url)
    utm = check_utm(utm)
    if label is not None and len(label) > LABEL_MAX:
        raise ApiError(422, "invalid", f"label must be at most {LABEL_MAX} characters", "label")
    link = Link(account_id=account_id, url=url, delivery_id=delivery_id, utm=utm, label=label)
    session.add(link)
    session.flush()
    return link


def get_link(session: Session, account_id: int, link_id: int) -> Link | None:
    link = session.get(Link, link_id)
    return link if link is not None and link.account_id == account_id else None


def find_link(
    session: Session,
    account_id: int,
    url: str,
    *,
    delivery_id: int | None,
    utm: dict[str, str] | None,
) -> Link | None:
    """An existing link for this URL in this delivery (or outside any), with the same UTM."""
    query = select(Link).where(Link.account_id == account_id, Link.url == url)
    query = query.where(
        Link.delivery_id.is_(None) if delivery_id is None else Link.delivery_id == delivery_id
    )
    for link in session.scalars(query.order_by(Link.id)):
        if (link.utm or None) == (utm or None):
            return link
    return None


def list_links(
    session: Session,
    account_id: int,
    *,
    before_id: int | None,
    limit: int,
    delivery_id: int | None = None,
) -> list[Link]:
    """Newest first."""
    query = select(Link).where(Link.account_id == account_id)
    if delivery_id is not None:
        query = query.where(Link.delivery_id == delivery_id)
    if before_id is not None:
        query = query.where(Link.id < before_id)
    return list(session.scalars(query.order_by(Link.id.desc()).limit(limit)))


def click_counts(session: Session, link_id: int) -> dict[str, int]:
    """Every click, clicks that named a friend, and distinct friends who clicked."""
    total, with_friend, unique = session.execute(
        select(
            func.count(Click.id),
            func.count(Click.friend_id),
            func.count(func.distinct(Click.friend_id)),
        ).where(Click.link_id == link_id)
    ).one()
    return {"total": total, "with_friend": with_friend, "unique_friends": unique}


def redirect_location(url: str, utm: dict[str, str] | None) -> str:
    """The Location a click is sent to: the destination with the link's UTM parameters
    added to its query (parameters it already has are kept and win), the fragment kept
    last, and everything made ASCII (IRIs percent-encoded, hosts in IDNA)."""
    parts = urlsplit(url)
    present = {pair.split("=", 1)[0] for pair in parts.query.split("&") if pair}
    extra = {k: utm[k] for k in sorted(utm or {}, key=_utm_order) if k not in present}
    if extra or not parts.netloc.isascii():
        query = parts.query
        if extra:
            query = f"{query}&{urlencode(extra)}" if query else urlencode(extra)
        netloc = parts.netloc
        if not netloc.isascii():
            netloc = _ascii_host(parts.hostname or "") + (
                f":{parts.port}" if parts.port is not None else ""
            )
        url = urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    return quote(url, safe=_URI_SAFE)


def _utm_order(key: str) -> tuple[int, str]:
    """The usual order (source, medium, campaign, term, content), whatever order the
    database keeps JSON keys in (PostgreSQL's JSONB does not keep the sender's)."""
    return (_UTM_ORDER.index(key) if key in _UTM_ORDER else len(_UTM_ORDER), key)


def _ascii_host(host: str) -> str:
    return host if host.isascii() else host.encode("idna").decode("ascii")
