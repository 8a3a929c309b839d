"""Promoter operations in headless Chromium: the merchant opens a promoter's downline tree, credits a
small commission adjustment that lands in the promoter's ledger with its reason, and asks for a large
one that waits for a second admin on the approvals page (the asking admin is refused there)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import requests

from mall.dal.table import Table
from tests.e2e.console.conftest import admin_headers, log_in
from tests.e2e.seeding import make_promoter

pytestmark = pytest.mark.e2e

TIMEOUT = 15


def test_downline_and_commission_adjustments(api: str, console: str, http: requests.Session, table: Table,
                                            page: Any) -> None:
    run = uuid.uuid4().hex[:8]
    leader = http.post(f"{api}/auth/login", json={"code": f"ops-leader-{run}"}, timeout=TIMEOUT).json()
    uid = leader["user_id"]
    code = f"O{run.upper()}"
    make_promoter(table, uid, code=code)
    member = http.post(f"{api}/auth/login", json={"code": f"ops-member-{run}"}, timeout=TIMEOUT).json()
    bound = http.post(f"{api}/referral/bind", json={"code": code}, timeout=TIMEOUT,
                      headers={"Authorization": f"Bearer {member['access_token']}"})
    assert bound.status_code == 200, bound.text
    admin = admin_headers(api, http)
    dual_from = http.get(f"{api}/admin/settings/distribution", headers=admin,
                         timeout=TIMEOUT).json()["settings"]["withdrawal"]["dual_approval_from_fen"]

    log_in(page, console)
    page.goto(console + f"promoters/{uid}")
    page.get_by_role("tab", name="分销图谱").click()
    page.locator(f"[data-test=member-{member['user_id']}]").wait_for()

    # A small credit applies at once and shows in the ledger with its reason.
    page.get_by_role("tab", name="资金账本").click()
    page.locator("[data-test=adjust]").click()
    page.locator("[data-test=adjust-amount]").fill("15.00")
    page.locator("[data-test=adjust-reason]").fill("线下活动补发")
    page.locator("[data-test=save-adjustment]").click()
    page.locator(".el-message--success", has_text="已入账").wait_for()
    page.locator("[data-test=ledger]").get_by_text("线下活动补发").wait_for()
    ledger = http.get(f"{api}/admin/promoters/{uid}/ledger", headers=admin, timeout=TIMEOUT).json()
    assert [(e["kind"], e["amount_fen"], e["memo"]) for e in ledger["items"]] == [
        ("commission_adjusted", 1_500, "线下活动补发")]

    # A large one waits; the admin who asked cannot approve it.
    page.locator("[data-test=adjust]").click()
    large_yuan = -(-dual_from // 100)  # whole yuan, at least the dual-approval amount
    page.locator("[data-test=adjust-amount]").fill(str(large_yuan))
    page.locator("[data-test=adjust-reason]").fill("大额补发")
    page.locator("[data-test=save-adjustment]").click()
    page.locator(".el-message--success", has_text="待复核").wait_for()
    pending = http.get(f"{api}/admin/adjustments", params={"status": "PENDING"}, headers=admin,
                       timeout=TIMEOUT).json()["items"]
    mine = [a for a in pending if a["promoter_id"] == uid]
    assert len(mine) == 1 and mine[0]["amount_fen"] == large_yuan * 100

    page.goto(console + "adjustments")
    page.locator(f"[data-test=approve-{mine[0]['adjustment_id']}]").click()
    page.locator(".el-message--error", has_text="different admin").wait_for()
    again = http.get(f"{api}/admin/adjustments", params={"status": "PENDING"}, headers=admin,
                     timeout=TIMEOUT).json()["items"]
    assert mine[0]["adjustment_id"] in [a["adjustment_id"] for a in again]
    summary = http.get(f"{api}/admin/promoters/{uid}/ledger/summary", headers=admin, timeout=TIMEOUT).json()
    assert summary["available_fen"] == 1_500
