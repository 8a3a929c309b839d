"""Shipping information to WeChat, through the local stack and its WeChat sandbox, in headless
Chromium: a paid order shipped in two parcels is uploaded by the queue worker; WeChat's refusal shows
on the console's failed-uploads page with its errcode, and the retry button uploads it."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
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
ADDRESS = {"name": "周包裹", "phone": "13900008888", "province": "浙江省", "city": "杭州市", "detail": "文三路 9 号"}


def _until(check: Callable[[], bool], seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.3)


def _paid_order(stack: Any, http: requests.Session, table: Table, api: str, run: str) -> str:
    CategoryRepository(table).create(Category(category_id=f"pk-{run}", name="分包测试"))
    for n in (1, 2):
        ProductRepository(table).create(Product(product_id=f"pk-{run}-{n}", name=f"分包商品{n}", type="physical",
                                                category_id=f"pk-{run}", price_fen=1_900, stock=5, on_shelf=True))
    login = http.post(f"{api}/auth/login", json={"code": f"console-parcels-{run}"}, timeout=TIMEOUT)
    assert login.status_code == 200, login.text
    placed = http.post(f"{api}/orders", json={"lines": [{"product_id": f"pk-{run}-1", "quantity": 1},
                                                        {"product_id": f"pk-{run}-2", "quantity": 2}],
                                              "address": ADDRESS},
                       headers={"Authorization": f"Bearer {login.json()['access_token']}",
                                "Idempotency-Key": uuid.uuid4().hex}, timeout=20)
    assert placed.status_code == 201, placed.text
    order_id = str(placed.json()["order_id"])
    assert pay_local_order(stack.data_dir, order_id, appid=str(stack.env["WECHAT_APP_ID"])).status == 204
    return order_id


def test_a_refused_upload_is_listed_and_retried_from_the_console(stack: Any, http: requests.Session, table: Table,
                                                                  page: Any) -> None:
    api = str(stack.base_url).rstrip("/")
    sandbox = str(stack.sandbox_url).rstrip("/")
    run = uuid.uuid4().hex[:8]
    order_id = _paid_order(stack, http, table, api, run)
    admin = admin_headers(api, http)
    _until(lambda: http.get(f"{api}/admin/orders/{order_id}", headers=admin, timeout=TIMEOUT).json()["status"]
           == "PAID")
    lines = [line["line_id"] for line in http.get(f"{api}/admin/orders/{order_id}", headers=admin,
                                                   timeout=TIMEOUT).json()["lines"]]

    assert http.post(f"{sandbox}/wechat/sandbox/shipping/fail-next", json={"errcode": 10060004},
                     timeout=TIMEOUT).status_code == 200
    shipped = http.post(f"{api}/admin/orders/{order_id}/ship", headers=admin, timeout=TIMEOUT, json={"parcels": [
        {"carrier_id": "SF", "tracking_no": f"SF{run.upper()}", "line_ids": [lines[0]]},
        {"carrier_id": "ZTO", "tracking_no": f"ZT{run.upper()}", "line_ids": [lines[1]]}]})
    assert shipped.status_code == 200 and shipped.json()["status"] == "SHIPPED", shipped.text

    def failed() -> list[dict[str, Any]]:
        reply = http.get(f"{api}/admin/shipping/uploads", headers=admin, timeout=TIMEOUT)
        return [u for u in reply.json()["items"] if u["order_id"] == order_id]

    _until(lambda: bool(failed()))
    assert failed()[0]["errcode"] == 10060004

    log_in(page, f"{api}/console/")
    page.locator("[data-nav=shipping-uploads]").click()
    row = page.locator("[data-test=uploads] .el-table__row", has_text=order_id)
    row.wait_for()
    assert "10060004" in row.inner_text()
    row.locator("[data-test=retry-upload]").click()
    page.get_by_text("已重新提交").wait_for()

    def uploaded() -> list[dict[str, Any]]:
        reply = http.get(f"{sandbox}/wechat/sandbox/shipping/uploads", params={"out_trade_no": order_id},
                         timeout=TIMEOUT)
        return list(reply.json()["uploads"])

    _until(lambda: bool(uploaded()))
    (upload,) = uploaded()
    assert upload["delivery_mode"] == 2 and upload["is_all_delivered"] is True
    assert [p["express_company"] for p in upload["shipping_list"]] == ["SF", "ZTO"]
    assert upload["shipping_list"][0]["contact"] == {"receiver_contact": "139****8888"}
    _until(lambda: not failed())
