"""パスワード変更 in a real browser: an operator added with a one-time password logs in,
is held on the password page, changes it, and goes on to the page they asked for."""

from __future__ import annotations

from sqlalchemy import select

from enishi.audit.models import AuditEntry
from enishi.operators.roles import Role
from enishi.operators.service import operator_by_email
from tests.web.conftest import PASSWORD, add_operator, browser_login

NEW = "新しい合言葉 sakura 2025"


def test_a_one_time_password_is_changed_at_first_login(browser_page, live_server, screenshot):
    page, base = browser_page, live_server.base_url
    account = live_server.account_id
    add_operator(live_server.state, "newcomer@example.jp", Role.MARKETER, account, one_time=True)
    page.goto(f"{base}/accounts/{account}/friends")  # → login → password page
    page.fill("input[name=email]", "newcomer@example.jp")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/password?next=*")
    assert page.locator("h1").inner_text() == "パスワード変更"
    assert (
        "一時パスワードでログインしています"
        in page.locator("[data-testid=password-required]").inner_text()
    )
    page.goto(f"{base}/accounts/{account}/overview")  # every other page sends it back
    page.wait_for_url("**/password?next=*")
    page.go_back()  # back to the password page that still remembers the friends list
    page.wait_for_url("**/password?next=%2Faccounts%2F*%2Ffriends")

    page.fill("input[name=current_password]", PASSWORD)
    page.fill("input[name=new_password]", NEW)
    page.fill("input[name=new_password_again]", NEW + "x")
    page.click("form[action='/password'] button[type=submit]")
    assert page.locator("[role=alert]").inner_text() == "新しいパスワードが確認用と一致しません。"

    page.fill("input[name=current_password]", PASSWORD)
    page.fill("input[name=new_password]", NEW)
    page.fill("input[name=new_password_again]", NEW)
    screenshot(page, "password.png", full_page=True)
    page.click("form[action='/password'] button[type=submit]")
    page.wait_for_url(f"**/accounts/{account}/friends?notice=password_changed")
    assert page.locator(".notice").inner_text() == (
        "パスワードを変更しました。他の端末はログアウトされました。"
    )

    page.click(".me summary")  # the header menu leads back to the page any time
    page.click("text=パスワード変更")
    page.wait_for_url(f"{base}/password")
    assert page.locator("[data-testid=password-required]").count() == 0
    page.click(".me summary")
    page.click("form[action='/logout'] button[type=submit]")
    page.wait_for_url(f"{base}/login")
    browser_login(page, base, "newcomer@example.jp", NEW)
    page.wait_for_url(f"**/accounts/{account}/overview")

    with live_server.state.sessions() as session:
        assert not operator_by_email(session, "newcomer@example.jp").must_change_password
        [entry] = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "operator.password_changed")
        ).all()
        assert entry.details["one_time"] is True
