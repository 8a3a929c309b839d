"""Staff in the console, in headless Chromium against the local stack: the owner creates a support
account on the staff page; support logs in, sees withdrawals but neither the staff page nor the
approve button, and the API refuses support's approval too."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import requests

from mall.dal.table import Table
from tests.e2e.console.conftest import admin_headers, log_in
from tests.e2e.seeding import fund_available, make_promoter

pytestmark = pytest.mark.e2e

TIMEOUT = 15
PASSWORD = "support-initial-pw"


def _pending_withdrawal(api: str, http: requests.Session, table: Table, run: str) -> tuple[str, str]:
    """A withdrawal that needs two approvals, approved once by the owner (so it stays pending)."""
    def customer(code: str) -> tuple[str, dict[str, str]]:
        reply = http.post(f"{api}/auth/login", json={"code": code}, timeout=TIMEOUT)
        assert reply.status_code == 200, reply.text
        return reply.json()["user_id"], {"Authorization": f"Bearer {reply.json()['access_token']}"}

    uid, _ = customer(f"staff-promoter-{run}")
    make_promoter(table, uid)
    fund_available(table, uid, 200_000)
    _, promoter = customer(f"staff-promoter-{run}")
    asked = http.post(f"{api}/promoter/withdrawals", json={"amount_fen": 150_000, "method": "wechat"},
                      headers={**promoter, "Idempotency-Key": uuid.uuid4().hex}, timeout=TIMEOUT)
    assert asked.status_code == 201 and asked.json()["required_approvals"] == 2, asked.text
    withdrawal_id = asked.json()["withdrawal_id"]
    first = http.post(f"{api}/admin/withdrawals/{withdrawal_id}/approve", headers=admin_headers(api, http),
                      timeout=TIMEOUT)
    assert first.status_code == 200 and first.json()["status"] == "PENDING_REVIEW", first.text
    return uid, withdrawal_id


def test_the_owner_creates_a_support_account_that_cannot_approve_withdrawals(
        stack: Any, http: requests.Session, table: Table, page: Any) -> None:
    api = str(stack.base_url).rstrip("/")
    console = f"{api}/console/"
    run = uuid.uuid4().hex[:8]
    username = f"support.{run}"
    uid, withdrawal_id = _pending_withdrawal(api, http, table, run)

    log_in(page, console)
    page.locator("[data-nav=staff]").click()
    page.locator("[data-test=new-staff]").click()
    page.locator("[data-test=staff-username]").fill(username)
    page.locator("[data-test=staff-display-name]").fill("客服小王")
    page.locator("[data-test=staff-password]").fill(PASSWORD)
    page.locator("[data-test=role-support]").click()
    page.locator("[data-test=staff-create]").click()
    row = page.locator("[data-test=staff] tr", has_text=username)
    row.wait_for()
    assert "客服" in row.locator("[data-test=staff-roles]").inner_text()
    listed = http.get(f"{api}/admin/staff", headers=admin_headers(api, http), params={"limit": 100}, timeout=TIMEOUT)
    assert {a["username"]: a["roles"] for a in listed.json()["items"]}[username] == ["support"]
    page.locator("[data-test=logout]").click()
    page.wait_for_url("**/console/login")

    log_in(page, console, username, PASSWORD)
    assert "客服" in page.locator("[data-test=who]").inner_text()
    assert page.locator("[data-nav=staff]").count() == 0
    page.locator("[data-nav=withdrawals]").click()
    page.get_by_placeholder("推广员 ID").fill(uid)
    page.get_by_placeholder("推广员 ID").press("Enter")
    page.locator("[data-test=withdrawals]").get_by_text(withdrawal_id).click()
    page.locator("[data-test=approval]").first.wait_for()  # the detail is open: the owner's approval shows
    assert page.locator("[data-test=approve]").count() == 0
    assert page.locator("[data-test=reject]").count() == 0
    page.goto(console + "staff")
    page.wait_for_url("**/console/forbidden")

    support = admin_headers(api, http, username, PASSWORD)
    refused = http.post(f"{api}/admin/withdrawals/{withdrawal_id}/approve", headers=support, timeout=TIMEOUT)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden_role"
    state = http.get(f"{api}/admin/withdrawals/{withdrawal_id}", headers=support, timeout=TIMEOUT)
    assert state.json()["status"] == "PENDING_REVIEW" and len(state.json()["approvals"]) == 1
