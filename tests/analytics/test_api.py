"""/api/v1/analytics/clicks/*: the reports, the CSV, and the segment made from a range."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from enishi.accounts.models import Account
from enishi.accounts.service import create_api_key
from enishi.audit.actor import Actor
from enishi.segments.service import count_segment
from tests.analytics.dataset import AS_OF_DATE, build_planted_falloff, build_small_world

QUERY = {
    "as_of": AS_OF_DATE,
    "lookback_days": 180,
    "min_group": 1,
    "frequency_edges": "1,2,3,5,10,20",
}


@pytest.fixture
def world(client, api_account):
    return build_small_world(client, api_account.headers, api_account.id)


def test_recency_report(client, api_account, world):
    response = client.get(
        "/api/v1/analytics/clicks/recency", params=QUERY, headers=api_account.headers
    )
    assert response.status_code == 200, response.text
    body = response.json()
    buckets = {b["key"]: b for b in body["buckets"]}
    assert (buckets["0-7"]["friends"], buckets["0-7"]["purchasers"]) == (3, 1)
    assert buckets["never"]["friends"] == 2
    assert body["as_of"].startswith("2025-05-31T15:00:00")
    assert body["period"]["from"].startswith("2024-12-02T15:00:00")
    assert body["outcome"]["kind"] == "after" and body["outcome"]["complete"] is True
    assert body["population"]["friends"] == 7


def test_frequency_report_and_delivery_filter(client, api_account, world):
    response = client.get(
        "/api/v1/analytics/clicks/frequency",
        params={**QUERY, "delivery_id": world.delivery_id},
        headers=api_account.headers,
    )
    assert response.status_code == 200, response.text
    buckets = {b["key"]: b for b in response.json()["buckets"]}
    assert (buckets["1"]["friends"], buckets["1"]["revenue_jpy"]) == (2, 4000)  # A, C
    assert buckets["0"]["friends"] == 5


def test_csv_has_a_bom_and_the_report_rows(client, api_account, world):
    response = client.get(
        "/api/v1/analytics/clicks/recency.csv", params=QUERY, headers=api_account.headers
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    assert response.content.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    buckets = {r["key"]: r for r in rows if r["row"] == "bucket"}
    assert buckets["0-7"]["label"] == "0〜7日"
    assert (buckets["0-7"]["friends"], buckets["0-7"]["purchasers"]) == ("3", "1")
    assert buckets["0-7"]["purchase_rate"] == "0.333333"
    assert buckets["never"]["max"] == ""
    days = {r["key"]: r["friends"] for r in rows if r["row"] == "day"}
    assert days == {"1": "1", "3": "1", "7": "1", "8": "1"}
    frequency = client.get(
        "/api/v1/analytics/clicks/frequency.csv", params=QUERY, headers=api_account.headers
    )
    counts = list(csv.DictReader(io.StringIO(frequency.content.decode("utf-8-sig"))))
    assert {r["key"]: r["friends"] for r in counts if r["row"] == "bucket"}["2"] == "1"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"bucket_days": 0}, "bucket_days"),
        ({"lookback_days": 0}, "lookback_days"),
        ({"as_of": "yesterday"}, "as_of"),
        ({"as_of": "2025-05-31T00:00:00"}, "as_of"),
        ({"frequency_edges": "3,2"}, "frequency_edges"),
        ({"frequency_edges": "a"}, "frequency_edges"),
        ({"outcome": "later"}, "outcome"),
    ],
)
def test_bad_parameters_are_named(client, api_account, params, field):
    response = client.get(
        "/api/v1/analytics/clicks/recency", params=params, headers=api_account.headers
    )
    assert response.status_code == 422
    assert response.json()["error"]["field"] == field


def test_needs_an_api_key_and_the_accounts_own_delivery(client, api_account, state):
    assert client.get("/api/v1/analytics/clicks/recency").status_code == 401
    response = client.get(
        "/api/v1/analytics/clicks/recency",
        params={"delivery_id": 999},
        headers=api_account.headers,
    )
    assert response.status_code == 404
    assert response.json()["error"]["field"] == "delivery_id"


@pytest.fixture
def planted_now(state, client):
    """The planted fall-off as of now (purchases in the period), with an API key."""
    now = datetime.now(UTC).replace(microsecond=0)
    with state.sessions.begin() as session:
        account_id = build_planted_falloff(
            session, state.box, as_of=now, bought_after=-timedelta(hours=1)
        )
        _, key = create_api_key(
            session, session.get(Account, account_id), "tests", actor=Actor.cli()
        )
    return account_id, {"authorization": f"Bearer {key}"}, now


def test_falloff_to_segment_in_one_step(client, state, planted_now):
    account_id, headers, now = planted_now
    response = client.get(
        "/api/v1/analytics/clicks/recency",
        params={"as_of": now.isoformat(), "outcome": "period"},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    falloff = response.json()["falloff"]
    assert falloff["days"] == 50
    created = client.post(
        "/api/v1/analytics/clicks/segment",
        json={"recency": {"min_days": 0, "max_days": falloff["days"]}},
        headers=headers,
    )
    assert created.status_code == 201, created.text
    segment = created.json()
    assert segment["name"] == "50日以内にクリック"
    assert segment["definition"] == falloff["inside"]["segment_definition"]
    assert segment["count"] == falloff["inside"]["friends"] == 1000
    saved = client.get(f"/api/v1/segments/{segment['id']}", headers=headers)
    assert saved.status_code == 200 and saved.json()["definition"] == segment["definition"]
    # the other side, never-clickers included, as the seed's "51日以上"
    other = client.post(
        "/api/v1/analytics/clicks/segment",
        json={"recency": {"min_days": 51}},
        headers=headers,
    ).json()
    assert other["name"] == "クリックが51日以上前（未クリック含む）"
    assert other["count"] == 1700
    again = client.post(
        "/api/v1/analytics/clicks/segment",
        json={"recency": {"min_days": 0, "max_days": 50}},
        headers=headers,
    )
    assert again.status_code == 409


def test_frequency_range_segment(client, state, planted_now):
    account_id, headers, _ = planted_now
    created = client.post(
        "/api/v1/analytics/clicks/segment",
        json={"name": "90日で1回以上", "frequency": {"min_clicks": 1, "lookback_days": 90}},
        headers=headers,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["definition"]["where"] == {"click_count": {"gte": 1, "within_days": 90}}
    assert body["count"] == 90 * 20  # clicked last 1..90 days ago
    with state.sessions() as session:
        assert count_segment(session, account_id, body["definition"]) == body["count"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"recency": {"max_days": 5}, "frequency": {"min_clicks": 1}},
        {"recency": {"min_days": 1, "max_days": 5}},
        {"recency": {"min_days": 9, "max_days": 5}},
        {"frequency": {"min_clicks": 5, "max_clicks": 2}},
    ],
)
def test_bad_ranges_are_refused(client, api_account, body):
    response = client.post(
        "/api/v1/analytics/clicks/segment", json=body, headers=api_account.headers
    )
    assert response.status_code == 422, response.text
