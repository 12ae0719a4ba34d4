"""Parsing the segment language: every error names the path of the bad node."""

from __future__ import annotations

import pytest

from enishi.segments.language import (
    MAX_DEPTH,
    SegmentInvalid,
)
from enishi.segments.parser import parse_definition

GOOD = {
    "version": 1,
    "where": {
        "all": [
            {"clicked": {"within_days": 50}},
            {"any": [{"tags": {"any": ["VIP"]}}, {"not": {"member_linked": False}}]},
            {"attribute": {"key": "age", "between": [20, 39]}},
            {"event": {"name": "cart_abandoned", "within_days": 2, "no_purchase_since": True}},
            {"sample": {"percent": 12.5, "seed": 42}},
            {"followed_at": {"from": "2025-01-01", "to": "2025-03-31T23:59:59+09:00"}},
        ]
    },
}


def errors(definition) -> list[tuple[str, str]]:
    with pytest.raises(SegmentInvalid) as caught:
        parse_definition(definition)
    assert caught.value.status == 422 and caught.value.code == "invalid_segment"
    return [(e.path, e.code) for e in caught.value.errors]


def test_a_good_definition_round_trips():
    parsed = parse_definition(GOOD)
    assert parsed.to_json() == GOOD
    assert parse_definition(parsed.to_json()) == parsed


@pytest.mark.parametrize(
    ("where", "path", "code"),
    [
        ({"clicked": {"within_days": "50"}}, "where.clicked.within_days", "int_type"),
        ({"clicked": {"within_days": 0}}, "where.clicked.within_days", "greater_than_equal"),
        ({"clicked": {"within_days": 5000}}, "where.clicked.within_days", "less_than_equal"),
        ({"clicked": {"within_days": 5, "not_within_days": 9}}, "where.clicked", "value_error"),
        ({"clicked": {}}, "where.clicked", "value_error"),
        (
            {"clicked": {"within_days": 5, "deliveryId": 1}},
            "where.clicked.deliveryId",
            "extra_forbidden",
        ),
        ({"clicked": 50}, "where.clicked", "invalid"),
        ({"click_count": {"gte": 5, "lt": 3}}, "where.click_count", "value_error"),
        ({"click_count": {"gte": -1}}, "where.click_count", "value_error"),
        ({"click_count": {"gte": True}}, "where.click_count.gte", "int_type"),
        ({"purchase_count": {"within_days": 30}}, "where.purchase_count", "value_error"),
        ({"revenue": {"gte": "10000"}}, "where.revenue.gte", "int_type"),
        ({"followed_days": {"gte": 7.5}}, "where.followed_days.gte", "int_type"),
        ({"followed_at": {}}, "where.followed_at", "value_error"),
        ({"followed_at": {"from": "2025-02-30"}}, "where.followed_at.from", "value_error"),
        ({"followed_at": {"to": "2025-02-01T10:00:00"}}, "where.followed_at.to", "value_error"),
        ({"status": "gone"}, "where.status", "literal_error"),
        ({"status": ["following", "gone"]}, "where.status[1]", "literal_error"),
        ({"member_linked": "yes"}, "where.member_linked", "bool_type"),
        ({"inflow_route": {"code": "a", "id": 1}}, "where.inflow_route", "value_error"),
        ({"attribute": {"key": "age"}}, "where.attribute", "value_error"),
        ({"attribute": {"eq": 3}}, "where.attribute.key", "missing"),
        ({"attribute": {"key": "age", "between": [1]}}, "where.attribute.between", "too_short"),
        (
            {"attribute": {"key": "age", "is_empty": True, "eq": 3}},
            "where.attribute",
            "value_error",
        ),
        ({"attribute": {"key": "age", "in": []}}, "where.attribute.in", "too_short"),
        ({"tags": {}}, "where.tags", "value_error"),
        ({"tags": {"any": [""]}}, "where.tags.any[0]", "string_too_short"),
        ({"bought": {"sku": "A", "skus": ["B"]}}, "where.bought", "value_error"),
        ({"event": {"name": "cart_abandoned"}}, "where.event", "value_error"),
        (
            {"event": {"name": "x", "within_hours": 2, "min_count": 0}},
            "where.event.min_count",
            "greater_than_equal",
        ),
        ({"delivery": {"id": 3}}, "where.delivery", "value_error"),
        ({"sample": {"percent": 0, "seed": 1}}, "where.sample.percent", "greater_than"),
        ({"sample": {"percent": 10.001, "seed": 1}}, "where.sample", "value_error"),
        ({"sample": {"percent": 10, "seed": -1}}, "where.sample.seed", "greater_than_equal"),
        ({"sample": {"percent": 10}}, "where.sample.seed", "missing"),
        ({"clickd": {"within_days": 5}}, "where", "unknown_condition"),
        (
            {"clicked": {"within_days": 5}, "purchased": {"within_days": 5}},
            "where",
            "not_a_condition",
        ),
        ({}, "where", "not_a_condition"),
        ([], "where", "not_a_condition"),
        ({"any": []}, "where.any", "invalid"),
        ({"all": {"clicked": {"within_days": 5}}}, "where.all", "invalid"),
    ],
)
def test_errors_name_the_bad_node(where, path, code):
    assert (path, code) in errors({"version": 1, "where": where})


def test_nested_paths_and_every_error_reported():
    found = errors(
        {
            "version": 1,
            "where": {
                "all": [
                    {"clicked": {"within_days": 50}},
                    {
                        "any": [
                            {"tags": {"any": ["VIP"]}},
                            {"not": {"sample": {"percent": 200, "seed": 1}}},
                        ]
                    },
                    {"not": {"bogus": 1}},
                ]
            },
        }
    )
    assert found == [
        ("where.all[1].any[1].not.sample.percent", "less_than_equal"),
        ("where.all[2].not", "unknown_condition"),
    ]


def test_version_and_shape():
    assert ("version", "unsupported_version") in errors({"version": 2, "where": {"all": []}})
    assert ("version", "missing") in errors({"where": {"all": []}})
    assert ("version", "unsupported_version") in errors({"version": "1", "where": {"all": []}})
    assert ("where", "missing") in errors({"version": 1})
    assert ("filter", "extra_forbidden") in errors(
        {"version": 1, "where": {"all": []}, "filter": 1}
    )
    assert errors([1, 2]) == [("", "invalid")]


def test_depth_and_size_limits():
    deep = {"member_linked": True}
    for _ in range(MAX_DEPTH + 1):
        deep = {"not": deep}
    assert any(code == "too_deep" for _, code in errors({"version": 1, "where": deep}))
    wide = {"any": [{"member_linked": True}] * 400}
    assert ("where.any[299]", "too_large") in errors({"version": 1, "where": wide})


def test_error_message_is_readable():
    with pytest.raises(SegmentInvalid) as caught:
        parse_definition(
            {"version": 1, "where": {"all": [{"clicked": {"within_days": "x"}}, {"foo": {}}]}}
        )
    assert caught.value.message.startswith("where.all[0].clicked.within_days: must be a whole")
    assert "(and 1 more)" in caught.value.message
    assert caught.value.field == "where.all[0].clicked.within_days"
