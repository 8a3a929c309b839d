"""The coupon templates page in headless Chromium: the merchant creates a coupon, a customer claims
one, the list shows it issued, and disabling it stops further claims."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import requests

from tests.e2e.console.conftest import admin_headers, log_in

pytestmark = pytest.mark.e2e

TIMEOUT = 15


def test_create_a_coupon_see_it_issued_and_disable_it(api: str, http: requests.Session, page: Any,
                                                     console: str) -> None:
    run = uuid.uuid4().hex[:8]
    name = f"满99减10-{run}"
    log_in(page, console)
    page.locator("[data-nav=coupon-templates]").click()
    page.locator("[data-test=new-coupon]").click()
    page.locator("[data-test=coupon-name]").fill(name)
    page.locator("[data-test=coupon-amount]").fill("10")
    page.locator("[data-test=coupon-min-spend]").fill("99")
    page.locator("[data-test=save-coupon]").click()
    row = page.locator("[data-test=coupon-templates] .el-table__row", has_text=name)
    row.wait_for()
    assert "满¥99.00减¥10.00" in row.inner_text()

    admin = admin_headers(api, http)
    created = next(t for t in http.get(f"{api}/admin/coupon-templates", headers=admin, timeout=TIMEOUT).json()["items"]
                   if t["name"] == name)
    assert (created["amount_off_fen"], created["min_spend_fen"], created["issued"]) == (1000, 9900, 0)

    login = http.post(f"{api}/auth/login", json={"code": f"coupons-{run}"}, timeout=TIMEOUT)
    customer = {"Authorization": f"Bearer {login.json()['access_token']}"}
    claimed = http.post(f"{api}/coupons/claim", json={"template_id": created["template_id"]}, headers=customer,
                        timeout=TIMEOUT)
    assert claimed.status_code == 201, claimed.text

    page.reload()
    row.locator("[data-test=issued]", has_text="1").wait_for()
    row.locator("[data-test=disable-coupon]").click()
    row.locator("[data-test=coupon-status]", has_text="停用").wait_for()
    second = http.post(f"{api}/auth/login", json={"code": f"coupons2-{run}"}, timeout=TIMEOUT).json()
    refused = http.post(f"{api}/coupons/claim", json={"template_id": created["template_id"]},
                        headers={"Authorization": f"Bearer {second['access_token']}"}, timeout=TIMEOUT)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "coupon_sold_out"
