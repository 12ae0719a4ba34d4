"""The segment language, version 1 (docs/segments.md): JSON parsed into pydantic nodes.

A definition is `{"version": 1, "where": <condition>}`; a condition is an object with
exactly one key — a combinator (`all`, `any`, `not`) or a leaf. parser.py checks shape and
types; what needs the account (attribute types, tag names, routes, deliveries) is checked
by the compiler. Every error names the path of the bad node, e.g.
`where.all[1].clicked.within_days`.
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from enishi.kit.errors import ApiError

LANGUAGE_VERSION = 1
SUPPORTED_VERSIONS = (1,)
MAX_DEPTH = 12
MAX_NODES = 300
MAX_DAYS = 3650
SAMPLE_PRIME = 2_147_483_647  # 2^31 - 1: every product in the sample hash stays < 2^62

Days = Annotated[int, Field(ge=1, le=MAX_DAYS)]
Count = Annotated[int, Field(ge=0, le=1_000_000)]
Name = Annotated[str, Field(min_length=1, max_length=200)]


class SegmentError(BaseModel):
    path: str
    code: str
    message: str


class SegmentInvalid(ApiError):
    """A definition that does not parse or does not fit the account: every error, with paths."""

    def __init__(self, errors: list[SegmentError], prefix: str = "") -> None:
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        field = f"{prefix}{first.path}" if prefix else first.path
        super().__init__(422, "invalid_segment", f"{first.path}: {first.message}{more}", field)
        self.errors = errors


def _when(value: Any) -> date | datetime:
    """An ISO date (a whole day in the account's time zone) or an aware date-time."""
    if isinstance(value, datetime | date):
        return value
    if not isinstance(value, str):
        raise ValueError("must be an ISO date (YYYY-MM-DD) or date-time with a UTC offset")
    text = value.strip()
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            "must be an ISO date (YYYY-MM-DD) or date-time with a UTC offset"
        ) from None
    if parsed.tzinfo is None:
        raise ValueError("a date-time needs a UTC offset, e.g. 2025-04-01T09:00:00+09:00")
    return parsed


When = Annotated[date | datetime, BeforeValidator(_when)]


class Node(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, populate_by_name=True)
    key: ClassVar[str] = ""

    def to_json(self) -> Any:
        return {self.key: self.model_dump(mode="json", by_alias=True, exclude_defaults=True)}


def _exactly_one(node: BaseModel, names: tuple[str, ...]) -> None:
    given = [n for n in names if getattr(node, n) is not None]
    if len(given) != 1:
        raise ValueError(f"give exactly one of {', '.join(names)}")


class Compare(Node):
    """eq / gt / gte / lt / lte on a number of days, a count or an amount."""

    eq: int | float | None = None
    gt: int | float | None = None
    gte: int | float | None = None
    lt: int | float | None = None
    lte: int | float | None = None

    @model_validator(mode="after")
    def _some(self):
        if all(getattr(self, op) is None for op in ("eq", "gt", "gte", "lt", "lte")):
            raise ValueError("give at least one of eq, gt, gte, lt, lte")
        for op in ("eq", "gt", "gte", "lt", "lte"):
            value = getattr(self, op)
            if value is not None and value < 0:
                raise ValueError(f"{op} must be 0 or more")
        return self

    def interval(self, integer: bool = True) -> tuple[float, float]:
        """The closed range [low, high] the comparisons allow (integers: gt 2 → low 3)."""
        step = 1 if integer else 0
        low, high = float("-inf"), float("inf")
        if self.eq is not None:
            low, high = self.eq, self.eq
        if self.gte is not None:
            low = max(low, self.gte)
        if self.gt is not None:
            low = max(low, self.gt + step) if integer else max(low, self.gt)
        if self.lte is not None:
            high = min(high, self.lte)
        if self.lt is not None:
            high = min(high, self.lt - step) if integer else min(high, self.lt)
        return low, high


class IntCompare(Compare):
    eq: int | None = None
    gt: int | None = None
    gte: int | None = None
    lt: int | None = None
    lte: int | None = None

    @model_validator(mode="after")
    def _not_empty(self):
        low, high = self.interval()
        if low > high:
            raise ValueError("the comparisons allow no value at all")
        return self


# --- combinators -------------------------------------------------------------------------
class AllOf(Node):
    key: ClassVar[str] = "all"
    items: list[Condition]

    def to_json(self) -> Any:
        return {"all": [c.to_json() for c in self.items]}


class AnyOf(Node):
    key: ClassVar[str] = "any"
    items: list[Condition]

    def to_json(self) -> Any:
        return {"any": [c.to_json() for c in self.items]}


class NotOf(Node):
    key: ClassVar[str] = "not"
    item: Condition

    def to_json(self) -> Any:
        return {"not": self.item.to_json()}


# --- friend leaves -----------------------------------------------------------------------
class Status(Node):
    key: ClassVar[str] = "status"
    values: list[Literal["following", "blocked", "unknown"]] = Field(min_length=1)

    def to_json(self) -> Any:
        return {"status": self.values[0] if len(self.values) == 1 else self.values}


class FollowedDays(IntCompare):
    key: ClassVar[str] = "followed_days"


class FollowedAt(Node):
    key: ClassVar[str] = "followed_at"
    from_: When | None = Field(None, alias="from")
    to: When | None = None

    @model_validator(mode="after")
    def _some(self):
        if self.from_ is None and self.to is None:
            raise ValueError("give from, to or both")
        return self


class InflowRoute(Node):
    key: ClassVar[str] = "inflow_route"
    id: int | None = None
    code: Name | None = None
    codes: list[Name] | None = Field(None, min_length=1)
    none: Literal[True] | None = None

    @model_validator(mode="after")
    def _one(self):
        _exactly_one(self, ("id", "code", "codes", "none"))
        return self


class MemberLinked(Node):
    key: ClassVar[str] = "member_linked"
    linked: bool

    def to_json(self) -> Any:
        return {"member_linked": self.linked}


Scalar = str | int | float | bool


class Attribute(Node):
    key: ClassVar[str] = "attribute"
    name: str = Field(alias="key", min_length=1, max_length=64)
    eq: Scalar | None = None
    ne: Scalar | None = None
    gt: Scalar | None = None
    gte: Scalar | None = None
    lt: Scalar | None = None
    lte: Scalar | None = None
    in_: list[Scalar] | None = Field(None, alias="in", min_length=1, max_length=1000)
    between: list[Scalar] | None = Field(None, min_length=2, max_length=2)
    is_empty: bool | None = None

    OPS: ClassVar[tuple[str, ...]] = ("eq", "ne", "gt", "gte", "lt", "lte", "in_", "between")

    @model_validator(mode="after")
    def _some(self):
        given = [op for op in self.OPS if getattr(self, op) is not None]
        if self.is_empty is not None and given:
            raise ValueError("is_empty cannot be combined with other comparisons")
        if self.is_empty is None and not given:
            raise ValueError("give a comparison: eq, ne, gt, gte, lt, lte, in, between or is_empty")
        return self


class Tags(Node):
    key: ClassVar[str] = "tags"
    any: list[Name] | None = Field(None, min_length=1, max_length=100)
    all: list[Name] | None = Field(None, min_length=1, max_length=100)
    none: list[Name] | None = Field(None, min_length=1, max_length=100)

    @model_validator(mode="after")
    def _some(self):
        if self.any is None and self.all is None and self.none is None:
            raise ValueError("give any, all or none (lists of tag names)")
        return self


# --- behaviour leaves --------------------------------------------------------------------
class Recency(Node):
    """Last time within / not within N days (`not_within_days` includes never)."""

    within_days: Days | None = None
    not_within_days: Days | None = None

    @model_validator(mode="after")
    def _one(self):
        _exactly_one(self, ("within_days", "not_within_days"))
        return self


class Clicked(Recency):
    key: ClassVar[str] = "clicked"
    delivery_id: int | None = None
    link_id: int | None = None


class ClickCount(IntCompare):
    key: ClassVar[str] = "click_count"
    within_days: Days | None = None
    delivery_id: int | None = None
    link_id: int | None = None


class Purchased(Recency):
    key: ClassVar[str] = "purchased"


class PurchaseCount(IntCompare):
    key: ClassVar[str] = "purchase_count"
    within_days: Days | None = None


class Revenue(Compare):
    key: ClassVar[str] = "revenue"
    within_days: Days | None = None


class Bought(Node):
    key: ClassVar[str] = "bought"
    sku: Name | None = None
    skus: list[Name] | None = Field(None, min_length=1, max_length=1000)
    within_days: Days | None = None

    @model_validator(mode="after")
    def _one(self):
        _exactly_one(self, ("sku", "skus"))
        return self

    @property
    def sku_list(self) -> list[str]:
        return [self.sku] if self.sku is not None else list(self.skus or [])


class Event(Node):
    key: ClassVar[str] = "event"
    name: Annotated[str, Field(min_length=1, max_length=64)]
    within_days: Days | None = None
    within_hours: Annotated[int, Field(ge=1, le=MAX_DAYS * 24)] | None = None
    min_count: Annotated[int, Field(ge=1, le=10_000)] = 1
    no_purchase_since: bool = False

    @model_validator(mode="after")
    def _one(self):
        _exactly_one(self, ("within_days", "within_hours"))
        return self


class DeliveryLeaf(Node):
    key: ClassVar[str] = "delivery"
    id: int
    received: bool | None = None
    clicked: bool | None = None

    @model_validator(mode="after")
    def _some(self):
        if self.received is None and self.clicked is None:
            raise ValueError("give received, clicked or both (true or false)")
        return self


class Sample(Node):
    key: ClassVar[str] = "sample"
    percent: Annotated[float, Field(gt=0, le=100)]
    seed: Annotated[int, Field(ge=0, lt=SAMPLE_PRIME)]

    @model_validator(mode="after")
    def _hundredths(self):
        if abs(self.percent * 100 - round(self.percent * 100)) > 1e-9:
            raise ValueError("percent has at most two decimals (steps of 0.01%)")
        return self


Leaf = (
    Status
    | FollowedDays
    | FollowedAt
    | InflowRoute
    | MemberLinked
    | Attribute
    | Tags
    | Clicked
    | ClickCount
    | Purchased
    | PurchaseCount
    | Revenue
    | Bought
    | Event
    | DeliveryLeaf
    | Sample
)
Condition = AllOf | AnyOf | NotOf | Leaf
for _model in (AllOf, AnyOf, NotOf):
    _model.model_rebuild()

LEAVES: dict[str, type[Node]] = {
    model.key: model
    for model in (
        Status,
        FollowedDays,
        FollowedAt,
        InflowRoute,
        MemberLinked,
        Attribute,
        Tags,
        Clicked,
        ClickCount,
        Purchased,
        PurchaseCount,
        Revenue,
        Bought,
        Event,
        DeliveryLeaf,
        Sample,
    )
}
COMBINATORS = ("all", "any", "not")


class Definition(BaseModel):
    model_config = ConfigDict(frozen=True)
    version: int = LANGUAGE_VERSION
    where: Condition

    def to_json(self) -> dict[str, Any]:
        return {"version": self.version, "where": self.where.to_json()}


def day_start(day: date, zone) -> datetime:
    """00:00 of `day` in the account's time zone, as an aware datetime."""
    return datetime.combine(day, time.min, tzinfo=zone)
