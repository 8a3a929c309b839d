"""The ledger's writes on real DynamoDB Local: balances move with their postings in one
transaction, and no interleaving of parallel debits can overdraw."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from mall.dal.ledger import LedgerRefused, LedgerRepository
from mall.dal.table import Table, Write
from mall.domain import ledger as L

AT = datetime(2026, 11, 1, tzinfo=UTC)


def test_postings_and_balances_commit_together(table: Table) -> None:
    repo = LedgerRepository(table)
    repo.post([L.commission_frozen(promoter_id="u1", commission_id="c1", amount_fen=700, at=AT, ref={})])
    wallet = repo.wallet("u1")
    assert wallet.balances == L.Balances(frozen=700) and wallet.version == 1
    assert repo.merchant_balances()["merchant:commission"] == -700
    items = list(repo.all_postings("u1"))
    assert [i["posting_id"] for i in items] == ["c1.frozen"]
    assert L.sum_legs(items) == {"merchant:commission": -700, "frozen": 700}
    # The same posting twice is refused and changes nothing.
    with pytest.raises(LedgerRefused) as refused:
        repo.post([L.commission_frozen(promoter_id="u1", commission_id="c1", amount_fen=700, at=AT, ref={})])
    assert refused.value.only("posting:")
    assert repo.wallet("u1").balances == L.Balances(frozen=700)


def test_an_overdraft_is_refused_by_the_condition(table: Table) -> None:
    repo = LedgerRepository(table)
    with pytest.raises(LedgerRefused) as refused:
        repo.post([L.withdrawal_held(promoter_id="u2", withdrawal_id="w1", amount_fen=1, at=AT)])
    assert refused.value.labels == ["wallet:u2"]
    assert list(repo.all_postings("u2")) == []


def test_a_stale_expectation_is_refused(table: Table) -> None:
    repo = LedgerRepository(table)
    repo.post([L.commission_frozen(promoter_id="u3", commission_id="c1", amount_fen=100, at=AT, ref={})])
    seen = repo.wallet("u3")
    repo.post([L.commission_frozen(promoter_id="u3", commission_id="c2", amount_fen=100, at=AT, ref={})])
    claw = L.commission_clawed_back(balances=seen.balances, promoter_id="u3", commission_id="c1", amount_fen=50,
                                    at=AT, ref={}, step="1")
    with pytest.raises(LedgerRefused):
        repo.post([claw], expect={"u3": seen})


def test_fifty_parallel_debits_never_overdraw(table: Table) -> None:
    repo = LedgerRepository(table)
    for i in range(3):  # 3 × 1,000 fen settled → 3,000 available
        repo.post([L.commission_frozen(promoter_id="u4", commission_id=f"c{i}", amount_fen=1_000, at=AT, ref={})])
        wallet = repo.wallet("u4")
        repo.post(L.commission_settled(balances=wallet.balances, promoter_id="u4", commission_id=f"c{i}",
                                       amount_fen=1_000, at=AT, ref={}))

    def attempt(n: int) -> bool:
        try:
            repo.post([L.withdrawal_held(promoter_id="u4", withdrawal_id=f"w{n}", amount_fen=700, at=AT)])
            return True
        except LedgerRefused:
            return False

    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(attempt, range(50)))
    assert sum(results) == 4  # 4 × 700 = 2,800 ≤ 3,000 < 5 × 700
    wallet = repo.wallet("u4")
    assert wallet.balances.available == 200 and wallet.balances.withdrawing == 2_800
    assert L.sum_legs(repo.all_postings("u4"))["withdrawing"] == 2_800


def test_a_single_write_without_postings_is_a_conditional_write_not_a_transaction(table: Table) -> None:
    """A state change with no money (a commission record's due date) costs a plain conditional write."""
    repo = LedgerRepository(table)
    key = {"pk": "ORDER#o1", "sk": "COMMISSION#1#1"}
    table.put({**key, "entity": "commission", "status": "FROZEN", "version": 1})
    calls: list[str] = []
    table.client.meta.events.register("before-call.dynamodb", lambda model, **_: calls.append(model.name),
                                      unique_id="single-write-calls")
    try:
        due = Write.update(table.name, key, "SET due_at = :due ADD version :one", condition="version = :v",
                           values={":due": "2026-11-10T00:00:00Z", ":one": 1, ":v": 1})
        repo.post([], also=[due])
        assert calls == ["UpdateItem"]
        # The same condition refuses a stale write, naming it and returning the item as it is.
        with pytest.raises(LedgerRefused) as refused:
            repo.post([], also=[due])
        assert refused.value.labels == ["also:0"] and refused.value.items[0]["version"] == 2
        assert calls == ["UpdateItem", "UpdateItem"]
    finally:
        table.client.meta.events.unregister("before-call.dynamodb", unique_id="single-write-calls")
    assert table.get(key, consistent=True) == {**key, "entity": "commission", "status": "FROZEN", "version": 2,
                                               "due_at": "2026-11-10T00:00:00Z"}
