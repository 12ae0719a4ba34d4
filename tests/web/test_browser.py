"""The dashboard in a real browser: Playwright driving Debian's /usr/bin/chromium against
enishi served by uvicorn (tests/web/conftest.py)."""

from __future__ import annotations

from sqlalchemy import select

from enishi.accounts.models import Account
from enishi.audit.models import AuditEntry
from tests.web.conftest import browser_login


def test_log_in_and_see_the_navigation(logged_in_page, live_server):
    page = logged_in_page
    assert page.locator("h1").inner_text() == "概要"
    labels = page.locator(".sidenav a").all_inner_texts()
    assert labels == ["概要", "友だち", "セグメント", "配信", "クリック分析", "流入経路", "設定"]
    page.click("text=友だち")
    page.wait_for_url(f"**/accounts/{live_server.account_id}/friends")
    assert page.locator(".sidenav a[aria-current=page]").inner_text() == "友だち"


def test_a_wrong_password_keeps_you_out(browser_page, live_server):
    browser_login(browser_page, live_server.base_url, "owner@example.jp", "wrong password")
    assert browser_page.locator("[role=alert]").inner_text() == (
        "メールアドレスまたはパスワードが違います。"
    )
    assert browser_page.url.endswith("/login")
    browser_page.goto(f"{live_server.base_url}/accounts/{live_server.account_id}/settings")
    assert "/login?next=" in browser_page.url


def test_a_form_without_its_csrf_token_is_refused(logged_in_page, live_server):
    page = logged_in_page
    page.goto(f"{live_server.base_url}/accounts/{live_server.account_id}/settings")
    page.fill("input[name=name]", "改ざんされた名前")
    page.evaluate("document.querySelectorAll('input[name=csrf_token]').forEach(e => e.remove())")
    page.click("form[action$='/settings/general'] button[type=submit]")
    assert (
        page.locator("[data-testid=error-message]")
        .inner_text()
        .startswith("フォームの有効期限が切れたか")
    )
    with live_server.state.sessions() as session:
        assert session.get(Account, live_server.account_id).name == "テスト店"


def test_change_a_setting_see_it_saved_and_audited(logged_in_page, live_server, screenshot):
    page = logged_in_page
    base = f"{live_server.base_url}/accounts/{live_server.account_id}/settings"
    page.goto(base)
    page.fill("input[name=cost_per_message_jpy]", "1.8")
    page.fill("input[name=attribution_window_days]", "30")
    page.click("form[action$='/settings/general'] button[type=submit]")
    assert page.locator(".notice").inner_text() == "保存しました。"
    assert page.input_value("input[name=attribution_window_days]") == "30"
    screenshot(page, "settings.png", full_page=True)
    page.click("nav.tabs >> text=監査ログ")  # not the header menu's installation log
    row = page.locator("tr[data-action='settings.updated']")
    assert "owner@example.jp" in row.inner_text() and "設定変更" in row.inner_text()
    with live_server.state.sessions() as session:
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "settings.updated")
        ).one()
        assert entry.details["attribution_window_days"] == [7, 30]


def test_switch_the_language_to_english_and_back(logged_in_page, live_server):
    page = logged_in_page
    page.goto(f"{live_server.base_url}/accounts/{live_server.account_id}/settings")
    page.click("text=English")
    assert page.locator("h1").inner_text() == "Settings"
    assert page.locator("html").get_attribute("lang") == "en"
    assert "Click analysis" in page.locator(".sidenav").inner_text()
    page.goto(f"{live_server.base_url}/accounts/{live_server.account_id}/overview")
    assert page.locator("h1").inner_text() == "Overview"  # remembered in a cookie
    page.click("text=日本語")
    assert page.locator("h1").inner_text() == "概要"


def test_plotly_draws_a_chart_offline_under_the_pages_csp(logged_in_page, live_server):
    """What a chart page does (docs/web.md): plotly.js from the local URL, the figure in a
    JSON script tag, static/charts.js draws it — allowed by the Content-Security-Policy."""
    page = logged_in_page
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.evaluate("""() => {
        const figure = {data: [{type: "bar", x: ["1日", "2日"], y: [3, 5]}], layout: {}};
        const json = Object.assign(document.createElement("script"),
                                   {type: "application/json", id: "demo-chart"});
        json.textContent = JSON.stringify(figure);
        const div = Object.assign(document.createElement("div"), {className: "chart"});
        div.dataset.chart = "demo-chart";
        document.querySelector("main").append(json, div);
        const plotly = Object.assign(document.createElement("script"),
                                     {src: "/static/vendor/plotly.min.js"});
        plotly.onload = () => document.body.append(
            Object.assign(document.createElement("script"), {src: "/static/charts.js"}));
        document.body.append(plotly);
    }""")
    page.wait_for_selector("[data-chart=demo-chart][data-drawn=true]", timeout=20000)
    assert page.locator("[data-chart=demo-chart] .bars path").count() == 2
    assert not [e for e in errors if "Content Security Policy" in e]
