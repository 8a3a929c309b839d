"""The console's commission campaigns through their own function (``admin_campaigns``): create, list, edit and
end, as a cold container serves them (the cap check's repositories and the settings document are loaded by
the first save); the settings' function serves only the distribution settings."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from mall.clock import utc_now
from tests.unit.conftest import Invoke
from tests.unit.test_referral_handlers import ADMIN

pytestmark = pytest.mark.usefixtures("moto_table")


def _campaign(**changes: Any) -> dict[str, Any]:
    now = utc_now()
    return {"name": "周末加码", "starts_at": (now - timedelta(hours=1)).isoformat(),
            "ends_at": (now + timedelta(days=1)).isoformat(), "scope": {},
            "boost": {"kind": "points", "l1_points_bp": 500}, **changes}


def test_a_campaign_is_created_listed_edited_and_ended_through_its_function(invoke: Invoke) -> None:
    status, created, _ = invoke("admin_campaigns", "POST", "/admin/campaigns", body=_campaign(), headers=ADMIN)
    assert status == 200 and created["version"] == 1, created
    campaign_id = created["campaign_id"]

    status, listed, _ = invoke("admin_campaigns", "GET", "/admin/campaigns", headers=ADMIN)
    assert status == 200 and [c["campaign_id"] for c in listed["items"]] == [campaign_id], listed

    status, edited, _ = invoke("admin_campaigns", "PUT", f"/admin/campaigns/{campaign_id}",
                               body={**_campaign(name="周末加码二"), "version": 1}, headers=ADMIN)
    assert status == 200 and (edited["name"], edited["version"]) == ("周末加码二", 2), edited
    status, stale, _ = invoke("admin_campaigns", "PUT", f"/admin/campaigns/{campaign_id}",
                              body={**_campaign(), "version": 1}, headers=ADMIN)
    assert status == 409, stale

    status, ended, _ = invoke("admin_campaigns", "POST", f"/admin/campaigns/{campaign_id}/end",
                              body={"version": 2}, headers=ADMIN)
    assert status == 200 and ended["ended_at"] is not None, ended


def test_a_campaign_over_the_cap_is_refused_on_its_functions_first_save(invoke: Invoke) -> None:
    status, body, _ = invoke("admin_campaigns", "POST", "/admin/campaigns",
                             body=_campaign(boost={"kind": "points", "l1_points_bp": 3000}), headers=ADMIN)
    assert status == 422 and body["error"]["code"] == "commission_over_cap", body
    status, listed, _ = invoke("admin_campaigns", "GET", "/admin/campaigns", headers=ADMIN)
    assert status == 200 and listed["items"] == [], listed


def test_the_settings_function_no_longer_serves_the_campaigns(invoke: Invoke) -> None:
    status, _, _ = invoke("admin_settings", "GET", "/admin/campaigns", headers=ADMIN)
    assert status == 404
    status, current, _ = invoke("admin_settings", "GET", "/admin/settings/distribution", headers=ADMIN)
    assert status == 200 and current["version"] == 0, current
