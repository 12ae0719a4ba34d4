"""The friends and segments pages in Chromium: build a segment and watch the live count
follow the conditions; open a friend and add a tag. Pictures (docs/screenshots with `make screenshots`): friend.png and
segment-builder.png."""

from __future__ import annotations

from datetime import timedelta

from playwright.sync_api import expect
from sqlalchemy import select

from enishi.audit.models import AuditEntry
from enishi.db.base import utcnow
from enishi.friends.attribute_defs import create_attribute_def
from enishi.friends.models import FollowHistory, FriendActivity
from enishi.friends.service import add_tag, friend_tags, set_attribute
from enishi.inflow.models import InflowRoute
from enishi.segments.models import Segment
from enishi.tracking.models import Click, Conversion, Link
from tests.friends.conftest import make_friend

NAMES = ["佐藤 美咲", "鈴木 健太", "高橋 優奈", "田中 翔", "伊藤 さくら", "渡辺 大輔"]


def populate(state, account_id: int) -> int:
    """30 following friends: every third one VIP, every second one clicked a week ago; the
    first with a full history. Returns the first friend's id."""
    now = utcnow()
    with state.sessions.begin() as session:
        route = InflowRoute(account_id=account_id, code="shop_qr", name="店頭QR")
        link = Link(account_id=account_id, url="https://shop.example.jp/tea/TEA-01")
        session.add_all([route, link])
        create_attribute_def(session, account_id, key="age", label="年齢", type="number")
        create_attribute_def(
            session,
            account_id,
            key="plan",
            label="会員ランク",
            type="choice",
            choices=["一般", "ゴールド"],
        )
        session.flush()
        friends = []
        for n in range(30):
            followed = now - timedelta(days=90 - n)
            friend = make_friend(
                session,
                account_id,
                n + 1,
                display_name=f"{NAMES[n % len(NAMES)]}{'' if n < 6 else n}",
                first_followed_at=followed,
                last_followed_at=followed,
            )
            if n % 3 == 0:
                add_tag(session, friend, "VIP")
            if n % 2 == 0:
                clicked = now - timedelta(days=7, hours=n)
                session.add(
                    Click(
                        account_id=account_id,
                        link_id=link.id,
                        friend_id=friend.id,
                        clicked_at=clicked,
                    )
                )
                friend.last_click_at, friend.click_count = clicked, 1
            friends.append(friend)
        first = friends[0]
        first.member_id, first.inflow_route_id, first.notes = "M-000123", route.id, "電話NG"
        add_tag(session, first, "新商品に関心")
        set_attribute(session, first, "age", 34)
        set_attribute(session, first, "plan", "ゴールド")
        session.add_all(
            [
                FollowHistory(friend_id=first.id, kind="follow", at=first.first_followed_at),
                FriendActivity(
                    account_id=account_id,
                    friend_id=first.id,
                    kind="message",
                    at=now - timedelta(days=20),
                    data={"type": "text", "text": "在庫はありますか？"},
                ),
                Conversion(
                    account_id=account_id,
                    order_id="ORD-1001",
                    friend_id=first.id,
                    amount_jpy=4800,
                    occurred_at=now - timedelta(days=6),
                ),
            ]
        )
        first.last_purchase_at, first.purchase_count, first.revenue_jpy = (
            now - timedelta(days=6),
            1,
            4800,
        )
        return first.id


def test_build_a_segment_and_watch_the_live_count(logged_in_page, live_server, screenshot):
    page = logged_in_page
    populate(live_server.state, live_server.account_id)
    base = f"{live_server.base_url}/accounts/{live_server.account_id}/segments"
    page.goto(f"{base}/new")
    count = page.locator("[data-testid=live-count]")
    expect(count).to_have_text("30人")  # no conditions: every following friend

    page.select_option("[data-testid=add-condition]", "tags")  # tags: any of [VIP]
    expect(count).to_have_text("10人")
    page.select_option("[data-testid=add-condition] >> nth=-1", "clicked")  # within 50 days
    expect(count).to_have_text("5人")  # VIP (n % 3 == 0) and clicked (n % 2 == 0)
    page.locator("[data-testid=days]").fill("3")  # nobody clicked within 3 days
    expect(count).to_have_text("0人")
    page.locator("[data-testid=days]").fill("30")
    expect(count).to_have_text("5人")
    expect(page.locator("[data-testid=live-sample] tbody tr")).to_have_count(5)
    # a NOT on the tag condition: clicked, not VIP
    page.locator("[data-testid=not-toggle]").nth(1).check()
    expect(count).to_have_text("10人")

    # an error is shown next to the condition it names
    page.locator("[data-testid=days]").fill("0")
    expect(page.locator("[data-error-path='where.all[1].clicked.within_days']")).to_be_visible()
    expect(count).to_have_text("条件にエラーがあります")
    page.locator("[data-testid=days]").fill("30")
    expect(count).to_have_text("10人")

    page.fill("[data-testid=segment-name]", "30日以内にクリック・VIP以外")
    screenshot(page, "segment-builder.png", full_page=True)
    page.click("[data-testid=save-segment]")
    expect(page.locator(".notice")).to_have_text("保存しました。")
    with live_server.state.sessions() as session:
        segment = session.scalar(select(Segment))
        assert segment.name == "30日以内にクリック・VIP以外"
        assert segment.definition == {
            "version": 1,
            "where": {
                "all": [{"not": {"tags": {"any": ["VIP"]}}}, {"clicked": {"within_days": 30}}]
            },
        }
    expect(count).to_have_text("10人")  # the saved segment opens with its count


def test_open_a_friend_and_add_a_tag(logged_in_page, live_server, screenshot):
    page = logged_in_page
    friend_id = populate(live_server.state, live_server.account_id)
    page.goto(f"{live_server.base_url}/accounts/{live_server.account_id}/friends")
    page.fill("[data-testid=friend-search]", "M-000123")
    page.keyboard.press("Enter")
    page.click("text=佐藤 美咲")
    page.wait_for_url(f"**/friends/{friend_id}")
    expect(page.locator("[data-testid=member-id]")).to_have_text("M-000123")
    page.fill("[data-testid=tag-input]", "常連")
    page.click("[data-testid=tag-add]")
    expect(page.locator(".notice")).to_have_text("保存しました。")
    expect(page.locator("[data-testid=friend-tags]")).to_contain_text("常連")
    expect(page.locator("[data-testid=timeline] li").first).to_contain_text("タグ追加")
    with live_server.state.sessions() as session:
        assert set(friend_tags(session, friend_id)) == {"VIP", "常連", "新商品に関心"}
        entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "friend.updated"))
        assert entry.details["changes"] == [{"kind": "tag_added", "tag": "常連"}]
    screenshot(page, "friend.png", full_page=True)
