"""Commission campaigns in the console, in headless Chromium against the local stack: the owner's
boost over the cap is refused beside its field, a boost within it is saved and listed, then ended;
the API shows the same campaign ended and GET /rules discloses it no more."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import requests

from tests.e2e.console.conftest import admin_headers, log_in

pytestmark = pytest.mark.e2e

TIMEOUT = 15


def _fill_time(page: Any, handle: str, value: str) -> None:
    box = page.locator(f"[data-test={handle}]").locator("xpath=descendant-or-self::input").first
    box.fill(value)
    box.press("Enter")


def test_the_owner_creates_a_campaign_refused_over_the_cap_then_saved_and_ended(
        stack: Any, http: requests.Session, page: Any) -> None:
    api = str(stack.base_url).rstrip("/")
    console = f"{api}/console/"
    name = f"周末双倍{uuid.uuid4().hex[:4]}"

    log_in(page, console)
    page.locator("[data-nav=settings-campaigns]").click()
    page.locator("[data-test=new-campaign]").click()
    page.locator("[data-test=campaign-name]").fill(name)
    _fill_time(page, "campaign-starts", "2026-01-01 00:00:00")
    _fill_time(page, "campaign-ends", "2099-01-01 00:00:00")
    page.locator("[data-test=campaign-kind]").get_by_text("倍数").click()
    multiplier = page.locator("[data-test=campaign-multiplier] input")
    multiplier.fill("300")  # ×3 of the default 10% + 5%: 45%, over the 30% cap
    multiplier.press("Tab")
    page.locator("[data-test=save-campaign]").click()
    page.locator(".el-form-item__error", has_text="cap").first.wait_for()
    listed = http.get(f"{api}/admin/campaigns", headers=admin_headers(api, http), timeout=TIMEOUT).json()
    assert name not in {c["name"] for c in listed["items"]}

    multiplier.fill("150")
    multiplier.press("Tab")
    page.locator("[data-test=save-campaign]").click()
    row = page.locator("[data-test=campaigns] tr", has_text=name)
    row.wait_for()
    assert "进行中" in row.inner_text() and "×1.5" in row.inner_text()
    saved = next(c for c in http.get(f"{api}/admin/campaigns", headers=admin_headers(api, http),
                                      timeout=TIMEOUT).json()["items"] if c["name"] == name)
    assert saved["boost"] == {"kind": "multiplier", "l1_points_bp": 0, "l2_points_bp": 0, "multiplier_percent": 150}
    assert saved["starts_at"] == "2025-12-31T16:00:00Z"  # typed in China time
    rules = http.get(f"{api}/rules", timeout=TIMEOUT).json()
    assert any(item["label"] == name for s in rules["sections"] if s["key"] == "campaigns" for item in s["items"])

    row.locator(f"[data-test=end-{saved['campaign_id']}]").click()
    page.get_by_role("button", name="确定").click()
    page.locator(f"[data-test=campaign-status-{saved['campaign_id']}]", has_text="已结束").wait_for()
    after = next(c for c in http.get(f"{api}/admin/campaigns", headers=admin_headers(api, http),
                                      timeout=TIMEOUT).json()["items"] if c["name"] == name)
    assert after["status"] == "ended" and after["ended_at"] is not None and after["version"] == 2
    rules = http.get(f"{api}/rules", timeout=TIMEOUT).json()
    assert not any(item["label"] == name for s in rules["sections"] if s["key"] == "campaigns" for item in s["items"])
