"""Audiences and narrowcast through the official SDK, with LINE's minimums, limits and
progress phases. Every answer is checked against LINE's OpenAPI files."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from linebot.v3.audience import (
    AddAudienceToAudienceGroupRequest,
    Audience,
    CreateAudienceGroupRequest,
    CreateClickBasedAudienceGroupRequest,
    CreateImpBasedAudienceGroupRequest,
    ManageAudience,
    UpdateAudienceGroupDescriptionRequest,
)
from linebot.v3.audience import ApiClient as AudienceClient
from linebot.v3.audience import ApiException as AudienceApiException
from linebot.v3.audience import Configuration as AudienceConfiguration
from linebot.v3.insight import ApiClient as InsightClient
from linebot.v3.insight import Configuration as InsightConfiguration
from linebot.v3.insight import Insight
from linebot.v3.messaging import (
    AgeDemographicFilter,
    ApiClient,
    AudienceRecipient,
    BroadcastRequest,
    Configuration,
    Filter,
    GenderDemographicFilter,
    Limit,
    MessagingApi,
    NarrowcastRequest,
    OperatorDemographicFilter,
    OperatorRecipient,
    RedeliveryRecipient,
    TextMessage,
)
from linebot.v3.messaging.exceptions import ApiException

from enishi.emulator.api import narrowcast as narrowcast_module
from tests.emulator.clients import raw

TEXT = [TextMessage(text="今週末だけのクーポンです🎟")]


def line(running) -> MessagingApi:
    return MessagingApi(ApiClient(Configuration(host=running.base_url, access_token=running.token)))


def audiences(running) -> ManageAudience:
    config = AudienceConfiguration(host=running.base_url, access_token=running.token)
    return ManageAudience(AudienceClient(config))


def insight(running) -> Insight:
    config = InsightConfiguration(host=running.base_url, access_token=running.token)
    return Insight(InsightClient(config))


def following(running) -> list[str]:
    return [f.user_id for f in running.channel.friends.values() if f.is_friend]


def upload(running, ids: list[str], description: str = "VIP") -> int:
    request = CreateAudienceGroupRequest(
        description=description, audiences=[Audience(id=i) for i in ids]
    )
    return audiences(running).create_audience_group(request).audience_group_id


def narrowcast(running, retry_key: str | None = None, **fields) -> str:
    response = line(running).narrowcast_with_http_info(
        NarrowcastRequest(messages=TEXT, **fields), x_line_retry_key=retry_key
    )
    assert response.status_code == 202
    return response.headers["x-line-request-id"]


def wait_done(running, request_id: str, timeout: float = 10):
    deadline = time.monotonic() + timeout
    while True:
        progress = line(running).get_narrowcast_progress(request_id)
        if progress.phase in ("succeeded", "failed"):
            return progress
        assert time.monotonic() < deadline, f"narrowcast still {progress.phase}"
        time.sleep(0.02)


def received(running, request_id: str) -> set[str]:
    return {
        uid
        for uid, inbox in running.channel.inboxes.items()
        if any(e.request_id == request_id and e.kind == "narrowcast" for e in inbox)
    }


def error_of(call) -> tuple[int, dict]:
    with pytest.raises((ApiException, AudienceApiException)) as caught:
        call()
    return caught.value.status, json.loads(caught.value.body)


# --- audiences ---


def test_upload_audience_lifecycle(checked_emulator):
    manage = audiences(checked_emulator)
    ids = following(checked_emulator)[:30]
    response = manage.create_audience_group_with_http_info(
        CreateAudienceGroupRequest(
            description="購入者 2026",
            uploadDescription="first.csv",
            audiences=[Audience(id=i) for i in ids[:20]],
        )
    )
    assert response.status_code == 202
    created = response.data
    assert (created.type, created.create_route, created.permission) == (
        "UPLOAD",
        "MESSAGING_API",
        "READ_WRITE",
    )
    assert created.is_ifa_audience is False
    assert created.expire_timestamp - created.created == 180 * 86400
    group_id = created.audience_group_id
    manage.add_audience_to_audience_group(
        AddAudienceToAudienceGroupRequest(
            audienceGroupId=group_id,
            uploadDescription="second.csv",
            audiences=[Audience(id=i) for i in ids[10:]],
        )
    )
    data = manage.get_audience_data(group_id)
    assert (data.audience_group.status, data.audience_group.audience_count) == ("READY", 30)
    assert [(j.description, j.audience_count, j.job_status) for j in data.jobs] == [
        ("second.csv", 10, "FINISHED"),
        ("first.csv", 20, "FINISHED"),
    ]
    manage.update_audience_group_description(
        group_id, UpdateAudienceGroupDescriptionRequest(description="購入者 2027")
    )
    assert manage.get_audience_data(group_id).audience_group.description == "購入者 2027"
    manage.delete_audience_group(group_id)
    status, body = error_of(lambda: manage.get_audience_data(group_id))
    assert status == 400
    assert body == {
        "message": "audience group not found",
        "details": [{"message": "AUDIENCE_GROUP_NOT_FOUND"}],
    }


def test_empty_audience_stays_in_progress_and_list_filters(checked_emulator):
    manage = audiences(checked_emulator)
    ids = following(checked_emulator)
    empty = upload(checked_emulator, [], "empty one")
    groups = [upload(checked_emulator, ids[i : i + 5], f"Segment {i}") for i in range(0, 25, 5)]
    assert manage.get_audience_data(empty).audience_group.status == "IN_PROGRESS"
    first = manage.get_audience_groups(page=1, size=4)
    assert (first.total_count, first.has_next_page, first.page, first.size) == (6, True, 1, 4)
    assert first.read_write_audience_group_total_count == 6
    second = manage.get_audience_groups(page=2, size=4)
    assert len(second.audience_groups) == 2 and not second.has_next_page
    listed = [g.audience_group_id for g in first.audience_groups + second.audience_groups]
    assert sorted(listed) == sorted([empty, *groups])
    assert manage.get_audience_groups(page=1, description="segment").total_count == 5
    in_progress = manage.get_audience_groups(page=1, status="IN_PROGRESS")
    assert [g.audience_group_id for g in in_progress.audience_groups] == [empty]
    assert raw(checked_emulator).get("/v2/bot/audienceGroup/list").status_code == 400
    too_big = raw(checked_emulator).get(
        "/v2/bot/audienceGroup/list", params={"page": 1, "size": 41}
    )
    assert too_big.json() == {  # the SDK would refuse to send it
        "message": "size: must be less than or equal to 40",
        "details": [{"message": "TOO_HIGH"}],
    }


def test_upload_errors(checked_emulator):
    http = raw(checked_emulator)
    good = following(checked_emulator)[:3]
    bad_id = http.post(
        "/v2/bot/audienceGroup/upload",
        json={"description": "x", "audiences": [{"id": good[0]}, {"id": "U123"}, {"id": good[1]}]},
    )
    assert bad_id.status_code == 400
    assert bad_id.json() == {  # LINE's reference, word for word
        "message": "Invalid audience id format",
        "details": [
            {"message": "UPLOAD_AUDIENCE_GROUP_INVALID_AUDIENCE_ID_FORMAT", "property": "audiences"}
        ],
    }
    long = http.post("/v2/bot/audienceGroup/upload", json={"description": "a" * 121})
    assert long.json() == {
        "message": "size over audienceGroupName",
        "details": [{"message": "AUDIENCE_GROUP_NAME_SIZE_OVER"}],
    }
    long_job = http.post(
        "/v2/bot/audienceGroup/upload",
        json={"description": "x", "uploadDescription": "f" * 301, "audiences": [{"id": good[0]}]},
    )
    assert long_job.status_code == 400
    assert long_job.json()["details"][0]["property"] == "uploadDescription"
    blank = http.post("/v2/bot/audienceGroup/upload", json={"description": "  "})
    assert blank.json()["details"][0]["message"] == "AUDIENCE_GROUP_NAME_EMPTY"
    too_many = http.post(
        "/v2/bot/audienceGroup/upload",
        json={"description": "x", "audiences": [{"id": good[0]}] * 10_001},
    )
    assert too_many.json()["details"][0]["message"] == "UPLOAD_AUDIENCE_GROUP_TOO_MANY_AUDIENCE_IDS"
    assert checked_emulator.channel.audiences == {}  # nothing was created
    unknown = http.put(
        "/v2/bot/audienceGroup/upload",
        json={"audienceGroupId": 123, "audiences": [{"id": good[0]}]},
    )
    assert unknown.json()["details"][0]["message"] == "AUDIENCE_GROUP_NOT_FOUND"
    ifa = http.post(
        "/v2/bot/audienceGroup/upload",
        json={"description": "ads", "isIfaAudience": True, "audiences": [{"id": good[0]}]},
    )
    assert ifa.status_code == 400  # a user ID is no IFA
    assert http.get("/v2/bot/audienceGroup/abc").status_code == 400


def test_click_and_impression_audiences(checked_emulator):
    response = line(checked_emulator).broadcast_with_http_info(BroadcastRequest(messages=TEXT))
    request_id = response.headers["x-line-request-id"]
    users = following(checked_emulator)
    channel = checked_emulator.channel

    async def interact():
        channel.link_clicks[request_id] = {
            "https://shop.example/sale": set(users[:60]),
            "https://shop.example/new": set(users[50:55]),
        }
        for uid in users[:55]:
            channel.inboxes[uid][-1].read = True

    checked_emulator.call(interact())
    manage = audiences(checked_emulator)
    clicked = manage.create_click_based_audience_group(
        CreateClickBasedAudienceGroupRequest(
            description="clicked sale", requestId=request_id, clickUrl="https://shop.example/sale"
        )
    )
    assert clicked.type == "CLICK" and clicked.request_id == request_id
    group = manage.get_audience_data(clicked.audience_group_id).audience_group
    assert (group.status, group.audience_count) == ("READY", 60)
    few = manage.create_click_based_audience_group(
        CreateClickBasedAudienceGroupRequest(
            description="clicked new", requestId=request_id, clickUrl="https://shop.example/new"
        )
    )
    group = manage.get_audience_data(few.audience_group_id).audience_group
    assert (group.status, group.failed_type) == ("FAILED", "AUDIENCE_GROUP_AUDIENCE_INSUFFICIENT")
    imp = manage.create_imp_based_audience_group(
        CreateImpBasedAudienceGroupRequest(description="opened", requestId=request_id)
    )
    assert manage.get_audience_data(imp.audience_group_id).audience_group.audience_count == 55
    raw_imp = raw(checked_emulator).post(
        "/v2/bot/audienceGroup/imp", json={"description": "opened 2", "requestId": request_id}
    )
    # the reference's example answer carries the same fields as the other create endpoints
    assert raw_imp.json().keys() >= {
        "createRoute",
        "permission",
        "expireTimestamp",
        "isIfaAudience",
    }
    status, body = error_of(
        lambda: manage.create_imp_based_audience_group(
            CreateImpBasedAudienceGroupRequest(description="x", requestId="no-such-request")
        )
    )
    assert status == 400 and body["details"][0]["message"] == "REQUEST_NOT_FOUND"


# --- narrowcast ---


def test_narrowcast_to_upload_audience_is_exempt_from_minimum(checked_emulator):
    ids = following(checked_emulator)[:10]
    group = upload(checked_emulator, ids)
    request_id = narrowcast(checked_emulator, recipient=AudienceRecipient(audienceGroupId=group))
    progress = wait_done(checked_emulator, request_id)
    assert (
        progress.phase,
        progress.target_count,
        progress.success_count,
        progress.failure_count,
    ) == ("succeeded", 10, 10, 0)
    assert progress.accepted_time and progress.completed_time
    assert received(checked_emulator, request_id) == set(ids)
    assert checked_emulator.channel.narrowcasts[request_id]["recipients"] == sorted(ids)


def test_narrowcast_demographic_filter(checked_emulator):
    demographic = OperatorDemographicFilter(
        var_and=[
            GenderDemographicFilter(oneOf=["female"]),
            AgeDemographicFilter(gte="age_20", lt="age_45"),
        ]
    )
    request_id = narrowcast(checked_emulator, filter=Filter(demographic=demographic))
    expected = {
        f.user_id
        for f in checked_emulator.channel.friends.values()
        if f.is_friend and f.traits.gender == "female" and 20 <= int(f.traits.age_band[4:]) < 45
    }
    assert len(expected) >= 50
    progress = wait_done(checked_emulator, request_id)
    assert progress.phase == "succeeded" and progress.target_count == len(expected)
    assert received(checked_emulator, request_id) == expected


def test_narrowcast_or_and_not_filters(checked_emulator):
    """Android users, or anyone who added the account less than 180 days ago, except men."""
    demographic = {
        "type": "operator",
        "and": [
            {
                "type": "operator",
                "or": [
                    {"type": "appType", "oneOf": ["android"]},
                    {"type": "subscriptionPeriod", "lt": "day_180"},
                ],
            },
            {"type": "operator", "not": {"type": "gender", "oneOf": ["male"]}},
        ],
    }
    answer = raw(checked_emulator).post(
        "/v2/bot/message/narrowcast",
        json={"messages": [{"type": "text", "text": "hi"}], "filter": {"demographic": demographic}},
    )
    assert answer.status_code == 202
    now = checked_emulator.emulator.state.clock.now()
    expected = {
        f.user_id
        for f in checked_emulator.channel.friends.values()
        if f.is_friend
        and f.traits.gender != "male"
        and (f.traits.app_type == "android" or now - f.first_followed_at < 180 * 86400)
    }
    request_id = answer.headers["x-line-request-id"]
    assert wait_done(checked_emulator, request_id).target_count == len(expected)
    assert received(checked_emulator, request_id) == expected


def test_narrowcast_operator_and_not(checked_emulator):
    ids = following(checked_emulator)
    everyone, excluded = upload(checked_emulator, ids[:40]), upload(checked_emulator, ids[:15])
    recipient = OperatorRecipient(
        var_and=[
            AudienceRecipient(audienceGroupId=everyone),
            OperatorRecipient(var_not=AudienceRecipient(audienceGroupId=excluded)),
        ]
    )
    request_id = narrowcast(checked_emulator, recipient=recipient)
    assert wait_done(checked_emulator, request_id).phase == "succeeded"
    assert received(checked_emulator, request_id) == set(ids[15:40])


def test_demographic_filter_needs_target_reach_of_100(start_checked_emulator):
    small = start_checked_emulator(friends=80)
    status, body = error_of(
        lambda: narrowcast(
            small, filter=Filter(demographic=GenderDemographicFilter(oneOf=["male"]))
        )
    )
    assert (status, body) == (403, {"message": "Your account does not have enough friends"})
    assert small.channel.narrowcasts == {}


def test_too_few_recipients_fail_after_202(checked_emulator):
    """Attributes leave fewer than 50: accepted, then failed with errorCode 2."""
    okinawa = {"type": "area", "oneOf": ["jp_47"]}
    answer = raw(checked_emulator).post(
        "/v2/bot/message/narrowcast",
        json={"messages": [{"type": "text", "text": "hi"}], "filter": {"demographic": okinawa}},
    )
    assert answer.status_code == 202
    progress = wait_done(checked_emulator, answer.headers["x-line-request-id"])
    assert (progress.phase, progress.error_code) == ("failed", 2)
    assert progress.failed_description and progress.completed_time
    assert received(checked_emulator, answer.headers["x-line-request-id"]) == set()


def test_redelivery(checked_emulator):
    ids = following(checked_emulator)
    first = narrowcast(
        checked_emulator,
        recipient=AudienceRecipient(audienceGroupId=upload(checked_emulator, ids[:70])),
    )
    wait_done(checked_emulator, first)
    again = narrowcast(checked_emulator, recipient=RedeliveryRecipient(requestId=first))
    assert wait_done(checked_emulator, again).target_count == 70
    assert received(checked_emulator, again) == set(ids[:70])
    small = narrowcast(
        checked_emulator,
        recipient=AudienceRecipient(audienceGroupId=upload(checked_emulator, ids[:10])),
    )
    wait_done(checked_emulator, small)
    too_few = narrowcast(checked_emulator, recipient=RedeliveryRecipient(requestId=small))
    assert wait_done(checked_emulator, too_few).error_code == 2  # redelivery has the minimum
    status, body = error_of(
        lambda: narrowcast(checked_emulator, recipient=RedeliveryRecipient(requestId="nope"))
    )
    assert (status, body) == (400, {"message": "Invalid request id: nope"})


def test_audience_checks_at_request_and_send_time(checked_emulator):
    empty = upload(checked_emulator, [])
    status, body = error_of(
        lambda: narrowcast(checked_emulator, recipient=AudienceRecipient(audienceGroupId=empty))
    )
    assert (status, body) == (400, {"message": f"Invalid audience group id: {empty}"})
    # a click audience of another kind counts: below 50 following members -> errorCode 4
    broadcast = line(checked_emulator).broadcast_with_http_info(BroadcastRequest(messages=TEXT))
    request_id = broadcast.headers["x-line-request-id"]
    users = following(checked_emulator)
    channel = checked_emulator.channel

    async def click_then_block():
        channel.link_clicks[request_id] = {"https://x.example/": set(users[:55])}

    checked_emulator.call(click_then_block())
    clicked = audiences(checked_emulator).create_click_based_audience_group(
        CreateClickBasedAudienceGroupRequest(description="c", requestId=request_id)
    )

    async def block():
        for uid in users[:10]:
            friend = channel.friends[uid]
            friend.is_friend, friend.blocked, friend.blocked_at = False, True, 1.0

    checked_emulator.call(block())
    failed = narrowcast(
        checked_emulator, recipient=AudienceRecipient(audienceGroupId=clicked.audience_group_id)
    )
    assert wait_done(checked_emulator, failed).error_code == 4


def test_limit_max_and_quota(start_checked_emulator):
    running = start_checked_emulator(quota_limit=100)
    capped = narrowcast(running, limit=Limit(max=30))
    assert wait_done(running, capped).target_count == 30
    assert len(received(running, capped)) == 30
    over = narrowcast(running)  # 300 friends, 70 messages left: the reservation fails
    assert (wait_done(running, over).phase, wait_done(running, over).error_code) == ("failed", 1)
    forbid = narrowcast(running, limit=Limit(upToRemainingQuota=True, forbidPartialDelivery=True))
    assert wait_done(running, forbid).error_code == 5
    partial = narrowcast(running, limit=Limit(upToRemainingQuota=True))
    assert wait_done(running, partial).success_count == 70
    status, body = error_of(lambda: narrowcast(running))
    assert (status, body) == (429, {"message": "You have reached your monthly limit."})


def test_forbid_partial_delivery_needs_up_to_remaining_quota(checked_emulator):
    answer = raw(checked_emulator).post(
        "/v2/bot/message/narrowcast",
        json={
            "messages": [{"type": "text", "text": "hi"}],
            "limit": {"forbidPartialDelivery": True},
        },
    )
    assert answer.status_code == 400
    assert answer.json() == {
        "message": "The option forbidPartialDelivery must be used with upToRemainingQuota."
    }
    invalid = raw(checked_emulator).post(
        "/v2/bot/message/narrowcast",
        json={
            "messages": [{"type": "text", "text": "hi"}],
            "filter": {"demographic": {"type": "age", "gte": "age_40", "lt": "age_20"}},
        },
    )
    assert invalid.status_code == 400 and invalid.json()["details"]


def test_progress_phases(checked_emulator, monkeypatch):
    monkeypatch.setattr(narrowcast_module, "PHASE_DELAY_S", 0.3)
    request_id = narrowcast(checked_emulator, limit=Limit(max=60))
    seen = []
    while not seen or seen[-1] not in ("succeeded", "failed"):
        progress = line(checked_emulator).get_narrowcast_progress(request_id)
        if not seen or seen[-1] != progress.phase:
            seen.append(progress.phase)
        if progress.phase == "waiting":
            assert progress.target_count is None and progress.completed_time is None
            # LINE: `delivered` is null until every message has been sent
            assert (
                insight(checked_emulator).get_message_event(request_id).overview.delivered is None
            )
        time.sleep(0.02)
    assert seen == ["waiting", "sending", "succeeded"]
    assert insight(checked_emulator).get_message_event(request_id).overview.delivered == 60
    assert error_of(lambda: line(checked_emulator).get_narrowcast_progress(str(uuid.uuid4()))) == (
        404,
        {"message": "Not found"},
    )
    assert error_of(lambda: line(checked_emulator).get_narrowcast_progress("x")) == (
        400,
        {"message": "The value for the 'requestId' parameter is invalid"},
    )
    assert raw(checked_emulator).get("/v2/bot/message/progress/narrowcast").status_code == 400


def test_progress_expires_after_14_days(checked_emulator):
    request_id = narrowcast(checked_emulator, limit=Limit(max=60))
    wait_done(checked_emulator, request_id)

    async def later():
        checked_emulator.emulator.state.clock.advance(14 * 86400)

    checked_emulator.call(later())
    assert error_of(lambda: line(checked_emulator).get_narrowcast_progress(request_id))[0] == 404


def test_retry_key(checked_emulator):
    key = str(uuid.uuid4())
    first = narrowcast(checked_emulator, retry_key=key, limit=Limit(max=60))
    with pytest.raises(ApiException) as caught:
        narrowcast(checked_emulator, retry_key=key, limit=Limit(max=60))
    assert caught.value.status == 409
    assert caught.value.headers["x-line-accepted-request-id"] == first
    assert len(checked_emulator.channel.narrowcasts) == 1
