"""Wake-up boosts through their handlers: the owner's rule, the daily function, the woke count."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest

from mall.clock import utc_now
from tests.unit.conftest import FakeContext, Invoke, load_function
from tests.unit.test_referral_handlers import ADMIN, active_promoter

pytestmark = pytest.mark.usefixtures("moto_table")

RULE = {"enabled": True, "inactive_days": 30, "boost_days": 7,
        "boost": {"kind": "points", "l1_points_bp": 100, "l2_points_bp": 0}}


def test_the_owner_sets_the_rule_the_schedule_wakes_the_quiet_and_the_merchant_counts_them(invoke: Invoke) -> None:
    active_promoter(invoke, "u_quiet")
    status, body, _ = invoke("admin_campaigns", "PUT", "/admin/settings/wake-up",
                             body={**RULE, "boost": {"kind": "points", "l1_points_bp": 3000}}, headers=ADMIN)
    assert status == 422 and body["error"]["code"] == "commission_over_cap", body
    assert [f["field"] for f in body["error"]["fields"]] == ["boost.l1_points_bp"]
    status, body, _ = invoke("admin_campaigns", "PUT", "/admin/settings/wake-up", body=RULE, headers=ADMIN)
    assert status == 200 and body["enabled"] and body["max_promoters_per_run"] == 200, body

    job = load_function("wake_up")
    later = (utc_now() + timedelta(days=31)).astimezone(UTC)
    result = job.handler({"time": later.isoformat()}, FakeContext())
    assert result["targeted"] == 1 and result["campaign_id"].startswith("cp_wakeup_")
    assert job.handler({"time": later.isoformat()}, FakeContext()) == result  # the same day: the same campaign

    status, body, _ = invoke("admin_campaigns", "GET", f"/admin/campaigns/{result['campaign_id']}/wake-up",
                             headers=ADMIN)
    assert status == 200 and (body["targeted"], body["woke"]) == (1, 0), body
    status, _, _ = invoke("admin_campaigns", "GET", "/admin/campaigns/cp_nope/wake-up", headers=ADMIN)
    assert status == 404
