"""The risk hold's condition on the wallet, against what runs at the same time (DynamoDB Local, real
threads): a hold that commits while a commission credit is in flight (its hold read before, its
transaction after) refuses that credit, which is decided again and born held; with credits running
freely while the hold opens, no credit sent after the hold committed is born unheld. A withdrawal or
a prize whose read missed the hold is refused by the wallet's flag, with the same outcome as the
hold item's ConditionCheck gave (the withdrawal's ``risk_hold`` refusal, whatever the balance).
Each in both deploy settings: the flag checked, and the hold item checked (``RISK_HOLD_ITEM_CHECKS=1``)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from mall.clock import iso
from mall.dal.leaderboard_prizes import PAID as PRIZE_PAID
from mall.dal.leaderboard_prizes import Award, PrizeRepository
from mall.dal.ledger import LedgerRefused, LedgerRepository
from mall.dal.reconciliation import ReconciliationRepository
from mall.dal.referral import PromoterRepository
from mall.dal.risk import RiskCaseRepository, RiskHoldRepository
from mall.dal.table import Table, deserialize
from mall.dal.withdrawals import WithdrawalRepository
from mall.domain import ledger as L
from mall.errors import Conflict
from mall.services import risk
from mall.services.commission_batch import credit_orders
from mall.services.commissions import CommissionRepositories, sync_order
from mall.services.ledger import reconcile
from mall.services.settlement import SettlementRepositories, settle_due
from tests.integration.test_lifecycle_read_units import read_units
from tests.integration.test_risk_hold_wallet_flag import flagged, in_step
from tests.integration.test_risk_holds import (
    AFTER_DUE,
    PAID,
    RISKY,
    complete,
    open_case,
    paid_order,
    records_of,
    seed_world,
    wallet,
    withdraw,
)

pytestmark = pytest.mark.integration


@pytest.fixture(params=["flag", "items"])
def world(request: pytest.FixtureRequest, table: Table, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Table, int]]:
    if request.param == "items":
        monkeypatch.setenv("RISK_HOLD_ITEM_CHECKS", "1")
    yield seed_world(table)


def unsynced_order(table: Table, order_id: str, *, version: int, l1: str = RISKY) -> None:
    """A paid order whose commission no sync has created yet."""
    table.put({"pk": f"ORDER#{order_id}", "sk": "ORDER", "entity": "order", "order_id": order_id,
               "buyer_id": "u_buyer", "status": "PAID", "amount_fen": 10_000, "goods_fen": 10_000, "shipping_fen": 0,
               "discount_fen": 0, "created_at": iso(PAID), "paid_at": iso(PAID), "version": 2,
               "settings_version": version,
               "lines": [{"line_id": "1", "product_id": "p1", "name": "Tea", "type": "virtual", "category_id": None,
                          "quantity": 1, "unit_price_fen": 10_000, "paid_fen": 10_000,
                          "commission": {"mode": "inherit", "l1": 0, "l2": 0}, "distribution_enabled": True,
                          "refunded_fen": 0}],
               "attribution": {"l1_promoter_id": l1, "l2_promoter_id": None, "settings_version": version,
                               "basis": "binding", "self_purchase": False}})


def assert_reconciles(table: Table) -> None:
    assert reconcile(ledger=LedgerRepository(table), reports=ReconciliationRepository(table),
                     promoters=PromoterRepository(table), as_of=AFTER_DUE + timedelta(days=2)).run.clean


# ---- commission credits ---------------------------------------------------------------------------


def test_a_hold_committing_while_credits_are_in_flight_refuses_them_and_they_are_born_held(
        world: tuple[Table, int], monkeypatch: pytest.MonkeyPatch) -> None:
    table, version = world
    orders = [f"o_{n}" for n in range(4)]
    for order_id in orders:
        unsynced_order(table, order_id, version=version)
    read_all = threading.Barrier(len(orders) + 1)
    opened = threading.Event()
    paused = threading.local()
    real_get_many = RiskHoldRepository.get_many

    def get_many_then_wait(self: RiskHoldRepository, uids: Any, **kwargs: Any) -> dict[str, dict[str, Any]]:
        found = real_get_many(self, uids, **kwargs)
        if not getattr(paused, "done", False):  # each credit's first decision: read, then wait for the hold
            paused.done = True
            read_all.wait(timeout=30)
            assert opened.wait(timeout=30)
        return found

    monkeypatch.setattr(RiskHoldRepository, "get_many", get_many_then_wait)

    def credit(order_id: str) -> int:
        return sync_order(CommissionRepositories.on(table), order_id=order_id, now=PAID).created

    def open_hold() -> str:
        read_all.wait(timeout=30)  # every credit has read "not held"
        try:
            return open_case(table)
        finally:
            opened.set()

    with ThreadPoolExecutor(max_workers=len(orders) + 1) as pool:
        case = pool.submit(open_hold)
        created = list(pool.map(credit, orders))
        case_id = case.result()
    assert created == [1] * len(orders)
    records = records_of(table, RISKY)
    assert len(records) == len(orders) and {r.hold for r in records} == {case_id}
    assert wallet(table, RISKY) == L.Balances(frozen=sum(r.amount_fen for r in records))
    assert flagged(table, RISKY) and in_step(table, RISKY)
    assert_reconciles(table)


def test_no_credit_sent_after_the_hold_committed_is_born_unheld(
        world: tuple[Table, int], monkeypatch: pytest.MonkeyPatch) -> None:
    table, version = world
    orders = [f"o_{n:02d}" for n in range(32)]
    for order_id in orders:
        unsynced_order(table, order_id, version=version)
    last_sent: dict[str, float] = {}  # order id → when its latest creation transaction was sent
    lock = threading.Lock()

    def sent(params: dict[str, Any], **_: Any) -> None:
        at = time.monotonic()
        for entry in params.get("TransactItems", []):
            put = entry.get("Put")
            if put and str(put["Item"]["sk"]["S"]).startswith("COMMISSION#"):
                with lock:
                    last_sent[str(deserialize(put["Item"])["order_id"])] = at

    committed_at: list[float] = []
    real_open = RiskCaseRepository.open

    def open_and_note(self: RiskCaseRepository, *args: Any, **kwargs: Any) -> None:
        real_open(self, *args, **kwargs)
        committed_at.append(time.monotonic())  # the hold's transaction has returned: it is committed

    monkeypatch.setattr(RiskCaseRepository, "open", open_and_note)
    opening = threading.Event()

    def credit(order_id: str) -> None:
        if order_id >= "o_08":  # the first eight are credited before; the rest race with the hold
            assert opening.wait(timeout=30)
        sync_order(CommissionRepositories.on(table), order_id=order_id, now=PAID)

    def open_midway() -> str:
        while len(records_of(table, RISKY)) < 8:
            time.sleep(0.005)
        opening.set()
        return open_case(table)

    events = table.client.meta.events
    events.register("before-parameter-build.dynamodb.TransactWriteItems", sent, unique_id="creation-sent")
    try:
        with ThreadPoolExecutor(max_workers=5) as pool:
            case = pool.submit(open_midway)
            list(pool.map(credit, orders))
            case_id = case.result()
    finally:
        events.unregister("before-parameter-build.dynamodb.TransactWriteItems", unique_id="creation-sent")
    by_order = {r.order_id: r for r in records_of(table, RISKY)}
    assert set(by_order) == set(orders)
    after = [o for o in orders if last_sent[o] > committed_at[0]]
    assert after, "no credit was sent after the hold committed: the race was not exercised"
    assert all(by_order[o].hold == case_id for o in after)
    assert in_step(table, RISKY)
    assert_reconciles(table)


# ---- withdrawals and prizes -----------------------------------------------------------------------


@pytest.fixture
def settled(world: tuple[Table, int]) -> Table:
    """RISKY with 10,000 fen available (settled before any case)."""
    table, version = world
    paid_order(table, "o_early", l1=RISKY, paid_fen=100_000, version=version)
    complete(table, "o_early")
    assert settle_due(SettlementRepositories.on(table), as_of=AFTER_DUE, now=AFTER_DUE).settled == 1
    assert wallet(table, RISKY).available == 10_000
    return table


@pytest.mark.parametrize("amount", [5_000, 50_000])  # within the balance, and over it
def test_a_withdrawal_whose_read_missed_the_hold_is_refused_as_a_risk_hold(
        settled: Table, monkeypatch: pytest.MonkeyPatch, amount: int) -> None:
    table = settled
    open_case(table)
    real_facts = WithdrawalRepository.request_facts

    def stale_facts(self: WithdrawalRepository, *args: Any, **kwargs: Any) -> Any:
        # Read just before the hold opened (and, for the larger amount, before a withdrawal took the
        # balance it shows): only the transaction can refuse, and both its conditions fail.
        facts = real_facts(self, *args, **kwargs)
        shown = replace(facts.wallet, balances=replace(facts.wallet.balances, available=100_000))
        return replace(facts, risk_held=False, wallet=shown)

    monkeypatch.setattr(WithdrawalRepository, "request_facts", stale_facts)
    with pytest.raises(Conflict) as refused:
        withdraw(table, RISKY, amount, AFTER_DUE)
    assert refused.value.code == "risk_hold"
    assert wallet(table, RISKY).available == 10_000 and wallet(table, RISKY).withdrawing == 0


def test_a_withdrawal_without_a_hold_goes_through(settled: Table) -> None:
    view = withdraw(settled, RISKY, 5_000, AFTER_DUE)
    assert view is not None and wallet(settled, RISKY).withdrawing == 5_000


def test_a_prize_paid_past_a_hold_is_refused_and_paid_once_it_is_lifted(world: tuple[Table, int]) -> None:
    table, _ = world
    prizes = PrizeRepository(table)
    award = Award(prize_id="pz_2026-10_01", month="2026-10", rank=1, promoter_id=RISKY, measure="sales_fen",
                  score_fen=900_000, amount_fen=20_000, status=PRIZE_PAID, settings_version=1,
                  created_at=iso(AFTER_DUE), paid_at=iso(AFTER_DUE))

    def pay() -> bool:
        current = prizes.wallet(RISKY)
        postings = L.prize_paid(balances=current.balances, promoter_id=RISKY, prize_id=award.prize_id,
                                amount_fen=award.amount_fen, at=AFTER_DUE, ref={"prize_id": award.prize_id}, memo="")
        return prizes.pay(award, postings, wallet=current, now=AFTER_DUE)

    case_id = open_case(table)
    with pytest.raises(LedgerRefused):
        pay()
    assert wallet(table, RISKY) == L.Balances()
    risk.release_case(repos=risk.RiskRepositories.on(table), case_id=case_id, by="admin:a", note="ok", now=AFTER_DUE)
    assert pay() is True and wallet(table, RISKY).available == 20_000
    assert_reconciles(table)


def test_a_batch_credits_a_held_promoters_orders_together_and_keeps_apart_orders_read_otherwise(
        world: tuple[Table, int], monkeypatch: pytest.MonkeyPatch) -> None:
    table, version = world
    case_id = open_case(table)
    for order_id in ("o_1", "o_2", "o_3"):
        unsynced_order(table, order_id, version=version)
    real_get_many = RiskHoldRepository.get_many
    reads: list[int] = []

    def first_read_stale(self: RiskHoldRepository, uids: Any, **kwargs: Any) -> dict[str, dict[str, Any]]:
        reads.append(1)
        return {} if len(reads) == 1 else real_get_many(self, uids, **kwargs)  # o_1 decided before the hold opened

    monkeypatch.setattr(RiskHoldRepository, "get_many", first_read_stale)
    report = credit_orders(CommissionRepositories.on(table), order_ids=["o_1", "o_2", "o_3"], now=PAID)
    # o_1 (read as not held) cannot share a transaction with o_2 and o_3 (read as held): alone, the
    # hold refuses it; the other two are credited together, held.
    assert (report.transactions, report.refused, sorted(report.credited)) == (1, 1, ["o_2", "o_3"])
    monkeypatch.setattr(RiskHoldRepository, "get_many", real_get_many)
    assert sync_order(CommissionRepositories.on(table), order_id="o_1", now=PAID).created == 1
    assert {r.order_id: r.hold for r in records_of(table, RISKY)} == dict.fromkeys(("o_1", "o_2", "o_3"), case_id)
    assert_reconciles(table)


def test_a_withdrawal_request_decides_the_hold_from_the_wallet_it_reads_anyway(
        settled: Table, world: tuple[Table, int], monkeypatch: pytest.MonkeyPatch) -> None:
    """The read refuses a held promoter before any transaction (from the wallet's flag; from the hold
    item while ``RISK_HOLD_ITEM_CHECKS=1``): the hold item costs no read unit once every flag is written."""
    table = settled
    items_mode = os.environ.get("RISK_HOLD_ITEM_CHECKS") == "1"
    free = read_units(table, lambda: withdraw(table, RISKY, 5_000, AFTER_DUE))
    assert ("USER#/RISK_HOLD" in free["rcu_by_item_kind"]) is items_mode
    open_case(table)
    transactions: list[Any] = []
    real_transact = Table.transact
    monkeypatch.setattr(Table, "transact", lambda self, writes, *a, **k: (
        transactions.append(writes), real_transact(self, writes, *a, **k))[1])
    with pytest.raises(Conflict) as refused:
        withdraw(table, RISKY, 5_000, AFTER_DUE)
    assert refused.value.code == "risk_hold" and transactions == []
    assert wallet(table, RISKY).withdrawing == 5_000
