"""The migration ``stats_entity_partitions`` moves the dashboard's product, promoter and buyer items
from their per-kind, per-period partitions into the per-month / per-year ones the dashboard reads,
adding into what the stats worker already wrote there, once however often it runs."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mall.dal.stats import StatsRepository
from mall.dal.table import Table
from mall.services.stats import dashboard
from tests.integration.test_dashboard_series import Shop
from tools.migrations import run
from tools.migrations.stats_entity_partitions import MIGRATION

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 3, 4, tzinfo=UTC)


def _old_items(table: Table) -> None:
    """Items as the stats worker wrote them before: one partition per kind and period."""
    table.put({"pk": "STATS_PROMOTER_DAY#2026-11-02", "sk": "USER#u_star", "entity": "stats_promoter_day",
               "day": "2026-11-02", "user_id": "u_star", "sales_fen": 5_000, "sales_orders": 2,
               "commission_fen": 500, "commission_records": 2, "share_visits": 3})
    table.put({"pk": "STATS_PROMOTER_MONTH#2026-11", "sk": "USER#u_star", "entity": "stats_promoter_month",
               "month": "2026-11", "user_id": "u_star", "sales_fen": 5_000, "sales_orders": 2,
               "commission_fen": 500, "commission_records": 2, "share_visits": 3})
    table.put({"pk": "STATS_PRODUCT_DAY#2026-11-02", "sk": "PRODUCT#p_tea", "entity": "stats_product_day",
               "day": "2026-11-02", "product_id": "p_tea", "name": "旧名", "units": 2, "sales_fen": 5_000,
               "orders": 2})
    table.put({"pk": "STATS_BUYER_DAY#2026-11-02", "sk": "USER#u_old", "entity": "stats_buyer_day",
               "day": "2026-11-02", "user_id": "u_old", "orders": 2, "paid_fen": 5_000})


def test_old_items_are_added_into_the_new_partitions_once(table: Table) -> None:
    _old_items(table)
    shop = Shop(table)
    shop.order("2026-11-02T03:00:00Z", 1_000)  # written by the new code after the deploy: u_star, p_tea, u_b1
    table.put({"pk": "OTHER", "sk": "STATS_BUYER_DAY#x", "entity": "order"})  # not a stats item: left alone

    first = run(table, MIGRATION, page_size=2)
    assert first.changed == 4
    again = run(table, MIGRATION, restart=True)
    assert again.changed == 0

    stats = StatsRepository(table)
    day = stats.entities(days=["2026-11-02"], months=[])
    star = next(i for i in day["promoter"] if i["user_id"] == "u_star")
    assert (star["sales_fen"], star["sales_orders"], star["share_visits"]) == (6_000, 3, 3)
    tea = next(i for i in day["product"] if i["product_id"] == "p_tea")
    assert (tea["units"], tea["sales_fen"], tea["name"]) == (3, 6_000, "龙井")  # the newer name is kept
    assert sorted(i["user_id"] for i in day["buyer"]) == ["u_b1", "u_old"]
    month = stats.entities(days=[], months=["2026-11"])
    # what was moved: the stats worker keeps the figures of days only since (stats_entity_months_dropped)
    assert next(i for i in month["promoter"] if i["user_id"] == "u_star")["sales_fen"] == 5_000
    for old in ("STATS_PROMOTER_DAY#2026-11-02", "STATS_PROMOTER_MONTH#2026-11", "STATS_PRODUCT_DAY#2026-11-02",
                "STATS_BUYER_DAY#2026-11-02"):
        assert table.query(partition=("pk", old)).items == []
    assert table.get({"pk": "OTHER", "sk": "STATS_BUYER_DAY#x"}) is not None

    view = dashboard(stats=stats, date_from="2026-11-02", date_to="2026-11-02", now=NOW)
    assert (view.buyers, view.repeat_buyers, view.promoters_active) == (2, 1, 1)


def test_a_dry_run_counts_and_writes_nothing(table: Table) -> None:
    _old_items(table)
    assert run(table, MIGRATION, dry_run=True).changed == 4
    assert table.query(partition=("pk", "STATS_PROMOTER_DAY#2026-11-02")).items != []
    assert StatsRepository(table).entities(days=["2026-11-02"], months=["2026-11"]) == {
        "product": [], "promoter": [], "buyer": []}
