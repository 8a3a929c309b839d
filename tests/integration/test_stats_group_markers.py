"""The stats worker's applied markers of an order's changes: one item per order (``STATS_APPLIED#ORDER#<id>``
/ ``CHANGES``) lists the order's change parts, written once per transaction, instead of one item per
part. On DynamoDB Local: the write units of an order's statistics drop by the markers saved, and
every change is still added once — redelivered alone or together, marked by the code before (one
marker per part), by both codes during the first deploy, concurrently, and past a group item's room
(marked alone), also after a stale first read."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from bench._meter import item_size, write_units
from mall.dal import stats_apply
from mall.dal.changes import Change, marker_group, record_change
from mall.dal.keys import applied_group, applied_group_key, applied_key
from mall.dal.stats import StatsRepository
from mall.dal.stats_plan import split_changes
from mall.dal.table import Item, Table
from mall.domain.stats import contributions
from mall.services.stats import apply_changes
from tests.at_once import run_at_once
from tests.integration.test_stats_merged_writes import (
    NOW,
    _created,
    _new_table,
    _order,
    _settled,
    figures,
    shop_changes,
)
from tests.integration.test_stats_pipeline import big_order_change


def _lifecycle(order_id: str = "o1") -> tuple[list[Change], list[Change]]:
    """One two-level order's changes as the worker receives them: paid with its two records (one
    batch: the 10 s window), then the two records settled."""
    pay = [_order(order_id, "u_b1", "u_star", 3_000), _created(order_id, "u_star", 1, 300),
           _created(order_id, "u_sun", 2, 150)]
    return pay, [_settled(order_id, "u_star", 1, 300), _settled(order_id, "u_sun", 2, 150)]


def _marker_writes(table: Table) -> Callable[[], list[tuple[str, str]]]:
    """The applied-marker items written through ``table``'s client from now on, once per write."""
    written: list[tuple[str, str]] = []

    def seen(params: dict[str, Any], **_: Any) -> None:
        bodies = [next(iter(entry.values())) for entry in params.get("TransactItems", [])] or [params]
        for body in bodies:
            key = body.get("Key") or body.get("Item") or {}
            if str(key["pk"]["S"]).startswith("STATS_APPLIED#"):
                written.append((str(key["pk"]["S"]), str(key["sk"]["S"])))

    events = table.client.meta.events
    for operation in ("TransactWriteItems", "PutItem", "UpdateItem"):
        events.register(f"before-parameter-build.dynamodb.{operation}", seen,
                        unique_id=f"markers-{operation}-{id(written)}")
    return lambda: list(written)


def _units(table: Table, written: list[tuple[str, str]]) -> int:
    """Write units of ``written`` (each in a transaction: 2 per KB), at the size the item has now."""
    sizes = {}
    for raw in table.client.scan(TableName=table.name, ConsistentRead=True).get("Items", []):
        sizes[(str(raw["pk"]["S"]), str(raw["sk"]["S"]))] = item_size(raw)
    return sum(2 * write_units(sizes[key]) for key in written)


def _old_code(stats: StatsRepository, changes: list[Change]) -> Any:
    """The worker before group markers: every part marked alone (no groups)."""
    return stats.apply_many([(c.event_id, contributions(record_change(c))) for c in changes], now=NOW)


def _scan_markers(table: Table) -> list[tuple[str, str]]:
    page = table.client.scan(TableName=table.name, ConsistentRead=True)
    return sorted((str(i["pk"]["S"]), str(i["sk"]["S"])) for i in page.get("Items", [])
                  if i.get("entity", {}).get("S") == "stats_applied")


def test_only_an_orders_partition_shares_a_marker_item() -> None:
    assert applied_group("ORDER#o_1") == "ORDER#o_1"
    assert applied_group("USER#u_1") is None and applied_group("PVISITS#u_1") is None


def test_an_orders_lifecycle_writes_one_marker_per_transaction_and_six_units_fewer(
        table: Table, ddb_client: Any) -> None:
    pay, settle = _lifecycle()
    written = _marker_writes(table)
    stats = StatsRepository(table)
    for batch in (pay, settle):
        assert apply_changes(stats=stats, changes=batch, now=NOW).transactions == 1
    assert written() == [("STATS_APPLIED#ORDER#o1", "CHANGES")] * 2  # once per transaction
    assert _units(table, written()) == 4  # under 1 KB: 2 units each in the transaction
    # The same lifecycle with a marker per change part: five markers, 10 units (the order's item is
    # then written only to count its team orders, ``test_stats_team_order_marks``).
    for fresh in _new_table(ddb_client):
        alone = _marker_writes(fresh)
        for batch in _lifecycle():
            _old_code(StatsRepository(fresh), batch)
        parts = [key for key in alone() if key[1] != "CHANGES"]
        assert len(parts) == 5 and _units(fresh, parts) == 10
        assert figures(fresh) == figures(table)


def test_changes_marked_alone_by_the_code_before_are_found(table: Table) -> None:
    changes = shop_changes()
    stats = StatsRepository(table)
    _old_code(stats, changes[:9])
    before = figures(table)
    again = apply_changes(stats=stats, changes=changes[:9], now=NOW)
    assert (again.applied, again.already_applied) == (0, 9)
    assert figures(table) == before


def test_during_the_first_deploy_both_codes_find_what_the_other_applied(table: Table) -> None:
    changes = shop_changes()
    both = StatsRepository(table, part_markers_too=True)
    apply_changes(stats=both, changes=changes[:9], now=NOW)
    before = figures(table)
    markers = _scan_markers(table)
    assert ("STATS_APPLIED#ev-paid-o1", "PART#0") in markers and ("STATS_APPLIED#ORDER#o1", "CHANGES") in markers
    assert _old_code(StatsRepository(table), changes[:9]).already_applied == 9
    assert apply_changes(stats=StatsRepository(table), changes=changes[:9], now=NOW).already_applied == 9
    assert figures(table) == before


def test_concurrent_deliveries_across_the_deploy_add_every_change_once(table: Table) -> None:
    changes = shop_changes()
    # The code before racing the deploy's first code (markers of both kinds), and that one racing
    # the code after it (group markers): each change in three batches at once.
    workers: list[Callable[[], Any]] = [
        lambda: _old_code(StatsRepository(table), changes),
        lambda: apply_changes(stats=StatsRepository(table, part_markers_too=True), changes=changes[::-1], now=NOW),
        lambda: apply_changes(stats=StatsRepository(table, part_markers_too=True), changes=changes, now=NOW),
    ]
    results = run_at_once(workers)
    assert sum(r.applied for r in results) == len(changes)
    reference = _reference(table.client, changes)
    assert figures(table) == reference
    grouped = [lambda: apply_changes(stats=StatsRepository(table), changes=changes, now=NOW)] * 2
    with ThreadPoolExecutor(max_workers=2) as pool:
        assert sum(r.applied for r in pool.map(lambda run: run(), grouped)) == 0
    assert figures(table) == reference


def _reference(client: Any, changes: list[Change]) -> dict[Any, Any]:
    for fresh in _new_table(client):
        _old_code(StatsRepository(fresh), changes)
        return figures(fresh)
    raise AssertionError("no table")


def _fill(table: Table, order_id: str) -> None:
    tokens = {f"ev-other-{i}#0" for i in range(stats_apply.GROUP_MARKER_ROOM)}
    table.put({**applied_group_key(f"ORDER#{order_id}"), "entity": "stats_applied", "applied": tokens})


def test_a_full_group_item_leaves_a_part_marked_alone_and_a_stale_read_cannot_list_it(
        table: Table, monkeypatch: pytest.MonkeyPatch) -> None:
    pay, settle = _lifecycle()
    _fill(table, "o1")
    stats = StatsRepository(table)
    assert apply_changes(stats=stats, changes=pay, now=NOW).applied == 3
    assert all(table.get(applied_key(c.event_id, 0)) for c in pay)  # marked alone: no room
    before = figures(table)
    real = Table.batch_get
    reads: list[bool] = []

    def stale(self: Table, keys: Any, *, consistent: bool = False) -> list[Item]:
        reads.append(consistent)
        return [] if not consistent else real(self, keys, consistent=True)  # the markers unseen

    monkeypatch.setattr(Table, "batch_get", stale)
    # A stale read sees room (no group item): the group write fails on the room, the read is made
    # again, and the parts are found marked alone.
    again = apply_changes(stats=stats, changes=pay, now=NOW)
    assert (again.applied, again.already_applied) == (0, 3) and reads[:2] == [False, True]
    monkeypatch.setattr(Table, "batch_get", real)
    assert figures(table) == before
    assert apply_changes(stats=stats, changes=settle, now=NOW).applied == 2


def test_parts_that_fill_a_transaction_are_marked_alone_and_both_modes_fit_their_transactions(
        table: Table) -> None:
    change = big_order_change(20, "ev-big")
    group = marker_group(change)
    assert group == "ORDER#o_ev-big"
    deltas = contributions(record_change(change))
    # A small bound: parts of 9 items, transactions of 10 (5 while marking both ways).
    parts, _ = split_changes([("ev-big", deltas)], limit=9, groups={"ev-big": group})
    assert any(p.group is None for p in parts) and any(p.group == group for p in parts)
    both = StatsRepository(table, part_markers_too=True)
    after = StatsRepository(table)
    sizes: list[int] = []
    table.client.meta.events.register("before-parameter-build.dynamodb.TransactWriteItems",
                                      lambda params, **_: sizes.append(len(params["TransactItems"])),
                                      unique_id="transaction-sizes")
    barrier = threading.Barrier(4)

    def work(repo: StatsRepository) -> Any:
        barrier.wait()
        return repo.apply("ev-big", deltas, now=NOW, limit=9, group=group)

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(work, [both, after, both, after]))
    assert sum(r.applied for r in results) == len(parts)
    assert sizes and max(sizes) <= 10  # what the bound of 9 + a marker allows, marked once or twice
    products = after.entities(days=["2026-11-03"], months=[])["product"]
    assert sorted((p["product_id"], p["units"]) for p in products) == [(f"p_{i:02d}", 1) for i in range(1, 21)]
    assert after.apply("ev-big", deltas, now=NOW, limit=9, group=group).already_applied == len(parts)
