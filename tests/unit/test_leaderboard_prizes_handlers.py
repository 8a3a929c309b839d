"""Leaderboard prize handlers on moto: the team bonus's schedule also pays the final month's prizes
(once however often it fires), GET /admin/prizes lists them (422 for a bad month, 403 for a promoter)."""

from __future__ import annotations

import pytest

from mall.dal.ledger import LedgerRepository
from mall.dal.settings import SettingsRepository
from mall.dal.table import main_table
from mall.domain.leaderboard_prizes import LeaderboardPrizes
from mall.domain.settings import DistributionSettings
from mall.domain.tokens import Role
from tests.unit.conftest import load_function
from tests.unit.test_team_bonus_handlers import NOW, Api, auth, fire, promoter, sales

pytestmark = pytest.mark.usefixtures("moto_table")


@pytest.fixture(autouse=True)
def one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto's DynamoDB is not thread-safe under concurrent transactions."""
    from mall.services import leaderboard_prizes, team_bonus

    monkeypatch.setattr(team_bonus, "RUN_THREADS", 1)
    monkeypatch.setattr(leaderboard_prizes, "RUN_THREADS", 1)


def test_the_schedule_pays_the_prizes_once_and_the_admin_lists_them() -> None:
    table = main_table()
    prizes = LeaderboardPrizes.model_validate({"enabled": True, "standing": {"prizes": [
        {"rank": 1, "amount_fen": 30_000}, {"rank": 2, "amount_fen": 10_000}]}})
    SettingsRepository(table).save(DistributionSettings(leaderboard_prizes=prizes), based_on=0, saved_by="admin:t",
                                   now=NOW)
    for uid, fen in [("u_alpha", 200_000), ("u_bravo", 150_000), ("u_charlie", 99_999)]:
        promoter(table, uid)
        sales(table, "2026-10", uid, fen)
    schedule = load_function("team_bonus")
    first = fire(schedule, {"month": "2026-10"})
    second = fire(schedule, {"month": "2026-10"})
    assert first["prizes"][0]["paid"] == 2 and second["prizes"][0]["paid"] == 0
    ledger = LedgerRepository(table)
    assert ledger.wallet("u_alpha").balances.available == 30_000
    assert ledger.wallet("u_bravo").balances.available == 10_000

    get = Api()
    admin = auth("admin:alice", Role.ADMIN)
    status, body = get("admin_bonuses", "/admin/prizes", admin, month="2026-10")
    assert status == 200, body
    assert [(i["rank"], i["promoter_id"], i["status"]) for i in body["items"]] == [
        (1, "u_alpha", "PAID"), (2, "u_bravo", "PAID")]
    assert body["paid_fen"] == 40_000 and body["decided"] is True
    status, bad = get("admin_bonuses", "/admin/prizes", admin, month="2026-13")
    assert status == 422 and bad["error"]["fields"][0]["field"] == "query:month"
    status, _ = get("admin_bonuses", "/admin/prizes", auth("u_alpha", Role.PROMOTER), month="2026-10")
    assert status == 403
