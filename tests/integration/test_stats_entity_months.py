"""A product's, promoter's and buyer's dashboard figures are kept per day only: a paid order and its
commission records write one item each for them, not a day item and a month item, and the dashboard
of whole months (summing their days) shows the same figures. The migration
``stats_entity_months_dropped`` deletes the month items stored before, once however often it runs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from mall.clock import iso
from mall.dal.changes import Change
from mall.dal.stats import StatsRepository
from mall.dal.table import Table
from mall.services.stats import apply_changes, dashboard
from tests.integration.test_stats_merged_writes import _created, _order, count_writes, sqs, worker
from tests.unit.conftest import FakeContext
from tools.migrations import run
from tools.migrations.stats_entity_months_dropped import MIGRATION

pytestmark = pytest.mark.integration
__all__ = ["worker"]  # the fixture, shared with the merged-writes tests

NOW = datetime(2027, 1, 5, tzinfo=UTC)


def test_a_paid_order_and_its_records_write_each_product_promoter_and_buyer_item_once_and_no_month_item(
        worker: Any, table: Table) -> None:
    writes = count_writes(worker.table)
    batch = [_order("o1", "u_b1", "u_star", 3_000), _created("o1", "u_star", 1, 300), _created("o1", "u_sun", 2, 150)]
    assert worker.handler(sqs(batch), FakeContext()) == {"batchItemFailures": []}
    entity_items = sorted(f"{pk}|{sk}" for pk, sk in writes() if pk.startswith("STATS_ENTITIES_"))
    assert entity_items == ["STATS_ENTITIES_DAY#2026-11|2026-11-03#BUYER#u_b1",
                            "STATS_ENTITIES_DAY#2026-11|2026-11-03#PRODUCT#p_tea",
                            "STATS_ENTITIES_DAY#2026-11|2026-11-03#PROMOTER#u_star",
                            "STATS_ENTITIES_DAY#2026-11|2026-11-03#PROMOTER#u_sun"]


def _paid(order_id: str, buyer: str, promoter: str, amount: int, *, paid_at: str, product: str) -> Change:
    old = {"pk": f"ORDER#{order_id}", "sk": "ORDER", "entity": "order", "order_id": order_id, "buyer_id": buyer,
           "status": "CREATED", "amount_fen": amount, "created_at": paid_at,
           "lines": [{"line_id": "1", "product_id": product, "name": f"name of {product}", "quantity": 2,
                      "paid_fen": amount, "refunded_fen": 0}],
           "attribution": {"l1_promoter_id": promoter, "l2_promoter_id": None}, "share_source": None}
    return Change(f"ev-{order_id}", "MODIFY", "1", old, {**old, "status": "PAID", "paid_at": paid_at})


def _shop(table: Table) -> StatsRepository:
    """Orders on days of October and November: a buyer back on another day (a repeat buyer of the two
    months), two promoters and two products, one changes applied per batch."""
    stats = StatsRepository(table)
    for change in [_paid("o1", "u_b1", "u_star", 3_000, paid_at="2026-10-03T02:00:00Z", product="p_tea"),
                   _paid("o2", "u_b1", "u_star", 1_000, paid_at="2026-11-20T02:00:00Z", product="p_tea"),
                   _paid("o3", "u_b2", "u_moon", 5_000, paid_at="2026-11-21T02:00:00Z", product="p_cup"),
                   _paid("o4", "u_b3", "u_moon", 700, paid_at="2026-11-21T03:00:00Z", product="p_tea")]:
        apply_changes(stats=stats, changes=[change], now=NOW)
    return stats


def _figures(stats: StatsRepository) -> dict[str, Any]:
    view = dashboard(stats=stats, date_from="2026-10-01", date_to="2026-11-30", now=NOW)
    return {"gmv": view.gmv_fen, "buyers": view.buyers, "repeat": view.repeat_buyers,
            "active": view.promoters_active,
            "promoters": [(p.user_id, p.sales_fen, p.orders) for p in view.top_promoters],
            "products": [(p.product_id, p.name, p.units, p.sales_fen, p.orders) for p in view.top_products]}


EXPECTED = {"gmv": 9_700, "buyers": 3, "repeat": 1, "active": 0,
            "promoters": [("u_moon", 5_700, 2), ("u_star", 4_000, 2)],
            "products": [("p_cup", "name of p_cup", 2, 5_000, 1), ("p_tea", "name of p_tea", 6, 4_700, 3)]}


def test_the_dashboard_of_whole_months_sums_their_days(table: Table) -> None:
    assert _figures(_shop(table)) == EXPECTED


def _month_items(table: Table) -> None:
    """Month items as the stats worker stored them before (the same figures as the days above)."""
    for kind, subject, figures in (("PROMOTER", "u_star", {"sales_fen": 1_000, "sales_orders": 1}),
                                   ("BUYER", "u_b1", {"orders": 1, "paid_fen": 1_000}),
                                   ("PRODUCT", "p_tea", {"units": 2, "sales_fen": 1_000, "orders": 1})):
        name = "product_id" if kind == "PRODUCT" else "user_id"
        table.put({"pk": "STATS_ENTITIES_MONTH#2026", "sk": f"2026-11#{kind}#{subject}",
                   "entity": f"stats_{kind.lower()}_month", "month": "2026-11", name: subject, **figures})


def test_the_migration_deletes_the_month_items_once_and_nothing_else(table: Table) -> None:
    stats = _shop(table)
    _month_items(table)
    table.put({"pk": "STATS_ENTITIES_MONTH#2026", "sk": "other", "entity": "order", "at": iso(NOW)})
    assert _figures(stats) == EXPECTED  # the dashboard does not read them
    assert run(table, MIGRATION, dry_run=True).changed == 3
    assert len(table.query(partition=("pk", "STATS_ENTITIES_MONTH#2026")).items) == 4
    assert run(table, MIGRATION, page_size=2).changed == 3
    assert run(table, MIGRATION, restart=True).changed == 0
    left = table.query(partition=("pk", "STATS_ENTITIES_MONTH#2026")).items
    assert [item["sk"] for item in left] == ["other"]
    assert len(table.query(partition=("pk", "STATS_ENTITIES_DAY#2026-11")).items) == 8
    assert _figures(stats) == EXPECTED
