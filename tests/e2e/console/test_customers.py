"""The customer pages in headless Chromium: the merchant finds a customer by user id, opens their
drawer, gives them a tag and makes them a promoter; the customer's profile then says the promoter
agreement is pending."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import requests

from tests.e2e.console.conftest import admin_headers, log_in

pytestmark = pytest.mark.e2e

TIMEOUT = 15


def test_find_a_customer_tag_them_and_make_them_a_promoter(api: str, http: requests.Session, page: Any,
                                                          console: str) -> None:
    run = uuid.uuid4().hex[:8]
    login = http.post(f"{api}/auth/login", json={"code": f"customers-{run}"}, timeout=TIMEOUT)
    assert login.status_code == 200, login.text
    user_id = login.json()["user_id"]
    customer = {"Authorization": f"Bearer {login.json()['access_token']}"}
    admin = admin_headers(api, http)
    tag = http.post(f"{api}/admin/customer-tags", json={"name": f"店长{run}"}, headers=admin, timeout=TIMEOUT)
    assert tag.status_code == 201, tag.text

    log_in(page, console)
    page.locator("[data-nav=customers]").click()
    page.locator("[data-test=filter-user]").fill(user_id)
    page.locator("[data-test=search]").click()
    page.locator(f"[data-test=open-{user_id}]").click()
    drawer = page.locator("[data-test=customer-drawer]")
    drawer.locator("[data-test=make-promoter]").wait_for()

    drawer.locator("[data-test=add-tag-select]").click()
    page.get_by_role("option", name=f"店长{run}").click()
    drawer.locator("[data-test=add-tag]").click()
    drawer.locator("[data-test=customer-tags]", has_text=f"店长{run}").wait_for()

    drawer.locator("[data-test=make-promoter]").click()
    page.locator(".el-message-box").get_by_role("button", name="设为推广员").click()
    drawer.locator("[data-test=promoter-status]", has_text="待确认协议").wait_for()

    detail = http.get(f"{api}/admin/customers/{user_id}", headers=admin, timeout=TIMEOUT).json()
    assert detail["promoter"]["agreement_pending"] is True
    assert [t["name"] for t in detail["customer"]["tags"]] == [f"店长{run}"]
    profile = http.get(f"{api}/promoter/profile", headers=customer, timeout=TIMEOUT)
    assert profile.status_code == 200 and profile.json()["agreement_pending"] is True
