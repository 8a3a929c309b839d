"""The write units of a one-line order's two commission records (L1 and L2) at each step of their
life, priced by the bench's meter (``bench._meter.price_item``: a write per started KB of the whole
item, twice inside a transaction, plus one per index entry the item enters, leaves or rewrites):
creation 2 + gsi1 1, due date 1 + gsi1 1 + gsi2 1, settlement 2 + gsi1 1 + gsi2 1 per record, as long
as the record stays under 1 KB, with a product name as long as merchants write them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest

from bench._meter import Index, price_item
from mall.dal.table import Table, deserialize, serialize
from mall.services.commissions import CommissionRepositories, sync_order
from mall.services.settlement import SettlementRepositories, settle_due
from tests.conftest import table_request
from tests.integration.test_commission_sync import COMPLETED, NOW, complete, line, promoter, put_order, records
from tests.integration.test_record_sizes import (
    BUYER,
    L1,
    L2,
    ORDER,
    world,  # noqa: F401  (the fixture)
)
from tools.migrations import run
from tools.migrations.trim_commission_records import MIGRATION as TRIM
from tools.migrations.trim_commission_records import apply as trim_apply

pytestmark = pytest.mark.integration

#: A product title of 40 characters, as merchants write them (the catalog allows 60).
LONG_NAME = "明前西湖龙井特级礼盒装 2026新茶 杭州原产地直供 绿茶 春茶 250g 两罐"
PER_RECORD = {"created": (2, {"gsi1": 1}), "due": (1, {"gsi1": 1, "gsi2": 1}),
              "settled": (2, {"gsi1": 1, "gsi2": 1})}


def stored(table: Table) -> dict[tuple[str, str], dict[str, Any]]:
    page = table.query_where("#pk = :pk AND begins_with(#sk, :sk)", names={"#pk": "pk", "#sk": "sk"},
                             values={":pk": f"ORDER#{ORDER}", ":sk": "COMMISSION#"}, limit=None, consistent=True)
    return {(str(i["pk"]), str(i["sk"])): i for i in page.items}


@contextmanager
def record_writes(table: Table) -> Iterator[dict[str, tuple[int, dict[str, int], int]]]:
    """What the block spent on the order's commission records: by record, (table units, index units
    by index, bytes after), priced from the items before and after and the call that wrote them."""
    calls: dict[tuple[str, str], str] = {}

    def seen(model: Any, params: dict[str, Any], **_: Any) -> None:
        bodies = ([next(iter(op.items())) for op in params["TransactItems"]] if model.name == "TransactWriteItems"
                  else [(model.name, params)] if model.name in ("PutItem", "UpdateItem", "DeleteItem") else [])
        for action, body in bodies:
            key = deserialize(body["Key"]) if "Key" in body else deserialize(body["Item"])
            if str(key["sk"]).startswith("COMMISSION#") and action != "ConditionCheck":
                calls[(str(key["pk"]), str(key["sk"]))] = model.name

    before = stored(table)
    found: dict[str, tuple[int, dict[str, int], int]] = {}
    table.client.meta.events.register("before-parameter-build.dynamodb", seen, unique_id="record-units")
    try:
        yield found
    finally:
        table.client.meta.events.unregister("before-parameter-build.dynamodb", unique_id="record-units")
    after = stored(table)
    indexes = [Index.from_template(gsi, ("pk", "sk")) for gsi in table_request(table.name)["GlobalSecondaryIndexes"]]
    for key, operation in calls.items():
        old, new = before.get(key), after.get(key)
        priced = price_item("Update", serialize(old) if old else None, serialize(new) if new else None,
                            indexes=indexes, transactional=operation == "TransactWriteItems", succeeded=True,
                            key="|".join(key), entity="ORDER#/COMMISSION#")
        found[key[1]] = (priced.table_units, dict(priced.indexes), priced.size_after)


def test_two_records_of_a_long_named_product_cost_twenty_units_from_creation_to_settlement(
        world: tuple[Table, int]) -> None:  # noqa: F811
    table, version = world
    assert len(LONG_NAME) == 40
    promoter(table, L1, level="senior")
    promoter(table, L2)
    tea = {**line("1", 39_900), "name": LONG_NAME, "product_id": "p_01m95rv51xa63a8chydjxt"}
    put_order(table, ORDER, [tea], l1=L1, l2=L2, version=version, buyer=BUYER)
    repos = CommissionRepositories.on(table)
    steps: dict[str, dict[str, tuple[int, dict[str, int], int]]] = {}
    with record_writes(table) as steps["created"]:
        sync_order(repos, order_id=ORDER, now=NOW)
    complete(table, ORDER)
    with record_writes(table) as steps["due"]:
        assert sync_order(repos, order_id=ORDER, now=NOW).due_set == 2
    at = COMPLETED + timedelta(days=8)
    with record_writes(table) as steps["settled"]:
        assert settle_due(SettlementRepositories.on(table), as_of=at, now=at).settled == 2

    sizes = {step: sorted(size for _, _, size in writes.values()) for step, writes in steps.items()}
    # Each write of each record under 1 KB: one unit a write, one an index entry (1,031–1,052 bytes
    # at settlement before: 3 units more a record).
    assert {step: sorted((units, indexes) for units, indexes, _ in writes.values())
            for step, writes in steps.items()} == {step: [PER_RECORD[step]] * 2 for step in PER_RECORD}, sizes
    assert sum(units + sum(indexes.values()) for writes in steps.values()
               for units, indexes, _ in writes.values()) == 20
    # Nothing the domain reads was lost on the way.
    settled = records(table, ORDER)
    assert {(r.level, r.status.value, r.cancelled_fen, r.clawed_back_fen, r.refunded_base_fen, r.product_name)
            for r in settled.values()} == {(1, "SETTLED", 0, 0, 0, LONG_NAME), (2, "SETTLED", 0, 0, 0, LONG_NAME)}
    assert all("updated_at" not in item and "cancelled_fen" not in item for item in stored(table).values())


def test_records_stored_before_keep_reading_and_lose_what_nothing_reads_once(
        world: tuple[Table, int]) -> None:  # noqa: F811
    table, version = world
    promoter(table, L1, level="senior")
    promoter(table, L2)
    put_order(table, ORDER, [{**line("1", 39_900), "name": LONG_NAME}], l1=L1, l2=L2, version=version, buyer=BUYER)
    repos = CommissionRepositories.on(table)
    sync_order(repos, order_id=ORDER, now=NOW)
    # The shape written before: zeros and an updated_at; the L2 record with money cancelled already.
    for pk, sk in stored(table):
        cancelled = 5 if sk.endswith("#2") else 0
        table.update({"pk": pk, "sk": sk}, "SET cancelled_fen = :c, clawed_back_fen = :z, refunded_base_fen = :z, "
                     "updated_at = :at", values={":c": cancelled, ":z": 0, ":at": "2026-11-03T10:00:00Z"})
    before = records(table, ORDER)
    assert before[("1", 2)].cancelled_fen == 5

    first = run(table, TRIM)
    assert first.finished and first.changed == 2
    assert records(table, ORDER) == before  # what the domain reads is the same
    trimmed = {sk: item for (_, sk), item in stored(table).items()}
    assert [name for name in ("updated_at", "cancelled_fen", "clawed_back_fen", "refunded_base_fen")
            if name in trimmed["COMMISSION#1#1"]] == []
    assert trimmed["COMMISSION#1#2"]["cancelled_fen"] == 5 and "clawed_back_fen" not in trimmed["COMMISSION#1#2"]
    assert run(table, TRIM, restart=True).changed == 0

    # A record changed meanwhile is left for the next run, from its new state.
    (pk, sk), item = next(iter(stored(table).items()))
    table.update({"pk": pk, "sk": sk}, "SET updated_at = :at", values={":at": "2026-11-04T10:00:00Z"})
    assert not trim_apply(table, {**item, "updated_at": "x", "version": int(item["version"]) - 1}, False)
    assert trim_apply(table, stored(table)[(pk, sk)], False)
    assert "updated_at" not in stored(table)[(pk, sk)]
