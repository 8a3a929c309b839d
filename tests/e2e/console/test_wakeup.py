"""Wake-up boosts (沉睡唤醒) in the console, in headless Chromium against the local stack: on the campaigns
page the owner's boost over the cap is refused beside its field and changes nothing, a boost within it
is saved (the API holds it); a wake-up campaign's funnel shows how many of its promoters woke, as the
API counts them."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

import pytest
import requests

from mall.clock import china_day, utc_now
from mall.dal.audit import AuditEntry
from mall.dal.campaigns import CampaignRepository
from mall.dal.stats import StatsRepository
from mall.dal.table import Table
from mall.domain.stats import CounterDelta, Target
from mall.domain.wake_up import WakeUpRule, wake_up_campaign
from tests.e2e.console.conftest import admin_headers, log_in

pytestmark = pytest.mark.e2e

TIMEOUT = 15


def _number(page: Any, handle: str, value: str) -> None:
    box = page.locator(f"[data-test={handle}] input").first
    box.fill(value)
    box.press("Tab")


def _wake_up_campaign(table: Table, promoters: list[str]) -> str:
    """What the daily run saves: a wake-up campaign of quiet promoters (its own id, so reruns never meet)."""
    now = utc_now()
    campaign = replace(wake_up_campaign(WakeUpRule(enabled=True), promoters, now),
                       campaign_id=f"cp_wakeup_e2e{uuid.uuid4().hex[:8]}")
    repo = CampaignRepository(table)
    book = repo.read(consistent=True)
    audit = AuditEntry(action="campaign.create", actor="system", entity_type="campaign",
                       entity_id=campaign.campaign_id, source_ip=None, before=None, after=campaign.as_dict())
    repo.save(book, [*book.campaigns, campaign], now=now, audit=audit)
    return campaign.campaign_id


def _remove_campaign(table: Table, campaign_id: str) -> None:
    """Take the planted campaign out of the book: while it runs, every later rate save on this stack is
    weighed against its boost (and a raise that would exceed the cap with it is refused)."""
    repo = CampaignRepository(table)
    book = repo.read(consistent=True)
    audit = AuditEntry(action="campaign.delete", actor="system", entity_type="campaign", entity_id=campaign_id,
                       source_ip=None, before=None, after=None)
    repo.save(book, [c for c in book.campaigns if c.campaign_id != campaign_id], now=utc_now(), audit=audit)


def test_the_owner_sets_the_wake_up_rule_and_reads_a_campaigns_funnel(
        stack: Any, http: requests.Session, page: Any, table: Table) -> None:
    api = str(stack.base_url).rstrip("/")
    headers = admin_headers(api, http)
    before = http.get(f"{api}/admin/settings/wake-up", headers=headers, timeout=TIMEOUT).json()

    log_in(page, f"{api}/console/")
    page.locator("[data-nav=settings-campaigns]").click()
    panel = page.locator("[data-test=wakeup-panel]")
    panel.locator("[data-test=wakeup-state]").wait_for()
    switch = panel.locator("[data-test=wakeup-enabled]")
    if "is-checked" not in (switch.get_attribute("class") or ""):
        switch.click()
    _number(page, "wakeup-inactive-days", "14")
    _number(page, "wakeup-boost-days", "5")
    _number(page, "wakeup-l1", "25")  # 10% + 25%: over the 30% cap
    panel.locator("[data-test=save-wakeup]").click()
    panel.locator("[data-test=wakeup-l1] .el-form-item__error", has_text="cap").wait_for()
    assert http.get(f"{api}/admin/settings/wake-up", headers=headers, timeout=TIMEOUT).json() == before

    _number(page, "wakeup-l1", "2")
    panel.locator("[data-test=save-wakeup]").click()
    panel.locator("[data-test=wakeup-state]", has_text="已开启").wait_for()
    saved = http.get(f"{api}/admin/settings/wake-up", headers=headers, timeout=TIMEOUT).json()
    assert (saved["enabled"], saved["inactive_days"], saved["boost_days"]) == (True, 14, 5)
    assert saved["boost"] == {"kind": "points", "l1_points_bp": 200, "l2_points_bp": 0, "multiplier_percent": 100}
    assert saved["version"] == before["version"] + 1

    quiet, woke = f"u_quiet{uuid.uuid4().hex[:6]}", f"u_woke{uuid.uuid4().hex[:6]}"
    campaign_id = _wake_up_campaign(table, [quiet, woke])
    try:
        now = utc_now()
        StatsRepository(table).apply(f"seed-{woke}", [CounterDelta(Target("promoter", china_day(now), woke),
                                                                   (("share_visits", 1),))], now=now)
        page.reload()
        page.locator(f"[data-test=wakeup-funnel-{campaign_id}]").click()
        drawer = page.locator("[data-test=wakeup-funnel]")
        drawer.locator("[data-test=funnel-woke]", has_text="1").wait_for()
        assert drawer.locator("[data-test=funnel-targeted]").inner_text() == "2"
        assert "50.0%" in drawer.locator("tr", has_text="已唤醒").inner_text()
        count = http.get(f"{api}/admin/campaigns/{campaign_id}/wake-up", headers=headers, timeout=TIMEOUT).json()
        assert (count["targeted"], count["woke"], count["with_share_visit"], count["with_paid_order"]) == (2, 1, 1, 0)
    finally:
        _remove_campaign(table, campaign_id)

    # Leave the stack's rule as it was for the tests after this one.
    reset = http.put(f"{api}/admin/settings/wake-up", headers=headers, timeout=TIMEOUT,
                     json={k: before[k] for k in ("enabled", "inactive_days", "boost_days", "boost")})
    assert reset.status_code == 200, reset.text


def test_the_wake_up_notice_takes_its_template_id_on_the_notice_settings(
        api: str, console: str, http: requests.Session, page: Any) -> None:
    headers = admin_headers(api, http)
    settings = "/admin/settings/distribution"
    before = http.get(f"{api}{settings}", headers=headers, timeout=TIMEOUT).json()
    template_id = f"tplWake{uuid.uuid4().hex[:12]}"
    try:
        log_in(page, console)
        page.goto(console + "settings")
        page.get_by_role("tab", name="订阅消息").click()
        card = page.locator("[data-test=notice-wake_up_boost]")
        card.locator("input[data-test=notice-template-id]").fill(template_id)
        card.locator("[data-test=notice-enabled]").click()
        page.locator("[data-test=save]").click()
        page.locator("[data-test=settings-version]", has_text=f"v{before['version'] + 1}").wait_for()
        notice = http.get(f"{api}{settings}", headers=headers, timeout=TIMEOUT).json()["settings"]["notifications"]
        assert (notice["wake_up_boost"]["enabled"], notice["wake_up_boost"]["template_id"]) == (True, template_id)
        assert notice["wake_up_boost"]["fields"] == {"thing1": "campaign", "thing2": "boost", "time3": "time"}
    finally:
        current = http.get(f"{api}{settings}", headers=headers, timeout=TIMEOUT).json()
        if current["settings"] != before["settings"]:
            restored = http.put(f"{api}{settings}", headers=headers, timeout=TIMEOUT,
                                json={**before["settings"], "based_on_version": current["version"],
                                      "note": "restored after the console test"})
            assert restored.status_code == 200, restored.text
