"""A promoter's postings spread over ``POSTING_SHARDS`` partitions (the hot partition of a viral
promoter): written by posting id, read back merged in sort-key order — page by page with the
promoter's cursor, all at once, in the reconciliation and the export — and the ``posting_shards``
migration moves postings stored in the promoter's own partition, once, without ever losing one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mall.dal.keys import POSTING_SHARDS, posting_partitions, user_partition, wallet_key
from mall.dal.ledger import LedgerRefused, LedgerRepository, posting_item
from mall.dal.reconciliation import ReconciliationRepository
from mall.dal.table import Table
from mall.domain import ledger as L
from tools.migrations import run
from tools.migrations.posting_shards import MIGRATION

AT = datetime(2026, 12, 1, 8, tzinfo=UTC)
UID = "u_viral"


def credits(n: int) -> list[L.Posting]:
    return [L.commission_frozen(promoter_id=UID, commission_id=f"cm_{i:03d}", amount_fen=100 + i,
                                at=AT + timedelta(seconds=i // 3), ref={}) for i in range(n)]


def partitions_used(table: Table) -> dict[str, int]:
    found: dict[str, int] = {}
    for pk in posting_partitions(UID):
        items = table.client.query(TableName=table.name, KeyConditionExpression="pk = :pk AND begins_with(sk, :l)",
                                   ExpressionAttributeValues={":pk": {"S": pk}, ":l": {"S": "LEDGER#"}})["Items"]
        if items:
            found[pk] = len(items)
    return found


def pages(ledger: LedgerRepository, *, limit: int, newest_first: bool = True) -> list[Any]:
    out: list[Any] = []
    start = None
    while True:
        page = ledger.postings(UID, limit=limit, start_key=start, newest_first=newest_first)
        assert len(page.items) <= limit
        out += [item["posting_id"] for item in page.items]
        if page.last_key is None:
            return out
        assert page.last_key["pk"] == user_partition(UID)  # the cursor stays the promoter's
        start = page.last_key


def test_one_promoters_postings_are_spread_over_the_shards_and_read_back_in_order(table: Table) -> None:
    ledger = LedgerRepository(table)
    postings = credits(40)
    for start in range(0, 40, 10):  # batched credits: ten postings and one wallet write a transaction
        ledger.post(postings[start:start + 10])
    used = partitions_used(table)
    assert len(used) == POSTING_SHARDS and sum(used.values()) == 40 and max(used.values()) < 25
    expected = [p.posting_id for p in sorted(postings, key=lambda p: (p.at, p.posting_id))]
    assert pages(ledger, limit=7) == expected[::-1]
    assert pages(ledger, limit=40) == expected[::-1]
    assert pages(ledger, limit=6, newest_first=False) == expected
    assert [i["posting_id"] for i in ledger.all_postings(UID)] == expected
    assert [i["posting_id"] for i in ledger.all_postings(UID, since=AT + timedelta(seconds=5))] == expected[15:]
    assert sorted(i["posting_id"] for i in ReconciliationRepository(table).postings(UID)) == sorted(expected)
    total = sum(100 + i for i in range(40))
    assert ledger.wallet(UID).balances == L.Balances(frozen=total)
    assert L.sum_legs(ledger.all_postings(UID)) == {"frozen": total, "merchant:commission": -total}


def test_the_migration_moves_postings_stored_in_the_promoters_partition_once(table: Table) -> None:
    postings = credits(24)
    for posting in postings:  # as stored before sharding: every posting in USER#<uid>
        table.put({**posting_item(posting), "pk": user_partition(UID)})
    total = sum(100 + i for i in range(24))
    table.put({**wallet_key(UID), "entity": "wallet", "promoter_id": UID, "frozen_fen": total, "version": 24})
    ledger = LedgerRepository(table)
    before = [i["posting_id"] for i in ledger.all_postings(UID)]
    assert len(before) == 24 and partitions_used(table) == {user_partition(UID): 24}

    moving = sum(1 for p in postings if posting_item(p)["pk"] != user_partition(UID))
    assert 0 < moving < 24
    assert run(table, MIGRATION, dry_run=True).changed == moving
    assert partitions_used(table) == {user_partition(UID): 24}  # a dry run writes nothing
    assert run(table, MIGRATION).changed == moving
    used = partitions_used(table)
    assert len(used) == POSTING_SHARDS and sum(used.values()) == 24
    for posting in postings:  # each where the code now writes it, nowhere else
        assert table.get({"pk": posting_item(posting)["pk"], "sk": posting_item(posting)["sk"]}) is not None
    assert [i["posting_id"] for i in ledger.all_postings(UID)] == before
    assert run(table, MIGRATION, restart=True).changed == 0  # idempotent
    # A posting recorded again after the move is refused at its shard key: still exactly once.
    with pytest.raises(LedgerRefused):
        ledger.post([postings[5]])
    assert L.sum_legs(ledger.all_postings(UID)) == {"frozen": total, "merchant:commission": -total}
