"""A settled record's order counted once in its beneficiary's team orders of the month, without an
item of its own: the order's applied-marker item (``STATS_APPLIED#ORDER#<id>`` / ``CHANGES``, string
set ``seen``), which the settled records' transaction writes anyway, lists the month and promoter it
was counted for, and is then kept for good (no ``expires_at``). On DynamoDB Local, priced as the bench
prices it (``bench._meter.price_item``): one two-level order's statistics cost 4 write units fewer;
the order is still counted once however its records settle — later, redelivered, concurrently,
across the deploy that puts the ``STATS_SEEN#`` items too, after a stale first read — and a mark
written by the code before is found while those are read (``seen_items_read``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bench._meter import Index, price_item
from mall.dal.changes import Change
from mall.dal.keys import applied_group_key, distinct_key, team_sales_key
from mall.dal.stats import StatsRepository
from mall.dal.table import Item, Table
from mall.domain.stats import Target
from mall.services.stats import apply_changes
from tests.at_once import run_at_once
from tests.integration.test_stats_merged_writes import NOW, _created, _order, _record, _settled

pytestmark = pytest.mark.integration

INDEXES = [Index("gsi1", "gsi1pk", "gsi1sk"), Index("gsi2", "gsi2pk", "gsi2sk")]
MONTH = "2026-11"  # the month the records settle in (``_settled``)


def _scan(table: Table) -> dict[tuple[str, str], dict[str, Any]]:
    found: dict[tuple[str, str], dict[str, Any]] = {}
    start: Any = None
    while True:
        page = table.client.scan(TableName=table.name, ConsistentRead=True,
                                 **({"ExclusiveStartKey": start} if start else {}))
        found |= {(raw["pk"]["S"], raw["sk"]["S"]): raw for raw in page.get("Items", [])}
        start = page.get("LastEvaluatedKey")
        if not start:
            return found


def _priced_batch(table: Table, stats: StatsRepository, batch: list[Change]) -> tuple[int, list[str]]:
    """Write units of the items one batch changed (each in the worker's transaction) and their keys."""
    before = _scan(table)
    assert apply_changes(stats=stats, changes=batch, now=NOW).transactions == 1
    after = _scan(table)
    units, keys = 0, []
    for key in sorted(set(before) | set(after)):
        if before.get(key) != after.get(key):
            priced = price_item("Update", before.get(key), after.get(key), indexes=INDEXES, transactional=True,
                                succeeded=True, key="|".join(key), entity=key[0])
            units += priced.table_units + priced.index_units
            keys.append(key[0])
    return units, keys


def _team_orders(table: Table, uid: str) -> int:
    return int((table.get(team_sales_key(MONTH, uid)) or {}).get("orders", 0))


def _settled_line(order_id: str, uid: str, level: int, amount: int, line: str) -> Change:
    """Another commission record of the same order and beneficiary (another line), settled the same month."""
    change = _settled(order_id, uid, level, amount)
    old = {**(change.old or {}), "sk": f"COMMISSION#{line}#{level}", "commission_id": f"c_{order_id}_{line}"}
    new = {**(change.new or {}), "sk": old["sk"], "commission_id": old["commission_id"]}
    return Change(f"ev-settled-{order_id}-{line}-{level}", "MODIFY", "2", old, new)


def test_a_two_level_orders_statistics_write_no_seen_item_and_four_units_fewer(table: Table) -> None:
    stats = StatsRepository(table)
    pay = [_order("o1", "u_b1", "u_star", 3_000), _created("o1", "u_star", 1, 300), _created("o1", "u_sun", 2, 150)]
    settle = [_settled("o1", "u_star", 1, 300), _settled("o1", "u_sun", 2, 150)]
    pay_units, _ = _priced_batch(table, stats, pay)
    settle_units, written = _priced_batch(table, stats, settle)
    assert not [pk for pk in written if pk.startswith("STATS_SEEN#")]
    # settle: the order's marker item, the day and month aggregates and two team sales items, 2 units
    # each (with a STATS_SEEN# item per beneficiary it was 14).
    assert settle_units == 10
    assert pay_units == 36  # its boards: ``test_board_entry_writes`` (40 with a sales entry of their own)
    assert (_team_orders(table, "u_star"), _team_orders(table, "u_sun")) == (1, 1)
    marks = table.get(applied_group_key("ORDER#o1")) or {}
    assert marks.get("seen") == {f"{MONTH}#u_star", f"{MONTH}#u_sun"} and "expires_at" not in marks


def test_a_later_record_of_the_same_order_and_month_is_not_counted_again(table: Table) -> None:
    stats = StatsRepository(table)
    apply_changes(stats=stats, changes=[_settled("o1", "u_star", 1, 300)], now=NOW)
    # A change that lists no counted member keeps the item without expiry.
    apply_changes(stats=stats, changes=[_created("o1", "u_star", 1, 300)], now=NOW)
    assert "expires_at" not in (table.get(applied_group_key("ORDER#o1")) or {})
    later = _settled_line("o1", "u_star", 1, 200, "2")
    for _ in range(2):  # and its redelivery
        apply_changes(stats=stats, changes=[later], now=NOW)
    assert _team_orders(table, "u_star") == 1
    assert int((table.get(team_sales_key(MONTH, "u_star")) or {})["team_sales_fen"]) == 5_000


def test_a_team_order_counted_by_the_code_before_is_found(table: Table) -> None:
    scope = Target("team_sales", MONTH, "u_star")
    table.put({**distinct_key(scope, "o1"), "entity": "stats_seen", "scope": f"TEAM_ORDER#{MONTH}#u_star"})
    table.put({**team_sales_key(MONTH, "u_star"), "entity": "team_sales", "orders": 1})
    # Read until the migration stats_seen_marks_folded lists such marks in their orders' items.
    apply_changes(stats=StatsRepository(table, seen_items_read=True),
                  changes=[_settled_line("o1", "u_star", 1, 200, "2")], now=NOW)
    assert _team_orders(table, "u_star") == 1


def test_during_the_deploy_both_marks_are_written_and_concurrent_codes_count_once(table: Table) -> None:
    both = StatsRepository(table, seen_marks_too=True)
    apply_changes(stats=both, changes=[_settled("o1", "u_star", 1, 300)], now=NOW)
    assert table.get(distinct_key(Target("team_sales", MONTH, "u_star"), "o1"))  # read by the code before
    assert (table.get(applied_group_key("ORDER#o1")) or {}).get("seen") == {f"{MONTH}#u_star"}
    # Five records of one order and beneficiary settling at once, each through both codes.
    changes = [_settled_line("o2", "u_moon", 1, 100 + i, str(i)) for i in range(5)]
    workers: list[Callable[[], Any]] = []
    for change in changes:
        for repo in (StatsRepository(table), StatsRepository(table, seen_marks_too=True)):
            workers.append(lambda repo=repo, change=change: apply_changes(stats=repo, changes=[change], now=NOW))
    results = run_at_once(workers)
    assert sum(r.applied for r in results) == len(changes)
    assert _team_orders(table, "u_moon") == 1
    assert int((table.get(team_sales_key(MONTH, "u_moon")) or {})["team_sales_fen"]) == sum(
        (100 + i) * 10 for i in range(5))


def test_a_stale_read_neither_counts_twice_nor_gives_a_kept_item_an_expiry(
        table: Table, monkeypatch: pytest.MonkeyPatch) -> None:
    stats = StatsRepository(table)
    apply_changes(stats=stats, changes=[_settled("o1", "u_star", 1, 300)], now=NOW)
    real = Table.batch_get
    reads: list[bool] = []

    def stale(self: Table, keys: Any, *, consistent: bool = False) -> list[Item]:
        reads.append(consistent)
        return [] if not consistent else real(self, keys, consistent=True)  # the marks unseen

    monkeypatch.setattr(Table, "batch_get", stale)
    apply_changes(stats=stats, changes=[_settled_line("o1", "u_star", 1, 200, "2")], now=NOW)
    assert reads[:2] == [False, True] and _team_orders(table, "u_star") == 1
    reads.clear()
    # A change listing no member, on a stale read: setting the expiry fails on the listed member.
    apply_changes(stats=stats, changes=[Change("ev-new-o1-9", "INSERT", "1", None,
                                               {**_record("o1", "u_star", 1, 50, NOW), "sk": "COMMISSION#9#1"})],
                  now=NOW)
    assert reads[:2] == [False, True]
    assert "expires_at" not in (table.get(applied_group_key("ORDER#o1")) or {})
