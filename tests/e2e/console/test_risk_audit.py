"""Risk cases and the audit log in the console: a case opened the way the fraud scan opens it is found,
its evidence read in words, confirmed with a note (the API then says CONFIRMED, by this admin, promoter
frozen), and the audit log shows that decision with the admin as actor."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from local.hooks import DEMO_ADMIN
from mall.dal.referral import PromoterRepository
from mall.dal.table import Table
from mall.domain.referral import Promoter
from mall.services import risk
from tests.e2e.console.conftest import admin_headers, log_in

pytestmark = pytest.mark.e2e

TIMEOUT = 15


def test_confirm_a_risk_case_and_find_it_in_the_audit_log(api: str, console: str, http: requests.Session,
                                                          table: Table, page: Any) -> None:
    reply = http.post(f"{api}/auth/login", json={"code": f"console-risk-{uuid.uuid4().hex[:12]}"}, timeout=TIMEOUT)
    assert reply.status_code == 200, reply.text
    uid = reply.json()["user_id"]
    now = datetime.now(UTC)
    PromoterRepository(table).create(
        Promoter(user_id=uid, code=uuid.uuid4().hex[:8].upper(), status="active", level_id="basic", applied_at=now,
                 activated_at=now, accepted_rules_at=now),
        grant_role=True, replaces_rejected=False, now=now, reserve_code=True)
    case = risk.open_case(repos=risk.RiskRepositories.on(table), promoter_id=uid, rule="commission_spike",
                          window_key=now.date().isoformat(),
                          evidence={"day_fen": 123_456, "multiple_bp": 30_000, "trailing_days": 7}, now=now)
    assert case is not None

    log_in(page, console)
    page.goto(console + "risk/cases")
    page.get_by_placeholder("推广员 ID").fill(uid)
    page.get_by_placeholder("推广员 ID").press("Enter")
    page.locator("[data-test=risk-cases]").get_by_text(case.case_id).click()
    evidence = page.locator("[data-test=risk-evidence]")
    evidence.wait_for()
    assert "当日佣金" in evidence.inner_text() and "¥1,234.56" in evidence.inner_text()
    assert "3 倍" in evidence.inner_text()

    page.locator("[data-test=risk-confirm]").click()
    dialog = page.locator(".el-message-box")
    assert "作废" in dialog.inner_text()
    dialog.locator("input").fill("同一设备批量下单，核实为刷单")
    dialog.get_by_role("button", name="确认风险并作废佣金").click()
    page.locator("[data-test=risk-case-status]").get_by_text("已确认").wait_for()
    assert "已冻结" in page.locator("[data-test=risk-promoter-status]").inner_text()

    admin = admin_headers(api, http)
    state = http.get(f"{api}/admin/risk/cases/{case.case_id}", headers=admin, timeout=TIMEOUT).json()
    assert state["case"]["status"] == "CONFIRMED" and state["case"]["resolved_by"] == f"admin:{DEMO_ADMIN}"
    assert state["case"]["note"] == "同一设备批量下单，核实为刷单" and state["promoter_status"] == "frozen"

    page.get_by_text("查看此案件的操作日志").click()
    page.wait_for_url("**/console/audit?*")
    entries = page.locator("[data-test=audit-entries]")
    confirmed = entries.locator("tr", has_text="风控案件确认")
    confirmed.wait_for()
    assert f"admin:{DEMO_ADMIN}" in confirmed.inner_text()
    assert "system" in entries.locator("tr", has_text="风控案件开启").inner_text()
