"""配信 pages: who may see and change deliveries, compose errors next to their fields,
drafts edited and listed a page at a time, and compose → schedule → send → report against
the LINE emulator, all audited."""

from __future__ import annotations

import re
from contextlib import closing

import httpx
import pytest
from sqlalchemy import insert, select

from enishi.audit.actor import Actor
from enishi.audit.models import AuditEntry
from enishi.db.base import utcnow
from enishi.delivery import service
from enishi.delivery.models import Delivery
from enishi.delivery.schemas import DeliveryCreate
from enishi.friends.models import FOLLOWING, Friend
from enishi.operators.roles import Role
from enishi.segments.service import create_segment
from tests.delivery.conftest import mirror_friends
from tests.e2e_support import start_e2e  # noqa: F401 - a fixture
from tests.web.compose import TEXT, compose_form
from tests.web.conftest import PASSWORD, add_operator, csrf_of, login


def draft(state, account_id: int, name: str = "秋のセール", **extra) -> int:
    body = {
        "name": name,
        "audience": {"type": "all"},
        "messages": [{"type": "text", "text": TEXT}],
        **extra,
    }
    with state.sessions.begin() as session:
        return service.create_delivery(
            session, account_id, DeliveryCreate(**body), actor=Actor.cli()
        ).id


def audit_actions(state, account_id: int) -> list[str]:
    """The dashboard's entries (the setup writes through the services as the CLI)."""
    with state.sessions() as session:
        return list(
            session.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.account_id == account_id, AuditEntry.operator_id.is_not(None))
                .order_by(AuditEntry.id)
            )
        )


def deliveries(state) -> list[Delivery]:
    with state.sessions() as session:
        return list(session.scalars(select(Delivery).order_by(Delivery.id)))


def errors_of(html: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for name, text in re.findall(r'data-error="([^"]+)">(.*?)</span>', html):
        found.setdefault(name, []).append(re.sub(r"<[^>]+>", "", text))  # with the detail
    return found


def test_a_viewer_sees_deliveries_but_cannot_compose_or_control(login_as, account_id, state):
    delivery_id = draft(state, account_id)
    viewer = login_as(Role.VIEWER)
    base = f"/accounts/{account_id}/deliveries"
    listing = viewer.get(base)
    assert listing.status_code == 200 and "秋のセール" in listing.text
    assert "新しい配信" not in listing.text  # no compose button for a viewer
    detail = viewer.get(f"{base}/{delivery_id}")
    assert detail.status_code == 200 and 'data-testid="schedule"' not in detail.text
    assert viewer.get(f"{base}/{delivery_id}/progress").json()["status"] == "draft"
    for path in ("/new", f"/{delivery_id}/edit"):
        assert viewer.get(base + path).status_code == 403
    token = csrf_of(listing.text)
    for path in (
        "",
        f"/{delivery_id}",
        *(f"/{delivery_id}/{verb}" for verb in ("schedule", "pause", "resume", "cancel", "delete")),
    ):
        response = viewer.post(base + path, data=compose_form(token), follow_redirects=False)
        assert response.status_code == 403, path
    assert [d.status for d in deliveries(state)] == ["draft"]
    assert audit_actions(state, account_id) == []


@pytest.mark.parametrize("role", [Role.MARKETER, Role.ADMIN, Role.OWNER])
def test_marketers_and_up_open_the_compose_page(login_as, account_id, role):
    client = login_as(role)
    page = client.get(f"/accounts/{account_id}/deliveries/new")
    assert page.status_code == 200
    assert 'id="preview-config"' in page.text and "/static/deliveries.js" in page.text
    assert "<script>" not in page.text  # no inline script: the CSP allows /static only
    english = client.get(f"/accounts/{account_id}/deliveries/new?lang=en").text
    assert "Save and schedule" in english and "Personalization variables" in english


def test_compose_starts_addressed_to_a_segment_given_in_the_url(login_as, account_id, state):
    with state.sessions.begin() as session:
        segment = create_segment(
            session,
            account_id,
            "50日以内にクリック",
            {"version": 1, "where": {"clicked": {"within_days": 50}}},
            actor=Actor.cli(),
        )
        segment_id = segment.id
    page = login_as(Role.MARKETER).get(
        f"/accounts/{account_id}/deliveries/new?segment_id={segment_id}"
    )
    assert page.status_code == 200
    assert re.search(r'name="audience_type" value="segment" checked', page.text)
    assert f'<option value="{segment_id}" selected>' in page.text


def test_an_unknown_or_foreign_delivery_is_not_found(login_as, account_id, state):
    from tests.web.conftest import add_account

    other = add_account(state, name="他社", channel_id="2000000002")
    foreign = draft(state, other)
    client = login_as(Role.MARKETER)
    base = f"/accounts/{account_id}/deliveries"
    assert client.get(f"{base}/{foreign}").status_code == 404
    assert client.get(f"{base}/999999/edit").status_code == 404
    token = csrf_of(client.get(base).text)
    response = client.post(f"{base}/{foreign}/cancel", data={"csrf_token": token})
    assert response.status_code == 404
    assert [d.status for d in deliveries(state)] == ["draft"]


def test_form_errors_are_shown_next_to_their_fields(login_as, account_id, state):
    client = login_as(Role.MARKETER)
    base = f"/accounts/{account_id}/deliveries"
    token = csrf_of(client.get(f"{base}/new").text)
    response = client.post(
        base,
        data=compose_form(
            token,
            name=" ",
            holdout_percent="150",
            arm0_m1_type="template",
            arm0_m1_json='{"type": "template", "altText": ',
            arm0_m0_quick="|only text",
            audience_type="segment",
            timing="at",
            send_at="",
        ),
    )
    assert response.status_code == 422
    errors = errors_of(response.text)
    assert set(errors) >= {
        "name",
        "holdout_percent",
        "arm0_m1_json",
        "arm0_m0_quick",
        "audience",
        "send_at",
    }
    assert "JSONとして読めません" in errors["arm0_m1_json"][0]
    # what was typed is kept
    assert 'name="arm0_m1_json"' in response.text and "altText" in response.text
    assert deliveries(state) == []


def test_the_services_problems_land_on_the_field_they_name(login_as, account_id, state):
    client = login_as(Role.MARKETER)
    base = f"/accounts/{account_id}/deliveries"
    token = csrf_of(client.get(f"{base}/new").text)
    template = (
        '{"type": "template", "altText": "お知らせ", "template": {"type": "buttons", '
        '"text": "本文", "actions": [{"type": "uri", "label": "とても長いラベルは二十文字を'
        '超えるとエラーになります", "uri": "https://shop.example/"}]}}'
    )
    form = compose_form(
        token,
        arm0_m0_text="x" * 5001,
        arm0_m2_type="template",
        arm0_m2_json=template,
        arm0_m3_type="text",
        arm0_m3_text="{{attr.unknown}}さん",
        intent="validate",
    )
    checked = client.post(base, data=form)
    assert checked.status_code == 422  # a draft may hold problems: it is saved, and shown
    (delivery,) = deliveries(state)
    errors = errors_of(checked.text)
    assert "5000" in errors["arm0_m0_text"][0]
    # slot 2 of the form holds message 1 of the arm (slot 1 was left empty)
    assert any("arms[0].messages[1].template.actions[0].label" in e for e in errors["arm0_m2_json"])
    assert any("attr.unknown" in e for e in errors["arm0_messages"])
    # the draft's own page shows the same problems (its messages fill slots 0, 1, 2)
    errors = errors_of(client.get(f"{base}/{delivery.id}/edit").text)
    assert "5000" in errors["arm0_m0_text"][0]
    assert any("template.actions[0].label" in e for e in errors["arm0_m1_json"])
    assert audit_actions(state, account_id) == ["delivery.created"]


def test_a_draft_is_edited_in_place(login_as, account_id, state):
    client = login_as(Role.MARKETER)
    base = f"/accounts/{account_id}/deliveries"
    token = csrf_of(client.get(f"{base}/new").text)
    created = client.post(
        base,
        data=compose_form(
            token,
            arm_count="2",
            arm1_name="B",
            arm1_m0_type="image",
            arm1_m0_original="https://shop.example/a.jpg",
            arm0_m0_quick="見る\nサイト|https://shop.example/",
            holdout_percent="10",
        ),
        follow_redirects=False,
    )
    assert created.status_code == 303
    (delivery,) = deliveries(state)
    assert delivery.holdout_share == pytest.approx(0.1)
    assert [arm["name"] for arm in delivery.arms] == ["A", "B"]
    assert delivery.arms[0]["messages"][0]["quickReply"]["items"][1]["action"] == {
        "type": "uri",
        "label": "サイト",
        "uri": "https://shop.example/",
    }
    assert delivery.arms[1]["messages"] == [
        {
            "type": "image",
            "originalContentUrl": "https://shop.example/a.jpg",
            "previewImageUrl": "https://shop.example/a.jpg",
        }
    ]
    edit = client.get(f"{base}/{delivery.id}/edit").text
    assert 'value="https://shop.example/a.jpg"' in edit and "サイト|https://shop.example/" in edit
    response = client.post(
        f"{base}/{delivery.id}",
        data=compose_form(token, name="秋のセール（改）", arm_count="1"),
        follow_redirects=False,
    )
    assert response.status_code == 303
    (delivery,) = deliveries(state)
    assert delivery.name == "秋のセール（改）" and len(delivery.arms) == 1
    assert audit_actions(state, account_id) == ["delivery.created", "delivery.updated"]


def test_an_uploaded_list_pasted_and_as_a_file(login_as, account_id, state):
    users = [f"U{i:032x}" for i in range(1, 4)]
    now = utcnow()
    with state.sessions.begin() as session:
        session.execute(
            insert(Friend),
            [
                {
                    "account_id": account_id,
                    "line_user_id": user,
                    "display_name": f"友{i}",
                    "status": FOLLOWING,
                    "first_followed_at": now,
                    "last_followed_at": now,
                }
                for i, user in enumerate(users)
            ],
        )
    client = login_as(Role.MARKETER)
    base = f"/accounts/{account_id}/deliveries"
    token = csrf_of(client.get(f"{base}/new").text)
    unknown = "U" + "f" * 32
    response = client.post(
        base,
        data=compose_form(token, audience_type="list", list_ids=f"{users[0]}\n{unknown}"),
        files={"list_file": ("ids.csv", f"line_user_id\n{users[1]}\n{users[2]}\n".encode())},
        follow_redirects=False,
    )
    assert response.status_code == 303, errors_of(response.text)
    (delivery,) = deliveries(state)
    assert delivery.audience["matched"] == 3 and delivery.audience["uploaded"] == 4
    edit = client.get(f"{base}/{delivery.id}/edit").text
    assert "アップロード済み: 4件（うち友だち3人）" in edit
    kept = client.post(
        f"{base}/{delivery.id}",
        data=compose_form(token, audience_type="list", name="名前だけ変更"),
        follow_redirects=False,
    )
    assert kept.status_code == 303
    assert deliveries(state)[0].audience["matched"] == 3  # no new IDs: the list stays
    bad = client.post(
        f"{base}/{delivery.id}",
        data=compose_form(token, audience_type="list", list_ids="not-an-id"),
    )
    assert bad.status_code == 422 and "audience" in errors_of(bad.text)
    (delivery,) = deliveries(state)  # refused: the draft is as it was
    assert delivery.name == "名前だけ変更" and delivery.audience["matched"] == 3


def test_the_list_shows_one_page_at_a_time(login_as, account_id, state):
    for i in range(23):
        draft(state, account_id, name=f"配信{i:02d}")
    client = login_as(Role.VIEWER)
    base = f"/accounts/{account_id}/deliveries"
    first = client.get(base).text
    assert first.count("data-delivery=") == 20 and "配信22" in first and "配信02" not in first
    older = re.search(r'href="\?before=(\d+)"', first).group(1)
    second = client.get(f"{base}?before={older}").text
    assert second.count("data-delivery=") == 3 and "配信00" in second
    assert 'data-testid="older"' not in second
    assert client.get(f"{base}?status=done").text.count("data-delivery=") == 0


# --- against the LINE emulator -------------------------------------------------------------
def web_client(e2e, role: Role, email: str) -> httpx.Client:
    add_operator(e2e.state, email, role, e2e.account_id)
    client = httpx.Client(base_url=e2e.base_url, timeout=60)
    assert login(client, email, PASSWORD).status_code == 303
    return client


def test_compose_schedule_send_and_report(start_e2e):  # noqa: F811
    e2e = start_e2e(friends=6, quota_limit=None)
    mirror_friends(e2e.state, e2e.account_id, e2e.channel)
    base = f"/accounts/{e2e.account_id}/deliveries"
    with closing(web_client(e2e, Role.MARKETER, "marketer@example.jp")) as client:
        token = csrf_of(client.get(f"{base}/new").text)
        checked = client.post(base, data=compose_form(token, intent="validate"))
        assert checked.status_code == 200, errors_of(checked.text)
        assert 'data-testid="audience-count">6<' in checked.text
        (delivery,) = deliveries(e2e.state)
        response = client.post(
            f"{base}/{delivery.id}",
            data=compose_form(token, intent="schedule"),
            follow_redirects=False,
        )
        assert response.status_code == 303, errors_of(response.text)
        assert response.headers["location"] == f"{base}/{delivery.id}?notice=saved"
        assert deliveries(e2e.state)[0].status == "scheduled"
        e2e.worker.run_until_idle(60)
        for _ in range(50):
            if deliveries(e2e.state)[0].status == "done":
                break
            e2e.worker.run_until_idle(60)
        progress = client.get(f"{base}/{delivery.id}/progress").json()
        assert progress["status"] == "done" and progress["recipients"]["sent"] == 6
        detail = client.get(f"{base}/{delivery.id}").text
        assert 'data-testid="report"' in detail and 'data-chart="chart-outcomes"' in detail
        assert 'data-testid="sent-count">6<' in detail
    inbox = [
        entry.messages[0]["text"]
        for user in e2e.following()
        for entry in e2e.channel.inboxes.get(user, [])
    ]
    assert len(inbox) == 6 and all("さん、秋のセールです" in text for text in inbox)
    names = {f.display_name for f in e2e.channel.friends.values()}
    assert all(text.split("さん、")[0] in names for text in inbox)  # personalized per friend
    assert audit_actions(e2e.state, e2e.account_id) == [
        "delivery.created",
        "delivery.updated",
        "delivery.scheduled",
    ]


def test_schedule_refusals_and_pause_resume_cancel(start_e2e):  # noqa: F811
    e2e = start_e2e(friends=3, quota_limit=None)
    mirror_friends(e2e.state, e2e.account_id, e2e.channel)
    base = f"/accounts/{e2e.account_id}/deliveries"
    with closing(web_client(e2e, Role.MARKETER, "marketer@example.jp")) as client:
        token = csrf_of(client.get(f"{base}/new").text)
        # LINE's validate endpoint refuses what enishi let through: the error names the field
        refused = client.post(
            base,
            data=compose_form(
                token,
                intent="schedule",
                arm0_m0_type="other",
                arm0_m0_json='{"type": "location", "title": "本店", "address": "渋谷"}',
            ),
        )
        assert refused.status_code == 422
        assert any(name == "arm0_m0_json" for name in errors_of(refused.text))
        assert deliveries(e2e.state)[0].status == "draft"
        later = client.post(
            base,
            data=compose_form(token, intent="schedule", timing="at", send_at="2099-01-01T09:00"),
            follow_redirects=False,
        )
        assert later.status_code == 303, errors_of(later.text)
        delivery = deliveries(e2e.state)[1]
        assert delivery.status == "scheduled" and delivery.send_at.year == 2099
        assert delivery.send_at.hour == 0  # 09:00 in Tokyo
        for verb, status in (("pause", "paused"), ("resume", "scheduled"), ("cancel", "cancelled")):
            response = client.post(
                f"{base}/{delivery.id}/{verb}", data={"csrf_token": token}, follow_redirects=False
            )
            assert response.status_code == 303, verb
            assert deliveries(e2e.state)[1].status == status
        again = client.post(f"{base}/{delivery.id}/resume", data={"csrf_token": token})
        assert again.status_code == 409
    assert audit_actions(e2e.state, e2e.account_id) == [
        "delivery.created",
        "delivery.created",
        "delivery.scheduled",
        "delivery.paused",
        "delivery.resumed",
        "delivery.cancelled",
    ]
