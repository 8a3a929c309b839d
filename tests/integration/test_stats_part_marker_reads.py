"""The stats worker's reads of per-part applied markers: for an order's changes (listed in the order's
marker item) a part's own marker is read only when that item is full, or, with ``part_markers_read``,
while markers of the code before may still be delivered again. Read units by the bench's meter on
DynamoDB Local; every change still added once."""

from __future__ import annotations

import pytest

from mall.dal.keys import applied_key
from mall.dal.stats import StatsRepository
from mall.dal.table import Table
from mall.services.stats import apply_changes
from tests.integration.test_lifecycle_read_units import read_units
from tests.integration.test_stats_group_markers import _fill, _lifecycle, _old_code
from tests.integration.test_stats_merged_writes import NOW, figures

pytestmark = pytest.mark.integration


def test_an_order_s_parts_are_looked_up_in_its_marker_item_alone(table: Table) -> None:
    pay, settle = _lifecycle()
    stats = StatsRepository(table, part_markers_read=False)
    seen = read_units(table, lambda: apply_changes(stats=stats, changes=pay, now=NOW))
    # Was 1.5 more: the three parts' own markers, read (absent) beside the order's item.
    assert "STATS_APPLIED#/PART#" not in seen["rcu_by_item_kind"]
    settled = read_units(table, lambda: apply_changes(stats=stats, changes=settle, now=NOW))
    assert "STATS_APPLIED#/PART#" not in settled["rcu_by_item_kind"]  # was 1.0
    after = figures(table)
    assert apply_changes(stats=stats, changes=pay + settle, now=NOW).applied == 0  # redelivered: found listed
    assert figures(table) == after


def test_parts_marked_alone_past_a_full_marker_item_are_still_found(table: Table) -> None:
    pay, _ = _lifecycle()
    _fill(table, "o1")
    stats = StatsRepository(table, part_markers_read=False)
    assert apply_changes(stats=stats, changes=pay, now=NOW).applied == 3
    assert all(table.get(applied_key(c.event_id, 0)) for c in pay)  # marked alone: no room
    before = figures(table)
    seen = read_units(table, lambda: apply_changes(stats=stats, changes=pay, now=NOW))
    assert seen["rcu_by_item_kind"]["STATS_APPLIED#/PART#"] == 1.5  # read once the full item was seen
    assert figures(table) == before


def test_with_the_parameter_parts_marked_by_the_code_before_are_found(table: Table) -> None:
    pay, _ = _lifecycle()
    _old_code(StatsRepository(table), pay)  # one marker per part, no order item
    before = figures(table)
    again = apply_changes(stats=StatsRepository(table, part_markers_read=True), changes=pay, now=NOW)
    assert (again.applied, again.already_applied) == (0, 3)
    assert figures(table) == before
