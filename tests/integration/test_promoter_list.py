"""The merchant's promoter list on DynamoDB Local (GET /admin/promoters): each row carries the masked phone,
cumulative and this month's commission and team size; it filters by level and sorts by a figure, paging
a sorted list without repeats, within the admin class's five round trips."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mall.clock import china_day
from mall.dal.ledger import LedgerRepository
from mall.dal.table import Table
from mall.domain import ledger as L
from mall.domain.stats_periods import month_of_day
from tests.integration import test_admin_round_trips as admin_trips
from tests.integration.test_admin_round_trips import Call, promoter

pytestmark = pytest.mark.integration

call = admin_trips.call
MONTH = month_of_day(china_day(datetime.now(UTC)))


def figures(table: Table, uid: str, *, members: tuple[int, int], earned: int, month: int, level: str = "basic",
            phone: str | None = None) -> None:
    promoter(table, uid)
    table.update({"pk": f"USER#{uid}", "sk": "PROMOTER"},
                 "SET direct_members = :d, second_level_members = :s, own_sales_fen = :o, level_id = :l",
                 values={":d": members[0], ":s": members[1], ":o": earned * 10, ":l": level})
    if earned:
        LedgerRepository(table).post([L.commission_frozen(promoter_id=uid, commission_id=f"cm_{uid}", amount_fen=earned,
                                                          at=datetime(2026, 11, 1, tzinfo=UTC), ref={})])
    if month:
        table.put({"pk": f"BOARD#commission#{MONTH}", "sk": f"USER#{uid}", "entity": "leaderboard_entry",
                   "board": "commission", "period_key": MONTH, "promoter_id": uid, "score_fen": month})
    if phone:
        table.update({"pk": f"USER#{uid}", "sk": "PROFILE"}, "SET phone_masked = :p", values={":p": phone})


@pytest.fixture
def promoters(table: Table) -> Table:
    figures(table, "u_a", members=(1, 0), earned=5_000, month=100, phone="138****1234")
    figures(table, "u_b", members=(5, 7), earned=1_000, month=900, level="gold")
    figures(table, "u_c", members=(2, 2), earned=0, month=0)
    return table


def test_rows_carry_the_figures(promoters: Table, call: Call) -> None:
    answer = call("admin_promoters", "GET", "/admin/promoters", query={"status": "active"})
    assert answer.status == 200, answer.body
    assert answer.trips <= 5, answer.sent
    rows = {r["user_id"]: r for r in answer.body["items"]}
    assert set(rows) == {"u_a", "u_b", "u_c"}
    assert rows["u_a"] == {**rows["u_a"], "phone_masked": "138****1234", "commission_total_fen": 5_000,
                           "commission_month_fen": 100, "team_size": 1}
    assert rows["u_b"]["team_size"] == 12 and rows["u_c"]["phone_masked"] is None
    assert rows["u_c"]["commission_total_fen"] == 0 and "last_active_at" in rows["u_c"]


@pytest.mark.parametrize(("sort", "order"), [("team_desc", ["u_b", "u_c", "u_a"]),
                                             ("month_commission_desc", ["u_b", "u_a", "u_c"]),
                                             ("sales_desc", ["u_a", "u_b", "u_c"])])
def test_sorted_pages_follow_the_figure_without_repeats(promoters: Table, call: Call, sort: str,
                                                        order: list[str]) -> None:
    seen: list[str] = []
    query = {"status": "active", "sort": sort, "limit": "2"}
    for _ in range(3):
        answer = call("admin_promoters", "GET", "/admin/promoters", query=query)
        assert answer.status == 200 and answer.trips <= 5, (answer.body, answer.sent)
        seen += [r["user_id"] for r in answer.body["items"]]
        if not answer.body["next_cursor"]:
            break
        query = {**query, "cursor": answer.body["next_cursor"]}
    assert seen == order


def test_a_level_filter_and_a_foreign_cursor(promoters: Table, call: Call) -> None:
    gold = call("admin_promoters", "GET", "/admin/promoters", query={"status": "active", "level_id": "gold"})
    assert [r["user_id"] for r in gold.body["items"]] == ["u_b"]
    first = call("admin_promoters", "GET", "/admin/promoters", query={"status": "active", "sort": "team_desc",
                                                                       "limit": "1"})
    other = call("admin_promoters", "GET", "/admin/promoters", query={"status": "active", "sort": "sales_desc",
                                                                       "cursor": first.body["next_cursor"]})
    assert other.status == 422 and other.body["error"]["fields"][0]["field"] == "query:cursor"
