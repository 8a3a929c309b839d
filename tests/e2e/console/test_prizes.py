"""The leaderboard prizes page in headless Chromium against the local stack: the owner sets a prize per
rank and saves (a new settings version, the API's table), and the month's awards are listed."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from mall.clock import iso
from mall.dal.keys import prize_key, prize_ranking_key
from mall.dal.table import Table
from mall.domain.team_bonus import china_month
from tests.e2e.console.conftest import admin_headers, log_in
from tests.e2e.test_referral_e2e import save_settings

pytestmark = pytest.mark.e2e

TIMEOUT = 15


def test_the_owner_sets_prizes_per_rank_and_sees_the_month_awards(api: str, console: str, http: requests.Session,
                                                                   table: Table, page: Any) -> None:
    admin = admin_headers(api, http)
    before = http.get(f"{api}/admin/settings/distribution", headers=admin, timeout=TIMEOUT).json()["settings"]
    save_settings(api, http, admin, leaderboard_prizes={"enabled": False, "standing": None, "months": {}})
    month = china_month(datetime.now(UTC))
    winner = f"u_prize{uuid.uuid4().hex[:8]}"
    now = iso(datetime.now(UTC))
    table.put({**prize_ranking_key(month), "entity": "prize_ranking", "month": month, "measure": "sales",
               "settings_version": 1, "decided_at": now, "final_after_days": 45, "candidates": 1,
               "table": [{"rank": 1, "amount_fen": 12_300}],
               "winners": [{"rank": 1, "promoter_id": winner, "score_fen": 456_700, "amount_fen": 12_300}]})
    table.put({**prize_key(month, 1), "entity": "prize", "prize_id": f"pz_{month.replace('-', '')}_01",
               "month": month, "rank": 1, "promoter_id": winner, "measure": "sales", "score_fen": 456_700,
               "amount_fen": 12_300, "status": "PAID", "settings_version": 1, "created_at": now, "paid_at": now})
    try:
        log_in(page, console)
        page.goto(console + "prizes")
        awards = page.locator("[data-test=prize-awards]")
        awards.get_by_text(winner).wait_for()
        assert "已发放" in awards.inner_text() and "¥123.00" in awards.inner_text()

        page.locator("[data-test=prize-enabled]").click()
        page.locator("[data-test=prize-rank-1] input").fill("500")
        page.locator("[data-test=prize-add-rank]").click()
        page.locator("[data-test=prize-rank-2] input").fill("200")
        page.locator("[data-test=prize-save]").click()
        page.get_by_text("已保存为版本").wait_for()

        saved = http.get(f"{api}/admin/settings/distribution", headers=admin, timeout=TIMEOUT).json()["settings"]
        prizes = saved["leaderboard_prizes"]
        assert prizes["enabled"] is True and prizes["standing"]["measure"] == "sales"
        assert prizes["standing"]["prizes"] == [{"rank": 1, "amount_fen": 50_000}, {"rank": 2, "amount_fen": 20_000}]
        month_view = http.get(f"{api}/admin/prizes", params={"month": month}, headers=admin, timeout=TIMEOUT).json()
        assert month_view["items"][0]["promoter_id"] == winner and month_view["paid_fen"] == 12_300
    finally:  # the stack is shared: leave the rules as they were
        save_settings(api, http, admin, leaderboard_prizes=before.get("leaderboard_prizes")
                      or {"enabled": False, "standing": None, "months": {}})
