"""Settlement by chunks on DynamoDB Local: a promoter's due records are settled by ONE posting per
transaction, not one per record, off the partition that holds the wallet; every record stays traced
to the posting that settled it; a redelivered slice posts nothing twice and a slice cut short
between two chunks resumes with what is left; a refund after settlement claws back one record of a
chunk; the ledger reconciliation stays clean.

The records come from the deployed paths (paid orders synced, completed, synced again), so each
record's transaction also checks its order for open refunds: ~49 records a transaction (the
promoter's status is checked on the wallet update, not by a write of its own)."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import pytest

from mall.dal.keys import posting_partitions, user_partition
from mall.dal.ledger import LedgerRepository
from mall.dal.reconciliation import ReconciliationRepository
from mall.dal.referral import PromoterRepository
from mall.dal.table import Table
from mall.domain import ledger as L
from mall.domain.commission_records import CommissionStatus
from mall.domain.referral import Promoter
from mall.services.commissions import CommissionRepositories, sync_order
from mall.services.ledger import ledger_page, reconcile
from mall.services.settlement import (
    SLICE_SIZE,
    SettlementRepositories,
    due_entries,
    settle_due,
    settle_slice,
    slice_messages,
)
from tests.integration.settlement_trace import scan_items, trace_problems
from tests.integration.test_commission_sync import (
    COMPLETED,
    NOW,
    complete,
    line,
    put_order,
    records,
    set_refunded,
    wallet,
)
from tests.integration.test_commission_sync import world as world  # noqa: PLC0414 - the fixture, reused

HOT = "u_hot"
ORDERS = 100  # one slice (SLICE_SIZE): three transactions of ~49, ~49 and the rest
EACH_FEN = 1_200  # 12% of a 10,000 fen line (the category's L1 rate)
AS_OF = COMPLETED + timedelta(days=7)


def seed(table: Table, version: int) -> list[str]:
    # Created as the application does, so the reconciliation's list of promoters has them.
    PromoterRepository(table).create(
        Promoter(user_id=HOT, code="HOTPROMO", status="active", level_id="basic", applied_at=NOW, activated_at=NOW),
        grant_role=False, replaces_rejected=False, now=NOW, reserve_code=True)
    order_ids = [f"o_h{i:04d}" for i in range(ORDERS)]
    repos = CommissionRepositories.on(table)
    for order_id in order_ids:
        put_order(table, order_id, [line("1", 10_000)], l1=HOT, l2=None, version=version)
        sync_order(repos, order_id=order_id, now=NOW)
        complete(table, order_id)
        sync_order(repos, order_id=order_id, now=NOW)
    assert wallet(table, HOT) == L.Balances(frozen=ORDERS * EACH_FEN)
    return order_ids


def settlement_postings(table: Table) -> list[dict[str, Any]]:
    return [p for p in LedgerRepository(table).all_postings(HOT) if p["kind"] == "commission_settled"]


def assert_books_clean(table: Table) -> None:
    assert trace_problems(scan_items(table)) == []
    report = reconcile(ledger=LedgerRepository(table), reports=ReconciliationRepository(table),
                       promoters=PromoterRepository(table), as_of=AS_OF + timedelta(days=20))
    assert report.mismatches == [] and report.clean


class PartitionWrites:
    """The items each TransactWriteItems writes, by partition key (ConditionChecks apart), while open."""

    EVENT = "before-parameter-build.dynamodb.TransactWriteItems"

    def __init__(self, table: Table) -> None:
        self.by_pk: Counter[str] = Counter()
        self._events = table.client.meta.events

    def __enter__(self) -> PartitionWrites:
        self._events.register(self.EVENT, self._count, unique_id="partition-writes")
        return self

    def __exit__(self, *_: object) -> None:
        self._events.unregister(self.EVENT, unique_id="partition-writes")

    def _count(self, params: dict[str, Any], **_: Any) -> None:
        for op in params["TransactItems"]:
            kind, body = next(iter(op.items()))
            if kind != "ConditionCheck":
                self.by_pk[str((body.get("Item") or body["Key"])["pk"]["S"])] += 1


def test_a_promoters_records_settle_by_one_posting_per_transaction_off_the_wallets_partition(
        world: tuple[Table, int]) -> None:
    table, version = world
    order_ids = seed(table, version)
    with PartitionWrites(table) as writes:
        report = settle_due(SettlementRepositories.on(table), as_of=AS_OF, now=AS_OF)
    assert (report.settled, report.settled_fen, report.transactions) == (ORDERS, ORDERS * EACH_FEN, 3)
    assert wallet(table, HOT) == L.Balances(available=ORDERS * EACH_FEN)
    # One posting per transaction (it was one per record: 100), each naming its ~49 records.
    postings = settlement_postings(table)
    assert len(postings) == report.transactions == 3
    assert sorted(len(p["settles"]) for p in postings) == [2, 49, 49]
    # The promoter's partitions: the wallet once per transaction in USER#<uid>, no posting there;
    # the three postings in the other two posting shards.
    own, *others = posting_partitions(HOT)
    assert own == user_partition(HOT)
    assert writes.by_pk[own] == 3
    assert sum(writes.by_pk[pk] for pk in others) == 3
    for order_id in order_ids[:3]:
        record = records(table, order_id)[("1", 1)]
        assert record.status == CommissionStatus.SETTLED
    # The promoter's ledger page shows which records each settlement posting settled.
    page = ledger_page(ledger=LedgerRepository(table), user_id=HOT, limit=5, cursor=None)
    shown = [entry for entry in page.items if entry.kind == "commission_settled"]
    assert shown and all(entry.settles == next(p["settles"] for p in postings if p["posting_id"] == entry.posting_id)
                         for entry in shown)
    assert_books_clean(table)

    # A refund after settlement claws back one record of a chunk: the others stay settled by the
    # same posting, and the books still reconcile.
    refunded = order_ids[7]
    set_refunded(table, refunded, 0, 10_000)
    result = sync_order(CommissionRepositories.on(table), order_id=refunded, now=AS_OF + timedelta(days=1))
    assert result.clawed_back_fen == EACH_FEN
    record = records(table, refunded)[("1", 1)]
    assert (record.status, record.clawed_back_fen, record.current_fen) == (CommissionStatus.SETTLED, EACH_FEN, 0)
    assert wallet(table, HOT) == L.Balances(available=(ORDERS - 1) * EACH_FEN)
    assert_books_clean(table)


class InjectedCrash(Exception):
    pass


@pytest.mark.parametrize("mode", ["before", "after"])
def test_a_slice_cut_short_between_chunks_resumes_and_a_redelivered_slice_posts_nothing_twice(
        world: tuple[Table, int], monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    table, version = world
    seed(table, version)
    repos = SettlementRepositories.on(table)
    [message] = slice_messages(repos, due_entries(repos, as_of=AS_OF), as_of=AS_OF,
                               slice_size=SLICE_SIZE)
    real = table.transact
    calls = {"n": 0}

    def crashing(writes: Any, **kwargs: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 1 or mode == "after":  # "after": the second commits, the worker never hears
            real(writes, **kwargs)
        if calls["n"] == 2:
            raise InjectedCrash("the worker dies in the middle of its slice")

    monkeypatch.setattr(table, "transact", crashing)
    with pytest.raises(InjectedCrash):
        settle_slice(repos, keys=message["keys"], as_of=AS_OF, now=AS_OF)
    monkeypatch.setattr(table, "transact", real)
    done = 49 * (2 if mode == "after" else 1)
    assert wallet(table, HOT) == L.Balances(frozen=(ORDERS - done) * EACH_FEN, available=done * EACH_FEN)
    assert_books_clean(table)

    redelivered = settle_slice(repos, keys=message["keys"], as_of=AS_OF, now=AS_OF)
    assert redelivered.settled == ORDERS - done and redelivered.skipped == {"not_frozen": done}
    assert wallet(table, HOT) == L.Balances(available=ORDERS * EACH_FEN)
    postings = settlement_postings(table)
    assert sorted(r for p in postings for r in p["settles"]) == sorted(
        {r for p in postings for r in p["settles"]}) and sum(len(p["settles"]) for p in postings) == ORDERS
    assert_books_clean(table)

    again = settle_slice(repos, keys=message["keys"], as_of=AS_OF, now=AS_OF)
    assert (again.settled, again.transactions) == (0, 0) and again.skipped == {"not_frozen": ORDERS}
    assert settlement_postings(table) == postings
    assert wallet(table, HOT) == L.Balances(available=ORDERS * EACH_FEN)
