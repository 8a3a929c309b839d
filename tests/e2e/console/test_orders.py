"""The order pages in headless Chromium: an order paid through the pay sandbox is found in the
console, its full address revealed on request, and shipped with a carrier and tracking number;
the list filtered to a range of China days, and an order looked up by its exact id."""

from __future__ import annotations

import random
import time
import uuid
from datetime import date, timedelta
from typing import Any

import pytest
import requests

from local.wechatpay_sandbox.local_stack import pay_local_order
from mall.dal.catalog import CategoryRepository, ProductRepository
from mall.dal.orders import OrderRepository
from mall.dal.table import Table
from mall.domain.catalog import Category, Product
from tests.e2e.console.conftest import admin_headers, log_in
from tests.unit.test_fulfilment_factory import order_item

pytestmark = pytest.mark.e2e

TIMEOUT = 15
ADDRESS = {"name": "周发货", "phone": "13900007777", "province": "浙江省", "city": "杭州市",
           "detail": "西湖区文三路 8 号"}


def test_the_admin_ships_a_paid_order(stack: Any, http: requests.Session, table: Table, page: Any) -> None:
    api = str(stack.base_url).rstrip("/")
    console = f"{api}/console/"
    run = uuid.uuid4().hex[:8]
    CategoryRepository(table).create(Category(category_id=f"ship-{run}", name="发货测试"))
    ProductRepository(table).create(Product(product_id=f"ship-{run}", name="发货测试商品", type="physical",
                                            category_id=f"ship-{run}", price_fen=5_900, stock=5, on_shelf=True))
    login = http.post(f"{api}/auth/login", json={"code": f"console-ship-{run}"}, timeout=TIMEOUT)
    assert login.status_code == 200, login.text
    placed = http.post(f"{api}/orders", json={"lines": [{"product_id": f"ship-{run}", "quantity": 1}],
                                              "address": ADDRESS},
                       headers={"Authorization": f"Bearer {login.json()['access_token']}",
                                "Idempotency-Key": uuid.uuid4().hex}, timeout=20)
    assert placed.status_code == 201, placed.text
    order_id = placed.json()["order_id"]
    paid = pay_local_order(stack.data_dir, order_id, appid=str(stack.env["WECHAT_APP_ID"]))
    assert paid.status == 204, paid.response
    admin = admin_headers(api, http)

    def status() -> str:
        reply = http.get(f"{api}/admin/orders/{order_id}", headers=admin, timeout=TIMEOUT)
        assert reply.status_code == 200, reply.text
        return str(reply.json()["status"])

    deadline = time.monotonic() + 10
    while status() != "PAID" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert status() == "PAID"

    log_in(page, console)
    page.locator("[data-nav=orders]").click()
    page.get_by_placeholder("按订单号查找").fill(order_id)
    page.get_by_placeholder("按订单号查找").press("Enter")
    page.wait_for_url(f"**/console/orders/{order_id}")
    assert page.locator("[data-test=order-status-text]").inner_text() == "待发货"
    assert ADDRESS["phone"] not in page.locator("[data-test=order-detail]").inner_text()  # masked until revealed

    page.locator("[data-test=reveal-address]").click()
    revealed = page.locator("[data-test=revealed-address]")
    revealed.wait_for()
    assert ADDRESS["phone"] in revealed.inner_text() and "审计日志" in revealed.inner_text()

    page.locator("[data-test=ship]").click()  # nothing filled in: refused beside the inputs, nothing sent
    page.get_by_text("请填写快递单号").wait_for()
    page.locator("[data-test=carrier]").click()
    page.locator(".el-select-dropdown__item", has_text="顺丰速运").click()
    tracking_no = f"SF{run.upper()}"
    page.locator("[data-test=tracking-no]").fill(tracking_no)
    page.locator("[data-test=ship]").click()
    page.locator("[data-test=shipment]").wait_for()
    assert page.locator("[data-test=shipment]").inner_text() == f"顺丰速运 {tracking_no}"
    assert page.locator("[data-test=order-status-text]").inner_text() == "已发货"

    shipped = http.get(f"{api}/admin/orders/{order_id}", headers=admin, timeout=TIMEOUT).json()
    assert (shipped["status"], shipped["carrier"], shipped["tracking_no"]) == ("SHIPPED", "顺丰速运", tracking_no)


def _paid_order(table: Table, created_at: str) -> str:
    """A paid order created at ``created_at`` (UTC) with its entry in the admin's by-status list."""
    item = order_item(status="PAID", created_at=created_at, with_address=False)
    table.put(item)
    OrderRepository(table).project_status(item)
    return str(item["order_id"])


def test_the_admin_filters_orders_by_china_days_and_finds_one_by_id(api: str, console: str, http: requests.Session,
                                                                    table: Table, page: Any) -> None:
    # A day of the past nobody else orders on: only this test's orders are in its range.
    day = date(2001, 1, 1) + timedelta(days=random.randrange(7000))
    before = (day - timedelta(days=1)).isoformat()
    outside = _paid_order(table, f"{before}T15:59:59Z")  # 23:59:59 the day before, in China
    first = _paid_order(table, f"{before}T16:30:00Z")  # 00:30 on the day, in China
    last = _paid_order(table, f"{day.isoformat()}T12:00:00Z")  # 20:00 on the day
    admin = admin_headers(api, http)
    listed = http.get(f"{api}/admin/orders", params={"status": "PAID", "from": day.isoformat(), "to": day.isoformat()},
                      headers=admin, timeout=TIMEOUT)
    assert listed.status_code == 200, listed.text
    assert [o["order_id"] for o in listed.json()["items"]] == [last, first]

    log_in(page, console)
    page.locator("[data-nav=orders]").click()
    page.locator("[data-test=orders] .el-table__row").first.wait_for()  # today's paid orders, unfiltered
    page.get_by_placeholder("下单开始").fill(day.isoformat())
    page.get_by_placeholder("下单结束").fill(day.isoformat())
    page.get_by_placeholder("下单结束").press("Enter")
    rows = page.locator("[data-test=orders] .el-table__row")
    page.wait_for_function("n => document.querySelectorAll('[data-test=orders] .el-table__row').length === n", arg=2)
    shown = [rows.nth(i).locator("td").first.inner_text().strip() for i in range(rows.count())]
    assert shown == [last, first] and outside not in page.locator("[data-test=orders]").inner_text()

    search = page.get_by_placeholder("按订单号查找")
    search.fill("o_nosuchorder000")
    search.press("Enter")
    page.get_by_text("没有订单 o_nosuchorder000").wait_for()
    assert http.get(f"{api}/admin/orders/o_nosuchorder000", headers=admin, timeout=TIMEOUT).status_code == 404
    search.fill(outside)  # an exact id is found whatever the range shows
    search.press("Enter")
    page.wait_for_url(f"**/console/orders/{outside}")
    assert page.locator("[data-test=order-status-text]").inner_text() == "待发货"
