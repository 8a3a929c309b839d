"""Team orders counted by the stats worker's ``STATS_SEEN#TEAM_ORDER#<month>#<uid>`` / ``<order_id>``
items (the code before the order's marker item listed them) folded into their orders' marker items by
the migration ``stats_seen_marks_folded``, after which the worker no longer reads those items
(``seen_items_read`` off, the default): the settlement's statistics read half a unit instead of one and
a half (the bench's meter on DynamoDB Local), and an order counted by an old item alone is still counted
once, however its later records settle, across the migration and while it runs beside the worker."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from mall.clock import epoch
from mall.dal.changes import Change
from mall.dal.keys import applied_group_key, distinct_key, team_sales_key
from mall.dal.stats import StatsRepository
from mall.dal.table import Item, Table
from mall.domain.stats import Target
from mall.services.stats import apply_changes
from tests.at_once import run_at_once
from tests.integration.test_lifecycle_read_units import read_units
from tests.integration.test_stats_group_markers import _lifecycle
from tests.integration.test_stats_merged_writes import NOW, _record
from tests.integration.test_stats_team_order_marks import MONTH, _settled_line, _team_orders
from tools.migrations import run
from tools.migrations.stats_seen_marks_folded import MIGRATION

pytestmark = pytest.mark.integration


def _counted_by_the_code_before(table: Table, order_id: str, uid: str, *, level: int = 1, marker: bool = True) -> None:
    """The state the code before left for an order counted in ``uid``'s team orders of the month: its
    ``STATS_SEEN#`` item, and its marker item listing its applied changes, expiring, with no ``seen`` (or,
    ``marker=False``, gone with its expiry)."""
    apply_changes(stats=StatsRepository(table, seen_items_read=True),
                  changes=[_settled_line(order_id, uid, level, 300, "1")], now=NOW)
    if marker:
        table.update(applied_group_key(f"ORDER#{order_id}"), "REMOVE #s SET expires_at = :x", names={"#s": "seen"},
                     values={":x": epoch(NOW + timedelta(days=15))})
    else:
        table.client.delete_item(TableName=table.name, Key={"pk": {"S": f"STATS_APPLIED#ORDER#{order_id}"},
                                                            "sk": {"S": "CHANGES"}})
    table.put({**distinct_key(Target("team_sales", MONTH, uid), order_id), "entity": "stats_seen",
               "scope": f"TEAM_ORDER#{MONTH}#{uid}"})


def _marker(table: Table, order_id: str) -> Item:
    return table.get(applied_group_key(f"ORDER#{order_id}"), consistent=True) or {}


def _later_record(order_id: str, uid: str, line: str) -> Change:
    return _settled_line(order_id, uid, 1, 200, line)


def test_the_settlement_reads_no_seen_items(table: Table) -> None:
    pay, settle = _lifecycle("o1")
    stats = StatsRepository(table, part_markers_read=False)  # as the worker runs (docs/configuration.md)
    apply_changes(stats=stats, changes=pay, now=NOW)
    settled = read_units(table, lambda: apply_changes(stats=stats, changes=settle, now=NOW))
    assert not [kind for kind in settled["rcu_by_item_kind"] if kind.startswith("STATS_SEEN#")]
    # The order's marker item alone (with the two beneficiaries' STATS_SEEN# items: 1.5).
    assert settled["rcu"] == 0.5, settled["rcu_by_item_kind"]
    assert (_team_orders(table, "u_star"), _team_orders(table, "u_sun")) == (1, 1)
    # Until the migration has run: both beneficiaries' items read too.
    pay, settle = _lifecycle("o2")
    before = StatsRepository(table, part_markers_read=False, seen_items_read=True)
    apply_changes(stats=before, changes=pay, now=NOW)
    read = read_units(table, lambda: apply_changes(stats=before, changes=settle, now=NOW))
    assert read["rcu"] == 1.5
    assert sum(units for kind, units in read["rcu_by_item_kind"].items() if kind.startswith("STATS_SEEN#")) == 1.0
    # Likewise while a worker of the code before may run, which puts them alone.
    assert StatsRepository(table, seen_marks_too=True)._applier._seen_items_read


@pytest.mark.parametrize("marker", [True, False], ids=["marker-expiring", "marker-gone"])
def test_an_order_counted_by_an_old_item_alone_is_not_counted_again_after_the_migration(
        table: Table, marker: bool) -> None:
    _counted_by_the_code_before(table, "o1", "u_star", marker=marker)
    _counted_by_the_code_before(table, "o2", "u_moon", marker=marker)
    assert (_team_orders(table, "u_star"), _team_orders(table, "u_moon")) == (1, 1)
    assert "seen" not in _marker(table, "o1")
    # Without the migration, a worker that no longer reads the old items counts an order again.
    apply_changes(stats=StatsRepository(table), changes=[_later_record("o2", "u_moon", "7")], now=NOW)
    assert _team_orders(table, "u_moon") == 2

    assert run(table, MIGRATION).changed == 2
    for order_id, uid in (("o1", "u_star"), ("o2", "u_moon")):
        folded = _marker(table, order_id)
        assert folded["seen"] == {f"{MONTH}#{uid}"} and folded["entity"] == "stats_applied"
        assert "expires_at" not in folded and folded.get("applied_at")  # kept for good, as the worker keeps it
        assert table.get(distinct_key(Target("team_sales", MONTH, uid), order_id)) is None
    stats = StatsRepository(table)
    later = [_later_record("o1", "u_star", "2"), _later_record("o1", "u_star", "3")]
    for _ in range(2):  # later records of the order, and their redelivery
        apply_changes(stats=stats, changes=later, now=NOW)
    if marker:  # the first record, redelivered: found applied in the marker item it kept
        apply_changes(stats=stats, changes=[_settled_line("o1", "u_star", 1, 300, "1")], now=NOW)
    assert _team_orders(table, "u_star") == 1
    assert int((table.get(team_sales_key(MONTH, "u_star")) or {})["team_sales_fen"]) == 3_000 + 2_000 * 2
    # A later change that counts nothing sets no expiry on an item that lists a counted order.
    apply_changes(stats=stats, changes=[Change("ev-new-o1-9", "INSERT", "1", None,
                                               {**_record("o1", "u_star", 1, 50, NOW), "sk": "COMMISSION#9#1"})],
                  now=NOW)
    assert "expires_at" not in _marker(table, "o1")


def test_the_migration_is_idempotent_and_resumes_where_it_stopped(table: Table) -> None:
    orders = [f"o{i}" for i in range(6)]
    for order_id in orders:
        _counted_by_the_code_before(table, order_id, "u_star", marker=order_id != "o3")
    _counted_by_the_code_before(table, "o1", "u_sun", level=2)  # a second beneficiary of one order
    table.put({"pk": "STATS_SEEN#OTHER", "sk": "o9", "entity": "stats_seen"})  # not a team order's: left alone
    assert run(table, MIGRATION, dry_run=True).changed == 7
    assert table.get(distinct_key(Target("team_sales", MONTH, "u_star"), "o0")) is not None

    calls: list[Item] = []

    def stops(tbl: Table, item: Item, dry_run: bool) -> bool:
        if len(calls) == 4:
            raise RuntimeError("the run stops")
        calls.append(item)
        return MIGRATION.apply(tbl, item, dry_run)

    with pytest.raises(RuntimeError):
        run(table, replace(MIGRATION, apply=stops), page_size=1)
    # A page applied again on resume (the one in flight when it stopped) changes nothing more.
    assert MIGRATION.apply(table, calls[0], False) is True
    resumed = run(table, MIGRATION, page_size=1)
    assert resumed.changed == 3  # the 4 folded before the stop are not met again
    assert run(table, MIGRATION).pages == 0  # finished
    assert run(table, MIGRATION, restart=True).changed == 0
    for order_id in orders:
        assert _marker(table, order_id)["seen"] == ({f"{MONTH}#u_star", f"{MONTH}#u_sun"} if order_id == "o1"
                                                    else {f"{MONTH}#u_star"})
        assert "expires_at" not in _marker(table, order_id)
    assert not table.query(partition=("pk", f"STATS_SEEN#TEAM_ORDER#{MONTH}#u_star")).items
    assert table.get({"pk": "STATS_SEEN#OTHER", "sk": "o9"}) is not None
    stats = StatsRepository(table)
    apply_changes(stats=stats, changes=[_later_record(o, "u_star", "5") for o in orders]
                  + [_settled_line("o1", "u_sun", 2, 100, "5")], now=NOW)
    assert (_team_orders(table, "u_star"), _team_orders(table, "u_sun")) == (6, 1)


def test_the_migration_beside_running_workers_keeps_every_order_counted_once(table: Table) -> None:
    orders = [f"o{i}" for i in range(6)]
    for order_id in orders:
        _counted_by_the_code_before(table, order_id, "u_star", marker=order_id not in ("o0", "o3"))
    runs: list[Callable[[], Any]] = [lambda: run(table, MIGRATION, page_size=2)]

    def applying(repo: StatsRepository, change: Change) -> Callable[[], Any]:
        return lambda: apply_changes(stats=repo, changes=[change], now=NOW)

    for i, order_id in enumerate(orders):
        # Workers as they run during the migration: still reading the old items (some also putting them).
        repo = StatsRepository(table, seen_items_read=True, seen_marks_too=i % 2 == 1)
        runs.append(applying(repo, _later_record(order_id, "u_star", "2")))
        # A change that counts nothing: the worker would set the marker item's expiry while it lists no order.
        runs.append(applying(repo, Change(f"ev-new-{order_id}-9", "INSERT", "1", None,
                                          {**_record(order_id, "u_star", 1, 50, NOW), "sk": "COMMISSION#9#1"})))
    run_at_once(runs)
    run(table, MIGRATION, restart=True)  # puts of the old items by workers of the deploy (seen_marks_too) folded
    assert _team_orders(table, "u_star") == len(orders)
    for order_id in orders:
        marker = _marker(table, order_id)
        assert marker["seen"] == {f"{MONTH}#u_star"} and "expires_at" not in marker
        assert len(marker["applied"]) == (2 if order_id in ("o0", "o3") else 3)  # an item gone lost its list
    assert not table.query(partition=("pk", f"STATS_SEEN#TEAM_ORDER#{MONTH}#u_star")).items
    stats = StatsRepository(table)  # the read turned off: later records and redeliveries count nothing again
    for _ in range(2):
        apply_changes(stats=stats, changes=[_later_record(o, "u_star", line) for o in orders for line in "23"],
                      now=NOW)
    assert _team_orders(table, "u_star") == len(orders)
    assert int((table.get(team_sales_key(MONTH, "u_star")) or {})["team_sales_fen"]) == len(orders) * (3_000 + 4_000)


def test_folding_one_item_costs_two_write_units(table: Table) -> None:
    _counted_by_the_code_before(table, "o1", "u_star")
    old = table.get(distinct_key(Target("team_sales", MONTH, "u_star"), "o1"))
    assert old is not None
    folded = read_units(table, lambda: MIGRATION.apply(table, old, False))
    assert (folded["wcu"], folded["rcu"]) == (2, 0)  # the marker item's update and the old item's delete, 1 each
