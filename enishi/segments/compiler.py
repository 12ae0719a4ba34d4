"""Segment definitions compiled to SQLAlchemy Core, the same SQL on SQLite and PostgreSQL.

Every leaf compiles to a two-valued boolean over `friends` (never NULL, so `not` always
means the complement). Conditions that the friend rollups answer (last click, lifetime
counts, last purchase, lifetime revenue) read only `friends`; the rest are correlated
EXISTS / scalar subqueries that walk one friend's rows through the (friend_id, time)
indexes, guarded by the rollups (a necessary condition first). Counts use "the K-th row
exists" (`LIMIT 1 OFFSET K-1`), which reads at most K index entries per friend. Next to a
narrowing condition, an `all` runs in tiers: friends columns, probes, subqueries.
Windows are "since now - N": the database is taken to be as of `now`.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    exists,
    false,
    literal_column,
    not_,
    or_,
    select,
    true,
)
from sqlalchemy.orm import Session

from enishi.accounts.models import Account
from enishi.db.base import utcnow
from enishi.friends.models import FOLLOWING, AttributeDef, Friend, FriendTag, Tag
from enishi.segments import conditions
from enishi.segments import language as L
from enishi.segments.attributes import attribute_clause
from enishi.segments.clauses import (
    CHEAP,
    LOOKUP,
    Part,
    join_parts,
    narrows,
    parts_cost,
)
from enishi.segments.language import SAMPLE_PRIME, SegmentError, SegmentInvalid
from enishi.segments.parser import parse_definition

DAY = timedelta(days=1)


def sample_keys(seed: int) -> tuple[int, int, int, int, int]:
    """The five multipliers/offsets of the sample hash for a seed (docs/segments.md)."""
    digest = hashlib.blake2b(f"enishi-sample:{seed}".encode(), digest_size=40).digest()
    return tuple(
        1 + int.from_bytes(digest[i * 8 : (i + 1) * 8], "big") % (SAMPLE_PRIME - 1)
        for i in range(5)
    )  # type: ignore[return-value]


class Compiler:
    """Compiles one definition for one account; collects every reference error."""

    def __init__(self, session: Session, account_id: int, now: datetime) -> None:
        if now.tzinfo is None:
            raise ValueError("now must be an aware datetime")
        self.session, self.account_id, self.now = session, account_id, now
        self.errors: list[SegmentError] = []
        self._zone: ZoneInfo | None = None
        self._attributes: dict[str, AttributeDef | None] = {}
        self.probe = False  # see lookup()

    # --- entry ---------------------------------------------------------------------------
    def where(self, definition: L.Definition) -> ColumnElement[bool]:
        clause = join_parts(self.node(definition.where, "where"), narrows(definition.where))
        if self.errors:
            raise SegmentInvalid(self.errors)
        return clause

    def error(self, path: str, code: str, message: str) -> ColumnElement[bool]:
        self.errors.append(SegmentError(path=path, code=code, message=message))
        return false()

    def node(self, node: L.Condition, path: str) -> list[Part]:
        """The condition as conjuncts (clause, cost): an `all` hands its children's
        conjuncts up, so the outermost `all` can order every one of them."""
        outer = self.probe
        self.probe = outer or narrows(node)
        try:
            if isinstance(node, L.AllOf | L.AnyOf):
                here = f"{path}.{node.key}"
                children = [self.node(item, f"{here}[{i}]") for i, item in enumerate(node.items)]
                if isinstance(node, L.AllOf):
                    return [part for child in children for part in child] or [(true(), CHEAP)]
                arms = sorted(
                    (
                        (join_parts(child, self.probe or narrows(item)), parts_cost(child))
                        for child, item in zip(children, node.items, strict=True)
                    ),
                    key=lambda arm: arm[1],  # cheap arms first
                )
                return [(or_(*(clause for clause, _ in arms)), parts_cost(arms))]
            if isinstance(node, L.NotOf):
                parts = self.node(node.item, f"{path}.not")
                staged = self.probe or narrows(node.item)
                return [(not_(join_parts(parts, staged)), parts_cost(parts))]
            here = f"{path}.{node.key}"
            own = getattr(self, f"leaf_{node.key}", None)
            result = own(node, here) if own else conditions.compile_condition(self, node, here)
            return result if isinstance(result, list) else [result]
        finally:
            self.probe = outer

    def lookup(self, *conditions: ColumnElement[bool]) -> ColumnElement[bool]:
        """A friend's attribute / tag row exists. Standalone, as EXISTS, which PostgreSQL may
        run as a semi-join from the (few) matching rows. Next to a condition that narrows
        friends by their rollups, as a per-friend probe of the primary key instead, so it is
        evaluated only for the friends left (a scalar subquery is never turned into a join;
        SQLite probes per friend either way)."""
        if not self.probe:
            return exists().where(*conditions)
        found = select(literal_column("1")).where(*conditions).limit(1).scalar_subquery()
        return found.is_not(None)

    # --- references ----------------------------------------------------------------------
    @property
    def zone(self) -> ZoneInfo:
        if self._zone is None:
            name = self.session.scalar(
                select(Account.timezone).where(Account.id == self.account_id)
            )
            self._zone = ZoneInfo(name or "Asia/Tokyo")
        return self._zone

    def attribute(self, key: str) -> AttributeDef | None:
        if key not in self._attributes:
            self._attributes[key] = self.session.scalar(
                select(AttributeDef).where(
                    AttributeDef.account_id == self.account_id, AttributeDef.key == key
                )
            )
        return self._attributes[key]

    def tag_ids(self, names: list[str], path: str) -> list[int]:
        found = dict(
            self.session.execute(
                select(Tag.name, Tag.id).where(
                    Tag.account_id == self.account_id, Tag.name.in_(names)
                )
            ).all()
        )
        for i, name in enumerate(names):
            if name not in found:
                self.error(f"{path}[{i}]", "unknown_tag", f"no tag named {name!r}")
        return [found[n] for n in names if n in found]

    def owned_reference(self, what: str, object_id: int, path: str) -> bool:
        """Like owned(), for a table of a domain above segments (registered by name)."""
        return self.owned(conditions.reference(what), object_id, path, what)

    def owned(self, model, object_id: int, path: str, what: str) -> bool:
        owner = self.session.scalar(select(model.account_id).where(model.id == object_id))
        if owner != self.account_id:
            self.error(path, f"unknown_{what}", f"no {what} with id {object_id} in this account")
            return False
        return True

    def cutoff(self, days: int | None = None, hours: int | None = None) -> datetime:
        return self.now - timedelta(days=days or 0, hours=hours or 0)

    # --- friend leaves -------------------------------------------------------------------
    def leaf_status(self, node: L.Status, path: str):
        return Friend.status.in_(node.values), CHEAP

    def leaf_followed_days(self, node: L.FollowedDays, path: str):
        # whole days since the first follow: d >= low ⇔ followed at or before now - low days;
        # d <= high ⇔ followed after now - (high + 1) days
        low, high = node.interval()
        column = Friend.first_followed_at
        parts = [column.is_not(None)]
        if low > 0:
            parts.append(column <= self.now - low * DAY)
        if high != float("inf"):
            parts.append(column > self.now - (high + 1) * DAY)
        return and_(*parts), CHEAP

    def _instant(self, value: date | datetime, end_of_day: bool) -> datetime:
        if isinstance(value, datetime):
            return value
        day = value + timedelta(days=1) if end_of_day else value
        return L.day_start(day, self.zone)

    def leaf_followed_at(self, node: L.FollowedAt, path: str):
        column = Friend.first_followed_at
        parts = [column.is_not(None)]
        if node.from_ is not None:
            parts.append(column >= self._instant(node.from_, False))
        if node.to is not None:
            end = self._instant(node.to, True)  # a date includes its whole day
            parts.append(column < end if not isinstance(node.to, datetime) else column <= end)
        return and_(*parts), CHEAP

    def leaf_member_linked(self, node: L.MemberLinked, path: str):
        column = Friend.member_id
        return (column.is_not(None) if node.linked else column.is_(None)), CHEAP

    def leaf_attribute(self, node: L.Attribute, path: str):
        definition = self.attribute(node.name)
        if definition is None:
            return self.error(
                f"{path}.key",
                "unknown_attribute",
                f"no attribute is defined with key {node.name!r}",
            ), LOOKUP
        clause = attribute_clause(self, definition, node, path)
        return clause, LOOKUP

    def leaf_tags(self, node: L.Tags, path: str):
        parts = []

        def tagged(ids: list[int]) -> ColumnElement[bool]:
            return self.lookup(FriendTag.friend_id == Friend.id, FriendTag.tag_id.in_(ids))

        if node.any is not None:
            parts.append(tagged(self.tag_ids(node.any, f"{path}.any")))
        if node.all is not None:
            parts.extend(tagged([tag]) for tag in self.tag_ids(node.all, f"{path}.all"))
        if node.none is not None:
            parts.append(not_(tagged(self.tag_ids(node.none, f"{path}.none"))))
        return and_(true(), *parts), LOOKUP

    def leaf_sample(self, node: L.Sample, path: str):
        a, b, c, d, e = sample_keys(node.seed)
        p = SAMPLE_PRIME
        x1 = ((Friend.id % p) * a + b) % p
        x2 = ((x1 * x1) % p * c % p + x1 * d % p + e) % p
        return x2 % 10000 < round(node.percent * 100), CHEAP


# --- entry points ----------------------------------------------------------------------------
def compile_where(
    session: Session, account_id: int, definition: Any, *, now: datetime | None = None
) -> ColumnElement[bool]:
    """The definition's condition over `friends` (any status); raises SegmentInvalid."""
    parsed = parse_definition(definition)
    return Compiler(session, account_id, now or utcnow()).where(parsed)


def audience_clause(
    session: Session, account_id: int, definition: Any, *, now: datetime | None = None
) -> ColumnElement[bool]:
    """What a send targets: the account's following friends that meet the definition."""
    return and_(
        Friend.account_id == account_id,
        Friend.status == FOLLOWING,
        compile_where(session, account_id, definition, now=now),
    )


def segment_friend_ids_query(
    session: Session, account_id: int, definition: Any, *, now: datetime | None = None
) -> Select:
    """`SELECT friends.id` of the following friends in the segment (for the delivery engine).

    `definition` is the JSON dict (or a parsed Definition); raises SegmentInvalid (an
    ApiError, 422) naming the path of each bad node."""
    return select(Friend.id).where(audience_clause(session, account_id, definition, now=now))
