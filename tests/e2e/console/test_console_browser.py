"""The merchant console driven in headless Chromium against the local stack: a merchant logs in
(and is told why not), sees the dashboard's charts (the day-by-day trends among them) drawn from real
figures, and two admins approve a large withdrawal together."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from local.hooks import DEMO_ADMIN
from local.wechatpay_sandbox.local_stack import pay_local_order
from mall.clock import CHINA
from mall.dal.catalog import CategoryRepository, ProductRepository
from mall.dal.identity import AdminRepository
from mall.dal.table import Table
from mall.domain.catalog import Category, Product
from mall.domain.identity import AdminAccount
from mall.domain.passwords import hash_password
from tests.e2e.console.conftest import admin_headers, log_in
from tests.e2e.seeding import fund_available, make_promoter

pytestmark = pytest.mark.e2e

TIMEOUT = 15


def _customer(api: str, http: requests.Session, code: str) -> tuple[str, dict[str, str]]:
    reply = http.post(f"{api}/auth/login", json={"code": code}, timeout=TIMEOUT)
    assert reply.status_code == 200, reply.text
    return reply.json()["user_id"], {"Authorization": f"Bearer {reply.json()['access_token']}"}


def test_login_refusal_then_dashboard_then_logout(page: Any, console: str) -> None:
    page.goto(console + "withdrawals")
    page.wait_for_url(re.compile(r".*/console/login\?next=.*withdrawals"))  # signed out: sent to log in first
    page.get_by_label("用户名").fill(DEMO_ADMIN)
    page.get_by_label("密码").fill("not-the-password")
    page.get_by_role("button", name="登录").click()
    error = page.locator("[data-test=login-error]")
    error.wait_for()
    assert "用户名或密码错误" in error.inner_text()

    log_in(page, console)
    assert "admin" in page.locator("[data-test=who]").inner_text()
    page.locator("[data-test=logout]").click()
    page.wait_for_url("**/console/login")
    page.goto(console + "dashboard")
    page.wait_for_url(re.compile(r".*/console/login.*"))  # the token went with the logout


def test_the_dashboard_draws_its_charts_from_real_figures(stack: Any, http: requests.Session, table: Table,
                                                          page: Any) -> None:
    api = str(stack.base_url).rstrip("/")
    console = f"{api}/console/"
    run = uuid.uuid4().hex[:8]
    CategoryRepository(table).create(Category(category_id=f"cs-{run}", name="控制台测试"))
    ProductRepository(table).create(Product(product_id=f"cs-{run}", name="控制台测试商品", type="virtual",
                                            category_id=f"cs-{run}", price_fen=12_300, stock=5, on_shelf=True))
    _, buyer = _customer(api, http, f"console-buyer-{run}")
    placed = http.post(f"{api}/orders", json={"lines": [{"product_id": f"cs-{run}", "quantity": 1}]},
                       headers={**buyer, "Idempotency-Key": uuid.uuid4().hex}, timeout=20)
    assert placed.status_code == 201, placed.text
    paid = pay_local_order(stack.data_dir, placed.json()["order_id"], appid=str(stack.env["WECHAT_APP_ID"]))
    assert paid.status == 204, paid.response
    stack.drain_streams(timeout=60)

    # The page's default range: the last 30 China days, today included.
    today = datetime.now(CHINA).date()
    query = {"from": (today - timedelta(days=29)).isoformat(), "to": today.isoformat()}
    figures = http.get(f"{api}/admin/dashboard", params=query, headers=admin_headers(api, http), timeout=TIMEOUT)
    assert figures.status_code == 200, figures.text
    series = figures.json()["series"]
    assert figures.json()["granularity"] == "day" and len(series) == 30 and series[-1]["period"] == query["to"]
    drawn = [p for p in series if p["gmv_fen"] or p["paid_orders"] or p["commission_fen"]]
    assert drawn and drawn[-1]["gmv_fen"] >= 12_300 and drawn[-1]["paid_orders"] >= 1, drawn

    log_in(page, console)
    page.locator("[data-test=kpi]").first.wait_for()
    gmv = page.locator("[data-test=kpi]").first.inner_text()
    assert gmv.startswith("¥") and gmv != "¥0.00"
    canvases = page.locator(".chart canvas")
    canvases.nth(3).wait_for()
    assert canvases.count() == 4  # the trends, then commission, promoters, products

    trends = page.locator("[data-test=trends]")
    trends.locator("canvas").wait_for()
    assert trends.get_attribute("data-active") == str(len(drawn))  # every active day of the API is plotted
    box = trends.locator("canvas").bounding_box()
    assert box is not None and box["width"] > 200 and box["height"] > 200, box
    # Hovering the latest active day's column shows its GMV from the series, as formatFen writes it.
    fen = drawn[-1]["gmv_fen"]
    money = f"¥{fen // 100:,}.{fen % 100:02d}"
    shown = ""
    for dx in range(10, int(box["width"]), 8):
        page.mouse.move(box["x"] + box["width"] - dx, box["y"] + box["height"] * 0.6)
        page.wait_for_timeout(60)
        shown = trends.inner_text()
        if money in shown:
            break
    assert money in shown and "成交额" in shown, (money, shown)
    # On a phone (the page opened at phone width) the chart fits the screen, drawn, not cut off.
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    trends.locator("canvas").wait_for()
    page.wait_for_function("() => document.querySelector('[data-test=trends]').dataset.active !== '0'")
    narrow = trends.locator("canvas").bounding_box()
    assert narrow is not None and narrow["width"] > 160 and narrow["x"] >= 0 and narrow["x"] + narrow["width"] <= 390
    # Drawn, not blank: each canvas has pixels that are not the background.
    painted = page.evaluate("""() => [...document.querySelectorAll('.chart canvas')].map((c) => {
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] !== 0) n++; return n; })""")
    assert all(count > 100 for count in painted), painted


def test_two_admins_approve_a_large_withdrawal(stack: Any, http: requests.Session, table: Table,
                                               browser: Any) -> None:
    api = str(stack.base_url).rstrip("/")
    console = f"{api}/console/"
    run = uuid.uuid4().hex[:8]
    second = f"finance-{run}"
    AdminRepository(table).create(AdminAccount(username=second, password_hash=hash_password("second-admin-pw"),
                                               created_at=datetime.now(UTC), display_name="复核管理员"))
    uid, _ = _customer(api, http, f"console-promoter-{run}")
    make_promoter(table, uid)
    fund_available(table, uid, 200_000)
    _, promoter = _customer(api, http, f"console-promoter-{run}")  # again: the token now says promoter
    asked = http.post(f"{api}/promoter/withdrawals", json={"amount_fen": 150_000, "method": "wechat"},
                      headers={**promoter, "Idempotency-Key": uuid.uuid4().hex}, timeout=TIMEOUT)
    assert asked.status_code == 201, asked.text
    withdrawal_id = asked.json()["withdrawal_id"]
    assert asked.json()["required_approvals"] == 2

    def approve_as(username: str, password: str) -> str:
        context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai")
        context.set_default_timeout(20_000)
        try:
            page = context.new_page()
            log_in(page, console, username, password)
            page.goto(console + "withdrawals")
            page.get_by_placeholder("推广员 ID").fill(uid)
            page.get_by_placeholder("推广员 ID").press("Enter")
            page.locator("[data-test=withdrawals]").get_by_text(withdrawal_id).click()
            page.locator("[data-test=approve]").click()
            message = page.locator(".el-message").last
            message.wait_for()
            return str(message.inner_text())
        finally:
            context.close()

    first = approve_as(DEMO_ADMIN, "mall-local-admin")
    assert "还需另一位管理员审批" in first and "1/2" in first
    state = http.get(f"{api}/admin/withdrawals/{withdrawal_id}", headers=admin_headers(api, http), timeout=TIMEOUT)
    assert state.json()["status"] == "PENDING_REVIEW" and len(state.json()["approvals"]) == 1

    done = approve_as(second, "second-admin-pw")
    assert "已通过" in done
    state = http.get(f"{api}/admin/withdrawals/{withdrawal_id}", headers=admin_headers(api, http), timeout=TIMEOUT)
    assert state.json()["status"] in ("APPROVED", "PAYING", "PAID")
    assert {a["admin_id"] for a in state.json()["approvals"]} == {f"admin:{DEMO_ADMIN}", f"admin:{second}"}
