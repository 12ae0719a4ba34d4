"""Conversions: orders the brand's shop reports, stored once per (account, order_id),
attributed to the friend's latest click within the account's attribution window, and added
to the friend's purchase rollups exactly once. An order whose friend enishi does not know is
stored unattributed (its LINE user ID / member ID kept), never dropped."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from sqlalchemy import bindparam, case, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from enishi.accounts.models import Account
from enishi.db.base import UTCDateTime
from enishi.events.service import Event, publish_many
from enishi.friends.models import Friend
from enishi.kit.errors import ApiError
from enishi.tracking.models import Click, Conversion, ConversionItem
from enishi.tracking.schemas import ConversionIn

CHUNK = 500
RACE_RETRIES = 3
T = TypeVar("T")


@dataclass
class Outcome:
    """What happened to one reported order."""

    status: str  # created | duplicate | error
    conversion: Conversion | None = None
    items: list[ConversionItem] = field(default_factory=list)
    error: ApiError | None = None


def store_racing(session: Session, store: Callable[[], T]) -> T:
    """Run `store` in a savepoint, again when a concurrent request inserted one of the same
    unique keys meanwhile: the next try sees that row and counts it as a repeat."""
    for attempt in range(RACE_RETRIES):
        try:
            with session.begin_nested():
                return store()
        except IntegrityError:
            if attempt == RACE_RETRIES - 1:
                raise
    raise AssertionError("unreachable")


def chunks(values: Sequence, size: int = CHUNK) -> Iterable[Sequence]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def resolve_friends(
    session: Session, account_id: int, line_user_ids: Iterable[str], member_ids: Iterable[str]
) -> tuple[dict[str, int], dict[str, int]]:
    """Friend ids by LINE user ID and by linked member ID, for those enishi knows."""
    by_user: dict[str, int] = {}
    by_member: dict[str, int] = {}
    users = sorted({u for u in line_user_ids if u})
    members = sorted({m for m in member_ids if m})
    for chunk in chunks(users):
        rows = session.execute(
            select(Friend.line_user_id, Friend.id).where(
                Friend.account_id == account_id, Friend.line_user_id.in_(chunk)
            )
        )
        by_user.update({u: i for u, i in rows})
    for chunk in chunks(members):
        rows = session.execute(
            select(Friend.member_id, Friend.id).where(
                Friend.account_id == account_id, Friend.member_id.in_(chunk)
            )
        )
        by_member.update({m: i for m, i in rows if m is not None})
    return by_user, by_member


def pick_friend(
    by_user: dict[str, int],
    by_member: dict[str, int],
    line_user_id: str | None,
    member_id: str | None,
) -> int | None:
    """The LINE user ID decides when enishi knows it; the member ID otherwise."""
    if line_user_id and line_user_id in by_user:
        return by_user[line_user_id]
    if member_id and member_id in by_member:
        return by_member[member_id]
    return None


def check_conversion(entry: ConversionIn) -> None:
    """What pydantic's types cannot say: who bought, in which currency, and whether the
    amount adds up. Discounts, shipping and tax belong in items (negative lines are not
    accepted, so report a discounted unit price) — or report the order without items."""
    if not entry.line_user_id and not entry.member_id:
        raise ApiError(
            422, "invalid", "either line_user_id or member_id is required", "line_user_id"
        )
    if entry.currency is not None and entry.currency.upper() != "JPY":
        raise ApiError(422, "invalid", "only JPY is accepted", "currency")
    if entry.items:
        total = sum(item.unit_price * item.quantity for item in entry.items)
        if total != entry.amount:
            raise ApiError(
                422,
                "amount_mismatch",
                f"amount ({entry.amount}) must equal the sum of unit_price × quantity over "
                f"items ({total}); send the order without items if they do not add up",
                "amount",
            )


def attribution_window(account: Account, occurred_at: datetime) -> tuple[datetime, datetime]:
    """[occurred - window, occurred]; an order time given to the second also covers clicks
    later in that same second (shops rarely report sub-second times)."""
    end = occurred_at
    if occurred_at.microsecond == 0:
        end = occurred_at + timedelta(microseconds=999_999)
    return occurred_at - timedelta(days=account.attribution_window_days), end


def latest_click(
    session: Session, account: Account, friend_id: int, occurred_at: datetime
) -> tuple[int, int, int | None] | None:
    """(click id, link id, delivery id) of the friend's latest click in the window."""
    start, end = attribution_window(account, occurred_at)
    row = session.execute(
        select(Click.id, Click.link_id, Click.delivery_id)
        .where(
            Click.friend_id == friend_id,
            Click.account_id == account.id,
            Click.clicked_at >= start,
            Click.clicked_at <= end,
        )
        .order_by(Click.clicked_at.desc(), Click.id.desc())
        .limit(1)
    ).first()
    return tuple(row) if row is not None else None


def _content(entry: ConversionIn) -> dict[str, object]:
    return {
        "amount": entry.amount,
        "occurred_at": entry.occurred_at,
        "line_user_id": entry.line_user_id or None,
        "member_id": entry.member_id or None,
        "items": [(i.sku, i.name, i.unit_price, i.quantity) for i in entry.items or []],
    }


def _stored_content(conversion: Conversion, items: list[ConversionItem]) -> dict[str, object]:
    return {
        "amount": conversion.amount_jpy,
        "occurred_at": conversion.occurred_at,
        "line_user_id": conversion.line_user_id or None,
        "member_id": conversion.member_id or None,
        "items": [(i.sku, i.name, i.unit_price_jpy, i.quantity) for i in items],
    }


def _difference(before: dict[str, object], entry: ConversionIn) -> str | None:
    """The first field in which a repeated order differs from the first report."""
    now = _content(entry)
    return next((key for key in before if before[key] != now[key]), None)


def _conflict(order_id: str, field: str) -> ApiError:
    return ApiError(
        409,
        "conflict",
        f"order {order_id} was already reported with a different {field}",
        "order_id",
    )


def _stored(
    session: Session, account_id: int, order_ids: Sequence[str]
) -> dict[str, tuple[Conversion, list[ConversionItem]]]:
    found: dict[str, tuple[Conversion, list[ConversionItem]]] = {}
    for chunk in chunks(sorted(set(order_ids))):
        conversions = session.scalars(
            select(Conversion).where(
                Conversion.account_id == account_id, Conversion.order_id.in_(chunk)
            )
        ).all()
        by_id = {c.id: (c, []) for c in conversions}
        if by_id:
            for item in session.scalars(
                select(ConversionItem)
                .where(ConversionItem.conversion_id.in_(list(by_id)))
                .order_by(ConversionItem.id)
            ):
                by_id[item.conversion_id][1].append(item)
        found.update({c.order_id: (c, items) for c, items in by_id.values()})
    return found


_latest = bindparam("b_t", type_=UTCDateTime())
BUMP_PURCHASES = (
    update(Friend)
    .where(Friend.id == bindparam("b_f"))
    .values(
        purchase_count=Friend.purchase_count + bindparam("b_n"),
        revenue_jpy=Friend.revenue_jpy + bindparam("b_r"),
        last_purchase_at=case(
            (or_(Friend.last_purchase_at.is_(None), Friend.last_purchase_at < _latest), _latest),
            else_=Friend.last_purchase_at,
        ),
    )
)


def record_conversions(
    session: Session, account: Account, entries: Sequence[ConversionIn]
) -> list[Outcome]:
    """Store each new order once; one outcome per entry, in order. Entries that fail their
    checks or repeat a stored order with other content get an error outcome and change
    nothing; the others are stored (within the caller's transaction)."""
    outcomes: list[Outcome | None] = [None] * len(entries)
    valid: list[int] = []
    for index, entry in enumerate(entries):
        try:
            check_conversion(entry)
            valid.append(index)
        except ApiError as error:
            outcomes[index] = Outcome("error", error=error)
    done = store_racing(session, lambda: _store(session, account, entries, valid))
    for index, outcome in done.items():
        outcomes[index] = outcome
    return [o if o is not None else Outcome("error") for o in outcomes]


def _store(
    session: Session, account: Account, entries: Sequence[ConversionIn], valid: list[int]
) -> dict[int, Outcome]:
    stored = _stored(session, account.id, [entries[i].order_id for i in valid])
    by_user, by_member = resolve_friends(
        session,
        account.id,
        (entries[i].line_user_id for i in valid),
        (entries[i].member_id for i in valid),
    )
    done: dict[int, Outcome] = {}
    new: list[tuple[int, Conversion]] = []
    first_in_batch: dict[str, dict[str, object]] = {}
    repeats: list[tuple[int, str]] = []
    for index in valid:
        entry = entries[index]
        before = first_in_batch.get(entry.order_id)
        if before is None and entry.order_id in stored:
            before = _stored_content(*stored[entry.order_id])
        if before is not None:
            differs = _difference(before, entry)
            if differs is not None:
                done[index] = Outcome("error", error=_conflict(entry.order_id, differs))
            else:
                repeats.append((index, entry.order_id))
            continue
        first_in_batch[entry.order_id] = _content(entry)
        friend_id = pick_friend(by_user, by_member, entry.line_user_id, entry.member_id)
        click = latest_click(session, account, friend_id, entry.occurred_at) if friend_id else None
        new.append(
            (
                index,
                Conversion(
                    account_id=account.id,
                    order_id=entry.order_id,
                    friend_id=friend_id,
                    line_user_id=entry.line_user_id,
                    member_id=entry.member_id,
                    amount_jpy=entry.amount,
                    occurred_at=entry.occurred_at.astimezone(UTC),
                    attributed_click_id=click[0] if click else None,
                    attributed_link_id=click[1] if click else None,
                    attributed_delivery_id=click[2] if click else None,
                ),
            )
        )
    session.add_all([c for _, c in new])
    session.flush()
    for index, conversion in new:
        items = [
            ConversionItem(
                conversion_id=conversion.id,
                sku=item.sku,
                name=item.name,
                unit_price_jpy=item.unit_price,
                quantity=item.quantity,
            )
            for item in entries[index].items or []
        ]
        stored[conversion.order_id] = (conversion, items)
        session.add_all(items)
        done[index] = Outcome("created", conversion, items)
    for index, order_id in repeats:
        done[index] = Outcome("duplicate", *stored[order_id])
    session.flush()
    _bump_rollups(session, [c for _, c in new])
    publish_many(session, [conversion_event(c, stored[c.order_id][1]) for _, c in new])
    return done


def conversion_event(conversion: Conversion, items: list[ConversionItem]) -> Event:
    """tracking.conversion for a stored order (not for a repeat of one), attributed or not."""
    return Event(
        "tracking.conversion",
        conversion.occurred_at,
        account_id=conversion.account_id,
        friend_id=conversion.friend_id,
        payload={
            "conversion_id": conversion.id,
            "order_id": conversion.order_id,
            "amount": conversion.amount_jpy,
            "items": [
                {
                    "sku": i.sku,
                    "name": i.name,
                    "unit_price": i.unit_price_jpy,
                    "quantity": i.quantity,
                }
                for i in items
            ],
            "line_user_id": conversion.line_user_id,
            "member_id": conversion.member_id,
            "link_id": conversion.attributed_link_id,
            "delivery_id": conversion.attributed_delivery_id,
        },
    )


def _bump_rollups(session: Session, conversions: list[Conversion]) -> None:
    per_friend: dict[int, list] = {}
    for c in conversions:
        if c.friend_id is None:
            continue
        entry = per_friend.setdefault(c.friend_id, [0, 0, c.occurred_at])
        entry[0] += 1
        entry[1] += c.amount_jpy
        entry[2] = max(entry[2], c.occurred_at)
    if per_friend:
        session.connection().execute(
            BUMP_PURCHASES,
            [
                {"b_f": f, "b_n": n, "b_r": r, "b_t": t}
                for f, (n, r, t) in sorted(per_friend.items())
            ],
        )
        # friends already loaded in this session must not show stale rollups
        for friend_id in per_friend:
            friend = session.identity_map.get(session.identity_key(Friend, friend_id))
            if friend is not None:
                session.expire(friend, ["purchase_count", "revenue_jpy", "last_purchase_at"])


def unattributed_reason(conversion: Conversion) -> str | None:
    if conversion.attributed_click_id is not None:
        return None
    return "unknown_friend" if conversion.friend_id is None else "no_click_in_window"


def list_conversions(
    session: Session,
    account_id: int,
    *,
    before_id: int | None,
    limit: int,
    attributed: bool | None = None,
) -> list[tuple[Conversion, list[ConversionItem]]]:
    """Newest first, with their items."""
    query = select(Conversion).where(Conversion.account_id == account_id)
    if attributed is not None:
        column = Conversion.attributed_click_id
        query = query.where(column.is_not(None) if attributed else column.is_(None))
    if before_id is not None:
        query = query.where(Conversion.id < before_id)
    conversions = session.scalars(query.order_by(Conversion.id.desc()).limit(limit)).all()
    items: dict[int, list[ConversionItem]] = {c.id: [] for c in conversions}
    if items:
        for item in session.scalars(
            select(ConversionItem)
            .where(ConversionItem.conversion_id.in_(list(items)))
            .order_by(ConversionItem.id)
        ):
            items[item.conversion_id].append(item)
    return [(c, items[c.id]) for c in conversions]
