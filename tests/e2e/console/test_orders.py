"""The order pages in headless Chromium: an order paid through the pay sandbox is found in the
console, its full address revealed on request, and shipped with a carrier and tracking number."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
import requests

from local.wechatpay_sandbox.local_stack import pay_local_order
from mall.dal.catalog import CategoryRepository, ProductRepository
from mall.dal.table import Table
from mall.domain.catalog import Category, Product
from tests.e2e.console.conftest import admin_headers, log_in

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
