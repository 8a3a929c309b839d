"""The settlement due index over four shards, and the worker's eventually consistent reads (DynamoDB
Local, the bench's meter).

- Records enter shard crc32(id) mod 4; the planner reads four shards, and the sixteen written before
  only while ``SETTLEMENT_DUE_SHARDS_READ=16``.
- The migration ``settle_due_shards`` moves entries written over sixteen shards into the four, each
  by a conditional update of ``gsi2pk`` alone: every record is found by a four-shard planner after it,
  settled once; a record settled after the migration read it keeps no entry; a second run moves nothing.
- The worker's reads may answer an older image (an eventually consistent read): a redelivered slice,
  a wallet credited since, a promoter frozen since; each record is still settled exactly once, at
  the right amount, and the ledger reconciles."""

from __future__ import annotations

import zlib
from collections.abc import Collection, Iterator, Sequence
from typing import Any

import pytest

from mall.dal.keys import commission_key, order_key, wallet_key
from mall.dal.ledger import LedgerRepository
from mall.dal.settlement import SettlementRepository
from mall.dal.table import Item, Key, Table
from mall.domain import commission_records
from mall.domain.commission_records import SETTLE_SHARDS, SETTLE_SHARDS_BEFORE
from mall.services.settlement import SettlementRepositories, due_entries, plan, settle_due
from tests.integration.test_lifecycle_read_units import read_units
from tests.integration.test_settlement_conditions import (
    AFTER_DUE,
    LATER,
    PROMOTER,
    UPLINE,
    ask_refund,
    assert_reconciles,
    change_status,
    complete,
    inject_after_read,
    make_world,
    paid_order,
    record,
    wallet,
)
from tools.migrations import run
from tools.migrations.settle_due_shards import MIGRATION, apply

pytestmark = pytest.mark.integration

ORDERS = [f"o_shard{n:02d}" for n in range(12)]


@pytest.fixture
def world(table: Table) -> Iterator[Table]:
    yield make_world(table)


def old_shard(order_id: str, level: int = 1) -> int:
    return zlib.crc32(f"cm_{order_id}_1_{level}".encode()) % SETTLE_SHARDS_BEFORE


def entry(table: Table, order_id: str, level: int = 1) -> tuple[str | None, str | None]:
    item = table.get(commission_key(order_id, "1", level), consistent=True)
    assert item is not None
    return item.get("gsi2pk"), item.get("gsi2sk")


def due_keys(table: Table) -> list[tuple[str, str]]:
    return sorted((str(e.key["pk"]), str(e.key["sk"])) for e in due_entries(SettlementRepositories.on(table),
                                                                             as_of=AFTER_DUE))


def written_over_sixteen(table: Table, monkeypatch: pytest.MonkeyPatch) -> None:
    """The orders' records given their due dates by code that wrote sixteen shards."""
    with monkeypatch.context() as before:
        before.setattr(commission_records, "SETTLE_SHARDS", SETTLE_SHARDS_BEFORE)
        for order_id in ORDERS:
            paid_order(table, order_id, l2=UPLINE)
            complete(table, order_id)
    assert {entry(table, o)[0] for o in ORDERS} == {f"SETTLE_DUE#{old_shard(o):02d}" for o in ORDERS}
    assert any(old_shard(o) >= SETTLE_SHARDS for o in ORDERS)  # some outside the four


def test_records_enter_four_shards_by_the_crc32_of_their_id(world: Table) -> None:
    for order_id in ORDERS:
        paid_order(world, order_id, l2=UPLINE)
        complete(world, order_id)
    for order_id in ORDERS:
        for level in (1, 2):
            assert entry(world, order_id, level)[0] == f"SETTLE_DUE#{old_shard(order_id, level) % 4:02d}"
    assert SettlementRepository.shards() == range(4)


def test_the_planner_queries_four_shards_and_the_sixteen_only_while_the_parameter_says_so(
        world: Table, monkeypatch: pytest.MonkeyPatch) -> None:
    paid_order(world, "o_one", l2=UPLINE)
    complete(world, "o_one")
    repos = SettlementRepositories.on(world)
    seen = read_units(world, lambda: plan(repos, as_of=AFTER_DUE, send=lambda _: None))
    assert [c["operation"] for c in seen["calls"]] == ["Query"] * 4  # was 16
    assert seen["rcu"] == 2.0  # ½ a Query (was 8.0)
    monkeypatch.setenv("SETTLEMENT_DUE_SHARDS_READ", "16")
    seen = read_units(world, lambda: plan(repos, as_of=AFTER_DUE, send=lambda _: None))
    assert [c["operation"] for c in seen["calls"]] == ["Query"] * 16 and seen["rcu"] == 8.0


def test_the_migration_moves_every_entry_into_the_four_shards_and_each_record_settles_once(
        world: Table, monkeypatch: pytest.MonkeyPatch) -> None:
    written_over_sixteen(world, monkeypatch)
    everything = sorted((f"ORDER#{o}", f"COMMISSION#1#{level}") for o in ORDERS for level in (1, 2))
    # Before the migration only the deploy parameter finds the entries outside the four shards.
    assert due_keys(world) != everything
    monkeypatch.setenv("SETTLEMENT_DUE_SHARDS_READ", "16")
    assert due_keys(world) == everything
    outside = sum(1 for o in ORDERS for level in (1, 2) if old_shard(o, level) >= SETTLE_SHARDS)
    assert run(world, MIGRATION).changed == outside
    monkeypatch.delenv("SETTLEMENT_DUE_SHARDS_READ")
    assert due_keys(world) == everything
    for order_id in ORDERS:
        for level in (1, 2):
            pk, sk = entry(world, order_id, level)
            assert pk == f"SETTLE_DUE#{old_shard(order_id, level) % 4:02d}"
            assert sk is not None and sk.endswith(f"#cm_{order_id}_1_{level}")  # the sort key unchanged
    assert run(world, MIGRATION, restart=True).changed == 0  # a second run moves nothing
    before = {uid: wallet(world, uid).frozen for uid in (PROMOTER, UPLINE)}
    report = settle_due(SettlementRepositories.on(world), as_of=AFTER_DUE, now=AFTER_DUE)
    assert report.settled == len(everything)
    assert all(record(world, o, level=level).status == "SETTLED" for o in ORDERS for level in (1, 2))
    for uid in (PROMOTER, UPLINE):
        assert wallet(world, uid).available == before[uid] and wallet(world, uid).frozen == 0
        assert_reconciles(world, uid)
    again = settle_due(SettlementRepositories.on(world), as_of=LATER, now=LATER)
    assert again.settled == 0 and due_keys(world) == []


def test_a_record_settled_after_the_migration_read_it_keeps_no_entry(
        world: Table, monkeypatch: pytest.MonkeyPatch) -> None:
    written_over_sixteen(world, monkeypatch)
    order_id = next(o for o in ORDERS if old_shard(o) >= SETTLE_SHARDS)
    as_read = world.get(commission_key(order_id, "1", 1), consistent=True)
    assert as_read is not None
    SettlementRepository(world).settle_one(commission_key(order_id, "1", 1), as_of=AFTER_DUE, now=AFTER_DUE)
    assert entry(world, order_id) == (None, None)
    assert apply(world, as_read, False) is False  # the condition on the entry as read refuses it
    assert entry(world, order_id) == (None, None) and record(world, order_id).status == "SETTLED"


def test_an_entry_moved_between_the_settlement_s_read_and_its_commit_still_settles_once(
        world: Table, monkeypatch: pytest.MonkeyPatch) -> None:
    written_over_sixteen(world, monkeypatch)
    order_id = next(o for o in ORDERS if old_shard(o) >= SETTLE_SHARDS)
    inject_after_read(monkeypatch, lambda: run(world, MIGRATION))
    report = settle_slice_of(world, [order_id])
    # The move changes no version: the transaction computed before it commits, and leaves no entry.
    assert report.settled == 2 and report.retries == 0 and report.fallbacks == 0
    assert entry(world, order_id) == (None, None) and entry(world, order_id, 2) == (None, None)
    assert run(world, MIGRATION, restart=True).changed == 0
    assert_reconciles(world, PROMOTER)
    assert_reconciles(world, UPLINE)


# ---- the worker's eventually consistent reads ----------------------------------------------------


def stale_reads(monkeypatch: pytest.MonkeyPatch, images: dict[tuple[str, str], Item],
                missing: Collection[tuple[str, str]] = ()) -> None:
    """An eventually consistent BatchGetItem answers the item of ``images`` (as it was) for its keys,
    and nothing for the keys of ``missing`` (a replica not holding the item yet); consistent reads
    answer the truth."""
    real = Table.batch_get

    def batch_get(self: Table, keys: Sequence[Key], *, consistent: bool = False) -> list[Item]:
        if consistent:
            return real(self, keys, consistent=True)
        found = {(str(i["pk"]), str(i["sk"])): i for i in real(self, keys, consistent=False)}
        for key in keys:
            pair = (str(key["pk"]), str(key["sk"]))
            if pair in images:
                found[pair] = images[pair]
            if pair in missing:
                found.pop(pair, None)
        return list(found.values())

    monkeypatch.setattr(Table, "batch_get", batch_get)


def images(table: Table, order_ids: Sequence[str]) -> dict[tuple[str, str], Item]:
    keys: list[Key] = [*(commission_key(o, "1", level) for o in order_ids for level in (1, 2)),
                       *(order_key(o) for o in order_ids), wallet_key(PROMOTER), wallet_key(UPLINE)]
    found = [table.get(k, consistent=True) for k in keys]
    return {(str(i["pk"]), str(i["sk"])): i for i in found if i is not None}


def settle_slice_of(table: Table, order_ids: Sequence[str]) -> Any:
    keys = [commission_key(o, "1", level) for o in order_ids for level in (1, 2)]
    return SettlementRepository(table).settle(keys, as_of=AFTER_DUE, now=AFTER_DUE)


def postings_settling(table: Table, uid: str) -> list[str]:
    """The records named by the promoter's settlement postings, each as often as a posting names it."""
    return [str(cid) for p in LedgerRepository(table).all_postings(uid) if p["kind"] == "commission_settled"
            for cid in (p.get("settles") or [p["ref"]["commission_id"]])]


def test_a_slice_delivered_again_and_answered_as_before_settles_nothing_twice(
        world: Table, monkeypatch: pytest.MonkeyPatch) -> None:
    orders = ORDERS[:3]
    for order_id in orders:
        paid_order(world, order_id, l2=UPLINE)
        complete(world, order_id)
    unsettled = images(world, orders)
    first = settle_slice_of(world, orders)
    assert first.settled == 6
    after = {uid: wallet(world, uid) for uid in (PROMOTER, UPLINE)}
    stale_reads(monkeypatch, unsettled)  # the redelivery's reads answer the records FROZEN, the old wallets
    again = settle_slice_of(world, orders)
    assert again.settled == 0 and again.retries >= 1  # the pack computed from the stale answers was refused
    for uid in (PROMOTER, UPLINE):
        assert wallet(world, uid) == after[uid]
        assert_reconciles(world, uid)
        settled = postings_settling(world, uid)
        assert len(settled) == len(set(settled)) == 3  # each record in one settlement posting


def test_a_wallet_credited_since_the_eventual_read_settles_against_the_wallet_as_it_is(
        world: Table, monkeypatch: pytest.MonkeyPatch) -> None:
    paid_order(world, "o_due", l2=UPLINE)
    complete(world, "o_due")
    as_read = images(world, ["o_due"])
    paid_order(world, "o_later", l2=UPLINE)  # credited since: the wallets' frozen balances and versions moved
    later = {uid: wallet(world, uid).frozen for uid in (PROMOTER, UPLINE)}
    stale_reads(monkeypatch, as_read)
    report = settle_slice_of(world, ["o_due"])
    assert report.settled == 2 and report.retries >= 1  # refused on the wallets' versions, decided again
    for uid, level in ((PROMOTER, 1), (UPLINE, 2)):
        settled = record(world, "o_due", level=level)
        assert settled.status == "SETTLED"
        assert wallet(world, uid).frozen == later[uid] - settled.current_fen
        assert wallet(world, uid).available == settled.current_fen
        assert_reconciles(world, uid)
    assert record(world, "o_later").status == "FROZEN"


def test_a_promoter_frozen_since_the_eventual_read_is_not_settled(
        world: Table, monkeypatch: pytest.MonkeyPatch) -> None:
    paid_order(world, "o_due", l2=UPLINE)
    complete(world, "o_due")
    as_read = images(world, ["o_due"])  # the promoter active
    change_status(world, "freeze")
    with monkeypatch.context() as stale:
        stale_reads(stale, as_read)
        report = settle_slice_of(world, ["o_due"])
    # The upline's; the frozen promoter's record, refused on the wallet's flag, waits in the due index.
    assert report.settled == 1 and report.retries >= 1 and report.skipped == {"promoter_frozen": 1}
    assert record(world, "o_due").status == "FROZEN" and entry(world, "o_due")[0] is not None
    assert wallet(world).available == 0
    change_status(world, "unfreeze")
    assert settle_due(SettlementRepositories.on(world), as_of=LATER, now=LATER).settled == 1
    assert record(world, "o_due").status == "SETTLED"
    assert_reconciles(world, PROMOTER)
    assert_reconciles(world, UPLINE)


def test_an_order_the_eventual_read_does_not_answer_is_read_consistently_so_an_open_refund_still_waits(
        world: Table, monkeypatch: pytest.MonkeyPatch) -> None:
    paid_order(world, "o_refund", l2=UPLINE)
    complete(world, "o_refund")
    ask_refund(world, "o_refund", "1", 3_000)  # an open refund request on the line the records earn on
    stale_reads(monkeypatch, {}, missing=[("ORDER#o_refund", "ORDER")])
    report = settle_slice_of(world, ["o_refund"])
    # Without the order no refund check would be made, and the held line's commission would settle.
    assert report.settled == 0 and report.skipped == {"refund_open": 2}
    assert all(record(world, "o_refund", level=level).status == "FROZEN" for level in (1, 2))
    assert all(entry(world, "o_refund", level)[0] is not None for level in (1, 2))  # they wait in the index
    assert wallet(world).available == 0 and wallet(world, UPLINE).available == 0
