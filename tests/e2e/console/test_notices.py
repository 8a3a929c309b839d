"""Subscribe-message templates in the console: the merchant enables the buyers' shipped notice with its
template id on the settings page; the saved settings carry it, and the customer's grants route then
lists it (a notice is off until its template id is set)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import requests

from tests.e2e.console.conftest import admin_headers, log_in

pytestmark = pytest.mark.e2e

TIMEOUT = 15
SETTINGS = "/admin/settings/distribution"


def test_the_shipped_notice_is_enabled_with_its_template_id(api: str, console: str, http: requests.Session,
                                                           page: Any) -> None:
    headers = admin_headers(api, http)
    before = http.get(f"{api}{SETTINGS}", headers=headers, timeout=TIMEOUT).json()
    template_id = f"tplShip{uuid.uuid4().hex[:12]}"
    try:
        log_in(page, console)
        page.goto(console + "settings")
        page.get_by_role("tab", name="订阅消息").click()
        card = page.locator("[data-test=notice-order_shipped]")
        card.wait_for()
        card.locator("input[data-test=notice-template-id]").fill(template_id)
        card.locator("[data-test=notice-enabled]").click()
        page.locator("[data-test=save]").click()
        saved = before["version"] + 1
        page.locator("[data-test=settings-version]", has_text=f"v{saved}").wait_for()
        now = http.get(f"{api}{SETTINGS}", headers=headers, timeout=TIMEOUT).json()
        shipped = now["settings"]["notifications"]["order_shipped"]
        assert (now["version"], shipped["enabled"], shipped["template_id"]) == (saved, True, template_id)
        assert shipped["long_term"] is False and now["settings"]["notifications"]["order_delivered"]["enabled"] is False
        page.reload()
        page.get_by_role("tab", name="订阅消息").click()
        shown = page.locator("[data-test=notice-order_shipped] input[data-test=notice-template-id]")
        assert shown.input_value() == template_id

        buyer = http.post(f"{api}/auth/login", json={"code": f"notices-{template_id}"}, timeout=TIMEOUT).json()
        mine = http.get(f"{api}/me/subscriptions", headers={"authorization": f"Bearer {buyer['access_token']}"},
                        timeout=TIMEOUT)
        assert mine.status_code == 200, mine.text
        listed = {t["kind"]: t for t in mine.json()["templates"]}
        assert listed["order_shipped"] == {"kind": "order_shipped", "template_id": template_id, "long_term": False,
                                           "granted": False, "remaining": 0}
    finally:
        current = http.get(f"{api}{SETTINGS}", headers=headers, timeout=TIMEOUT).json()
        if current["settings"] != before["settings"]:
            restored = http.put(f"{api}{SETTINGS}", headers=headers, timeout=TIMEOUT,
                                json={**before["settings"], "based_on_version": current["version"],
                                      "note": "restored after the console test"})
            assert restored.status_code == 200, restored.text
