"""What one paid two-level order costs the leaderboards, on DynamoDB Local, priced as the bench
prices it (``bench._meter.price_item``: 2 units per item inside the stats worker's transaction,
1 per index entry entered, changed or left, 2 when its key moves).

The order's PAID change and its commission records reach the stats worker in different batches
(the commission worker writes the records after the order stream delivers the payment), so the
level-1 promoter's sales entries and commission entries are written by different transactions:
any layout folding a promoter's two boards into one item pays, on the second write, for the other
board's index entry too (the indexes project ALL), 7 units per period instead of 6."""

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


def test_one_two_level_order_writes_six_board_entries_for_18_units(table: Table) -> None:
    stats = StatsRepository(table)
    batches = [[_order("o_1", "u_b1", "u_l1", 10_000)],  # the payment's order change
               [_created("o_1", "u_l1", 1, 1_000), _created("o_1", "u_l2", 2, 500)]]  # then its records
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
    # L1: sales and commission, L2: commission; each for the week and the month
    assert entries == 6
    assert units == 18
