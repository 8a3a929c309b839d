"""What one paid two-level order costs the leaderboards, on DynamoDB Local, priced as the bench
prices it (``bench._meter.price_item``: 2 units per item inside the stats worker's transaction,
1 per index entry entered, changed or left, 2 when its key moves).

The level-1 promoter's sales score of a period is kept on their commission entry of that period
(``mall.dal.stats_boards``, sorted by gsi2). When the order's PAID change and its commission records
reach the stats worker in one batch (its 10 s window: the usual case, and the bench's), the two
scores are one item written once: 4 entries, 14 units instead of 6 entries, 18. When they arrive in
different batches, the second write also rewrites the other board's index entry (the indexes project
ALL): 7 units per period instead of 6, 20 in all. Periods before the stack's fold day keep a sales
entry of their own: 18 either way."""

from __future__ import annotations

from typing import Any

import pytest

from bench._meter import Index, price_item
from mall.dal.stats import StatsRepository
from mall.dal.table import Table
from mall.services.stats import apply_changes
from tests.integration.test_stats_merged_writes import NOW, _created, _order

pytestmark = pytest.mark.integration

INDEXES = [Index("gsi1", "gsi1pk", "gsi1sk"), Index("gsi2", "gsi2pk", "gsi2sk")]


def _board_items(table: Table) -> dict[tuple[str, str], dict[str, Any]]:
    """Every leaderboard entry, as stored (wire format), by key."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    start: Any = None
    while True:
        page = table.client.scan(TableName=table.name, ConsistentRead=True,
                                 **({"ExclusiveStartKey": start} if start else {}))
        for raw in page.get("Items", []):
            if raw["pk"]["S"].startswith("BOARD"):
                found[(raw["pk"]["S"], raw["sk"]["S"])] = raw
        start = page.get("LastEvaluatedKey")
        if not start:
            return found


def _priced(table: Table, stats: StatsRepository, batches: list[list[Any]]) -> tuple[int, int]:
    """Board entries written by the batches, one by one, and their units."""
    entries = units = 0
    for batch in batches:
        before = _board_items(table)
        apply_changes(stats=stats, changes=batch, now=NOW)
        after = _board_items(table)
        for key in sorted(set(before) | set(after)):
            if before.get(key) == after.get(key):
                continue
            priced = price_item("Update", before.get(key), after.get(key), indexes=INDEXES, transactional=True,
                                succeeded=True, key="|".join(key), entity="BOARD#/USER#")
            entries += 1
            units += priced.table_units + priced.index_units
    return entries, units


def _paid(order_id: str) -> list[Any]:
    return [_order(order_id, "u_b1", f"u_l1_{order_id}", 10_000)]


def _records(order_id: str) -> list[Any]:  # promoters of their own: every entry is new
    return [_created(order_id, f"u_l1_{order_id}", 1, 1_000), _created(order_id, f"u_l2_{order_id}", 2, 500)]


def test_one_two_level_order_paid_with_its_records_writes_four_board_entries_for_14_units(table: Table) -> None:
    # L1: sales and commission on one entry, L2: commission; each for the week and the month
    assert _priced(table, StatsRepository(table), [_paid("o_1") + _records("o_1")]) == (4, 14)


def test_records_in_a_later_batch_cost_20_units_and_a_period_before_the_fold_day_18(table: Table) -> None:
    assert _priced(table, StatsRepository(table), [_paid("o_1"), _records("o_1")]) == (6, 20)
    # The week and month of NOW (2026-11) before the fold day: a sales entry of their own, as before.
    unfolded = StatsRepository(table, sales_folded_from="2026-12-07")
    assert _priced(table, unfolded, [_paid("o_2") + _records("o_2")]) == (6, 18)
