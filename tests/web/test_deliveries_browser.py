"""配信 in a real browser: compose with the live LINE-like preview, schedule, send to the
emulator's friends, and read the report (Playwright driving /usr/bin/chromium). Saves
docs/screenshots/deliveries-compose.png and deliveries-report.png."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from enishi.db.base import utcnow
from enishi.delivery.models import Delivery
from enishi.operators.roles import Role
from tests.delivery.conftest import Env, mirror_friends
from tests.delivery.report_helpers import buy, click, tracked_url
from tests.e2e_support import start_e2e  # noqa: F401 - a fixture
from tests.web.conftest import add_operator, browser_login


def test_compose_with_preview_schedule_and_see_the_report(browser_page, start_e2e, screenshot):  # noqa: F811
    e2e = start_e2e(friends=120, quota_limit=None, account_name="縁カフェ")
    env = Env(e2e, mirror_friends(e2e.state, e2e.account_id, e2e.channel))
    add_operator(e2e.state, "marketer@example.jp", Role.MARKETER, e2e.account_id)
    page = browser_page
    browser_login(page, e2e.base_url, "marketer@example.jp")
    page.wait_for_url("**/overview")
    page.goto(f"{e2e.base_url}/accounts/{e2e.account_id}/deliveries")
    page.click("[data-testid=new-delivery]")
    page.wait_for_url("**/deliveries/new")
    preview = page.locator("[data-role=preview]")
    assert "メッセージを入力すると" in preview.inner_text()

    page.fill("input[name=name]", "秋のセール告知")
    page.fill(
        "textarea[name=arm0_m0_text]", "さん、秋のセールが始まりました https://shop.example/sale"
    )
    page.focus("textarea[name=arm0_m0_text]")
    page.evaluate("document.querySelector('textarea[name=arm0_m0_text]').setSelectionRange(0, 0)")
    page.click("[data-variable=display_name]")  # inserted at the cursor, with its default
    assert page.input_value("textarea[name=arm0_m0_text]").startswith("{{display_name|お客様}}さん")
    bubble = preview.locator("[data-preview-type=text]").first
    assert bubble.inner_text().startswith("山田 花子さん、秋のセールが始まりました")  # the sample

    page.click("[data-prefix=arm0_m0] details.quick summary")
    page.fill(
        "textarea[name=arm0_m0_quick]", "クーポンを見る\n店舗を探す|https://shop.example/shops"
    )
    assert preview.locator(".pv-chip").all_inner_texts() == ["クーポンを見る", "店舗を探す"]

    arm_a = page.locator("[data-arm='0']")
    arm_a.locator("[data-action=add-message]").click()
    page.select_option("select[name=arm0_m1_type]", "template")  # a sample is put in
    card = preview.locator("[data-preview-type=template]")
    assert card.locator(".pv-action").all_inner_texts() == ["セール会場へ", "あとで見る"]
    json_text = page.input_value("textarea[name=arm0_m1_json]").replace(
        '秋のセール"', '秋の大感謝祭"'
    )
    page.fill("textarea[name=arm0_m1_json]", json_text)
    assert "秋の大感謝祭" in card.locator(".pv-card-title").inner_text()
    page.fill("textarea[name=arm0_m1_json]", json_text[:-5])  # broken JSON: said at once
    assert page.locator("[data-arm='0'] [data-json-error]").nth(1).is_visible()
    page.fill("textarea[name=arm0_m1_json]", json_text)

    page.select_option("select[name=arm_count]", "2")
    page.click("[data-arm-tab='1']")
    page.fill("textarea[name=arm1_m0_text]", "秋のセール開催中です https://shop.example/sale")
    assert "秋のセール開催中です" in preview.inner_text()
    page.click("[data-role=preview-arms] button >> nth=0")
    page.fill("input[name=holdout_percent]", "20")
    page.locator("#compose").scroll_into_view_if_needed()
    page.click("[data-arm-tab='0']")
    screenshot(page, "deliveries-compose.png", full_page=False)

    page.click("[data-testid=schedule]")
    page.wait_for_selector("[data-testid=status] [data-status=scheduled]")
    assert page.locator(".notice").inner_text() == "保存しました。"
    with e2e.state.sessions() as session:
        delivery = session.scalars(select(Delivery)).one()
    assert delivery.holdout_share == 0.2 and [a["name"] for a in delivery.arms] == ["A", "B"]
    assert delivery.arms[0]["messages"][1]["template"]["title"] == "秋の大感謝祭"

    # the worker sends it; the open page follows the progress and reloads when it is done
    deadline = utcnow() + timedelta(seconds=120)
    while env.status(delivery.id) != "done":
        assert utcnow() < deadline, "the delivery did not finish"
        e2e.worker.run_until_idle(60)
    page.wait_for_selector("[data-testid=status] [data-status=done]", timeout=30_000)
    recipients = env.recipients(delivery.id)
    sent = [r for r in recipients if r["status"] == "sent"]
    held_out = [r for r in recipients if r["status"] == "held_out"]
    clickers = sent[::3]
    for recipient in clickers:
        click(tracked_url(env, recipient["line_user_id"]))
    now = utcnow()
    buyers = clickers[::2] + held_out[::8]  # some held-out friends buy anyway
    buy(env, [(r["line_user_id"], 4800 + 100 * i, now) for i, r in enumerate(buyers)])
    page.reload()
    report = page.locator("[data-testid=report-table]")
    total = report.locator("tr.total").inner_text()
    assert str(len(sent)) in total and str(len(clickers)) in total
    page.wait_for_selector("[data-chart=chart-outcomes][data-drawn=true]")
    page.wait_for_selector("[data-chart=chart-rates][data-drawn=true]")
    assert page.locator("[data-testid=holdout-message]").inner_text()
    assert page.locator("[data-role=preview] [data-preview-type=template]").count() == 1
    page.set_viewport_size({"width": 1400, "height": 900})
    screenshot(page, "deliveries-report.png", full_page=True)
