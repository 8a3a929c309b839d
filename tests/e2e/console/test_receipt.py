"""WeChat's pushed events in the console: a shipped order whose buyer confirmed receipt in WeChat (the
sandbox's signed settlement push) shows on the day's 微信消息 page as the push that completed it, with
WeChat's confirmation time, and its link opens the completed order."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests

from local.wechat_messages import push_for_order
from local.wechatpay_sandbox.sandbox import PaySandbox
from mall.dal.table import Table
from tests.e2e.console.conftest import admin_headers, log_in
from tests.e2e.test_fulfilment_e2e import pay_at_sandbox, put_paid_order

pytestmark = pytest.mark.e2e

TIMEOUT = 15


def test_a_settlement_push_shows_as_the_one_that_completed_the_order(  # noqa: PLR0917
        api: str, console: str, http: requests.Session, stack: Any, table: Table, page: Any) -> None:
    data_dir = Path(stack.data_dir)
    secrets = json.loads((data_dir / "secrets.json").read_text("utf-8"))
    appid = str(stack.env["WECHAT_APP_ID"])
    sandbox = PaySandbox(secrets, appid=appid, state_path=data_dir / "paysandbox.json",
                         sender=lambda url, headers, body: (0, b"not delivered"))
    login = http.post(f"{api}/auth/login", json={"code": f"console-receipt-{uuid.uuid4().hex[:12]}"}, timeout=TIMEOUT)
    assert login.status_code == 200, login.text
    order = put_paid_order(table, secrets, login.json()["user_id"])
    oid = order["order_id"]
    pay_at_sandbox(sandbox, secrets, order)
    table.update({"pk": f"ORDER#{oid}", "sk": "ORDER"}, "SET transaction_id = :t",
                 values={":t": sandbox.snapshot()["orders"][oid]["transaction_id"]})
    admin = admin_headers(api, http)
    shipped = http.post(f"{api}/admin/orders/{oid}/ship", headers=admin,
                        json={"carrier": "SF", "tracking_no": "SF8000001"}, timeout=TIMEOUT)
    assert shipped.status_code == 200, shipped.text
    assert push_for_order(data_dir, oid, api_url=api, appid=appid) == (200, "success")

    log_in(page, console)
    page.locator("[data-nav=wechat-messages]").click()
    row = page.locator("[data-test=wechat-messages] tr", has_text=oid)
    row.wait_for()
    assert "已完成订单" in row.inner_text() and "结算 / 确认收货" in row.inner_text()
    row.locator(".el-table__expand-icon").click()
    assert "确认收货时间" in page.locator("[data-test=wechat-messages]").inner_text()
    row.get_by_role("link", name=oid).click()
    page.wait_for_url(f"**/console/orders/{oid}")
    page.get_by_text("已完成").first.wait_for()
