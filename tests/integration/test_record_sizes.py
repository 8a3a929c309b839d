"""Commission items stay under 1 KB through a lifecycle (DynamoDB bills a write per
started KB of the whole item, twice in a transaction, again per index entry), read back whole, and
records stored in the older, whole shape keep reading and are compacted by their migration."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from bench._meter import item_size
from mall.dal.catalog import CategoryRepository
from mall.dal.commissions import commission_from_item
from mall.dal.table import Table, serialize
from mall.domain.catalog import Category
from mall.services.commissions import CommissionRepositories, sync_order
from mall.services.settlement import SettlementRepositories, settle_due
from tests.integration.test_commission_sync import (
    COMPLETED,
    NOW,
    complete,
    line,
    promoter,
    put_order,
    records,
    save_settings,
)
from tools.migrations import run
from tools.migrations.compact_commission_records import MIGRATION as COMPACT_COMMISSIONS

pytestmark = pytest.mark.integration

#: Ids as the services make them (``mall.ids``) and a product name as merchants write them.
ORDER = "o_01m95rvgdrwkb843nz6fgp"
L1, L2 = "u_5gkmykuv7lan4iujtqsju4wh", "u_4f2njrl5gupa7zzrv53rowlx"
BUYER = "u_b3bo4o4iwanmgywpsqkrmfc3"
KB = 1024


@pytest.fixture
def world(table: Table) -> tuple[Table, int]:
    CategoryRepository(table).create(Category(category_id="c_tea", name="茶", l1_rate_bp=1200, l2_rate_bp=600))
    return table, save_settings(table, settlement_days=7)


def stored_commissions(table: Table) -> list[dict[str, Any]]:
    page = table.query_where("#pk = :pk AND begins_with(#sk, :sk)", names={"#pk": "pk", "#sk": "sk"},
                             values={":pk": f"ORDER#{ORDER}", ":sk": "COMMISSION#"}, limit=None, consistent=True)
    assert page.items
    return page.items


def sizes(items: list[dict[str, Any]]) -> list[int]:
    return [item_size(serialize(item)) for item in items]


def lifecycle_records(table: Table, version: int) -> None:
    promoter(table, L1, level="senior")
    promoter(table, L2)
    tea = {**line("1", 39_900), "name": "明前西湖龙井 特级 250g 礼盒装", "product_id": "p_01m95rv51xa63a8chydjxt"}
    put_order(table, ORDER, [tea], l1=L1, l2=L2, version=version, buyer=BUYER)


def test_a_commission_record_stays_under_one_kb_from_creation_to_settlement(world: tuple[Table, int]) -> None:
    table, version = world
    lifecycle_records(table, version)
    repos = CommissionRepositories.on(table)
    sync_order(repos, order_id=ORDER, now=NOW)
    created = sizes(stored_commissions(table))
    complete(table, ORDER)
    assert sync_order(repos, order_id=ORDER, now=NOW).due_set == 2
    due = sizes(stored_commissions(table))
    settled_at = COMPLETED + timedelta(days=8)
    assert settle_due(SettlementRepositories.on(table), as_of=settled_at, now=settled_at).settled == 2
    settled = sizes(stored_commissions(table))
    assert max(created + due + settled) < KB, (created, due, settled)


def test_a_record_reads_back_whole(world: tuple[Table, int]) -> None:
    table, version = world
    lifecycle_records(table, version)
    sync_order(CommissionRepositories.on(table), order_id=ORDER, now=NOW)
    found = records(table, ORDER)[("1", 1)]
    assert {k: found.rule[k] for k in ("level", "base_fen", "quantity", "fixed_fen", "level_points_bp", "wanted_fen",
                                       "capped", "cap_fen", "basis", "self_purchase")} == {
        "level": 1, "base_fen": 39_900, "quantity": 1, "fixed_fen": 0, "level_points_bp": 300, "wanted_fen": 5_985,
        "capped": False, "cap_fen": 11_970, "basis": "binding", "self_purchase": False}
    assert found.history == [{"at": "2026-11-03T10:00:00Z", "status": "FROZEN", "amount_fen": 5_985}]


def test_records_stored_whole_keep_reading_and_the_migration_compacts_them_once(world: tuple[Table, int]) -> None:
    table, version = world
    lifecycle_records(table, version)
    sync_order(CommissionRepositories.on(table), order_id=ORDER, now=NOW)
    compact = {(i["pk"], i["sk"]): i for i in stored_commissions(table)}
    before = records(table, ORDER)
    # The shape written before: the whole rule snapshot and the creation entry in the history.
    for key, item in compact.items():
        record = commission_from_item(item)
        table.update({"pk": key[0], "sk": key[1]}, "SET #rule = :rule, #history = :history",
                     names={"#rule": "rule", "#history": "history"},
                     values={":rule": record.rule, ":history": record.history})
    whole = {(i["pk"], i["sk"]): i for i in stored_commissions(table)}
    assert all(sizes([whole[k]])[0] > sizes([compact[k]])[0] for k in compact)
    assert records(table, ORDER) == before  # the tolerant reader

    first = run(table, COMPACT_COMMISSIONS)
    assert first.finished and first.changed == 2
    assert {(i["pk"], i["sk"]): i for i in stored_commissions(table)} == compact
    assert records(table, ORDER) == before
    again = run(table, COMPACT_COMMISSIONS, restart=True)
    assert again.finished and again.changed == 0
