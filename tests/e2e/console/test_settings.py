"""Distribution settings in the console: a commission rate that puts L1 + L2 at 31% is flagged by the
live cap calculator and refused by the API beside its input (nothing saved); a valid change saves a
new version that the versions page lists and diffs."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.e2e.console.conftest import admin_headers, log_in

pytestmark = pytest.mark.e2e

TIMEOUT = 15
SETTINGS = "/admin/settings/distribution"


def _percent(bp: int) -> str:
    return f"{bp / 100:g}"


def test_a_rate_over_the_cap_is_refused_and_a_valid_one_saves_a_version(api: str, console: str, http: requests.Session,
                                                                        page: Any) -> None:
    headers = admin_headers(api, http)
    before = http.get(f"{api}{SETTINGS}", headers=headers, timeout=TIMEOUT).json()
    rates = before["settings"]["commission"]
    over_l1 = 3100 - rates["l2_rate_bp"]  # L1 + L2 = 31%, above the 30% limit whatever the merchant's cap
    valid_l1 = rates["l1_rate_bp"] - 100 if rates["l1_rate_bp"] >= 100 else rates["l1_rate_bp"] + 100
    try:
        log_in(page, console)
        page.goto(console + "settings")
        l1 = page.locator("[data-test=l1-rate] input")
        l1.fill(_percent(over_l1))
        l1.press("Tab")
        assert "超出上限" in page.locator("[data-test=cap-status]").inner_text()

        page.locator("[data-test=save]").click()
        refused = page.locator("[data-test=field-errors]")
        refused.wait_for()
        assert "31%" in refused.inner_text()  # the API's reason, located at the rate
        assert "31%" in page.locator("[data-test=l1-rate] .el-form-item__error").inner_text()
        now = http.get(f"{api}{SETTINGS}", headers=headers, timeout=TIMEOUT).json()
        assert now["version"] == before["version"]
        assert now["settings"]["commission"]["l1_rate_bp"] == rates["l1_rate_bp"]

        l1.fill(_percent(valid_l1))
        l1.press("Tab")
        page.locator("[data-test=save]").click()
        saved = before["version"] + 1
        page.locator("[data-test=settings-version]", has_text=f"v{saved}").wait_for()
        now = http.get(f"{api}{SETTINGS}", headers=headers, timeout=TIMEOUT).json()
        assert (now["version"], now["settings"]["commission"]["l1_rate_bp"]) == (saved, valid_l1)

        page.goto(console + "settings/versions")
        newest = page.locator("[data-test=version]").first
        assert newest.inner_text() == f"v{saved}"
        newest.click()  # compared with the version before it
        page.locator("[data-test=diff]", has_text="commission.l1_rate_bp").wait_for()
    finally:
        # The stack is shared with the other end-to-end tests: put the rates back as they were.
        current = http.get(f"{api}{SETTINGS}", headers=headers, timeout=TIMEOUT).json()
        if current["settings"] != before["settings"]:
            restored = http.put(f"{api}{SETTINGS}", headers=headers, timeout=TIMEOUT,
                                json={**before["settings"], "based_on_version": current["version"],
                                      "note": "restored after the console test"})
            assert restored.status_code == 200, restored.text
