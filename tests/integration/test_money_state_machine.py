"""The stateful property test of the money paths: random sequences of orders, payments, duplicate and
late commission syncs, completions, settlements, withdrawals and partial / full refunds, on
DynamoDB Local, driving the real ``mall.services.commissions.sync_order`` and
``mall.services.settlement.settle_due``.

After every step:
- the ledger balances: each wallet == Σ of its promoter's posting legs, each merchant account ==
  Σ of its legs, and Σ of everything == 0;
- no account below zero (debt ≤ 0 by design);
- paid commission == expected: per record, ``current_fen`` == the amount computed here from first
  principles (base, rates, cap, refunds — without the production calculator); per promoter,
  frozen == Σ of their FROZEN records, available + withdrawing + withdrawn + debt == Σ of their
  SETTLED records, so the whole wallet == Σ ``current_fen`` == the expected amount.

The model: a two-level chain (``u_top`` ← ``u_mid`` ← buyers), orders attributed to (mid, top)
or (top, none). A sync may be left for later (the order stream is at-least-once and late): the
expectation then follows the order as the last sync saw it, so settling before a refund's sync
and clawing back after it is exercised too.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from mall.clock import iso
from mall.dal.commissions import CommissionRepository, commission_from_item
from mall.dal.ledger import LedgerRepository
from mall.dal.referral import PromoterRepository
from mall.dal.table import Table
from mall.domain import ledger as L
from mall.domain.commission_records import CommissionRecord, CommissionStatus
from mall.domain.referral import Promoter
from tests.integration.sim.oracle import after_refunds, empty, line_commission

pytestmark = pytest.mark.integration

TOP, MID = "u_top", "u_mid"
PROMOTERS = (TOP, MID)
START = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)
SETTLEMENT_DAYS = 7  # the default settings (version 0)
GLOBAL_L1_BP, GLOBAL_L2_BP, CAP_BP = 1000, 500, 3000
MAX_ORDERS = 5

#: Product commission settings as order lines snapshot them: (mode, l1, l2, distribution_enabled).
PRODUCTS: tuple[tuple[str, int, int, bool], ...] = (
    ("inherit", 0, 0, True),  # global 10% / 5%
    ("ratio", 2000, 800, True),  # 28%
    ("ratio", 2500, 1000, True),  # 35% > the 30% cap: L2 clamped
    ("fixed", 300, 120, True),  # fen per unit: capped on cheap lines
    ("ratio", 1500, 500, False),  # not in distribution
)


@dataclass
class LineModel:
    line_id: str
    product: int
    quantity: int
    paid_fen: int
    refunded_fen: int = 0


@dataclass
class OrderModel:
    order_id: str
    buyer_id: str
    l1: str | None
    l2: str | None
    lines: list[LineModel]
    status: str = "CREATED"
    paid_at: datetime | None = None
    completed_at: datetime | None = None
    #: The lines (with their refunds) as the last sync of the paid order read them.
    synced: list[LineModel] | None = None
    dirty: bool = False


# ---- first principles (independent of mall.domain.commission) -------------------------------------


def line_amounts(line: LineModel) -> tuple[int, int]:
    """(L1, L2) fen on a line when paid: floor(base × rate), fixed × quantity, L1 + L2 ≤ 30% with L2
    clamped first (``tests.integration.sim.oracle``, shared with the money conservation simulator)."""
    mode, l1, l2, enabled = PRODUCTS[line.product]
    return line_commission(base_fen=line.paid_fen, quantity=line.quantity, mode=mode, l1=l1, l2=l2, enabled=enabled,
                           fallback_bp=(GLOBAL_L1_BP, GLOBAL_L2_BP), cap_bp=CAP_BP)


def expected_records(order: OrderModel) -> dict[tuple[str, int], tuple[str, int]]:
    """(line_id, level) → (beneficiary, current fen) for the order as its last sync saw it."""
    if order.synced is None:
        return {}
    found: dict[tuple[str, int], tuple[str, int]] = {}
    for line in order.synced:
        amounts = line_amounts(line)
        for level, who in ((1, order.l1), (2, order.l2)):
            amount = amounts[level - 1]
            if who is None or amount <= 0:
                continue  # no record at all
            found[(line.line_id, level)] = (who, after_refunds(amount, line.paid_fen, line.refunded_fen))
    return found


# ---- the machine --------------------------------------------------------------------------------


line_strategy = st.builds(
    lambda product, quantity, paid: (product, quantity, paid),
    st.integers(0, len(PRODUCTS) - 1), st.integers(1, 3), st.integers(1, 30_000))


class MoneyMachine(RuleBasedStateMachine):
    def __init__(self, table: Table) -> None:
        super().__init__()
        from mall.services.commissions import CommissionRepositories, sync_order
        from mall.services.settlement import SettlementRepositories, settle_due

        self._sync_order = sync_order
        self._settle_due = settle_due
        self.table = table
        self._settlement = SettlementRepositories.on(table)
        self._commissions = CommissionRepositories.on(table)
        empty(table)  # one table for the whole test (creating one costs ~0.4 s): each example starts empty
        self.ledger = LedgerRepository(self.table)
        self.commissions = CommissionRepository(self.table)
        self.clock = START
        self.model: dict[str, OrderModel] = {}
        self.withdrawals = 0
        self.last_settled_at: datetime | None = None
        for uid in PROMOTERS:
            PromoterRepository(self.table).create(
                Promoter(user_id=uid, code=f"C{uid[2:].upper()}", status="active", level_id="basic",
                         applied_at=START, activated_at=START),
                grant_role=False, replaces_rejected=False, now=START, reserve_code=True)

    # ---- helpers ----

    def tick(self, minutes: int = 7) -> datetime:
        self.clock += timedelta(minutes=minutes)
        return self.clock

    def write_order(self, order: OrderModel) -> None:
        lines = []
        for line in order.lines:
            mode, l1, l2, enabled = PRODUCTS[line.product]
            lines.append({"line_id": line.line_id, "product_id": f"p_{line.product}", "name": f"商品{line.product}",
                          "type": "physical", "category_id": None, "quantity": line.quantity,
                          "unit_price_fen": max(line.paid_fen // line.quantity, 1), "paid_fen": line.paid_fen,
                          "commission": {"mode": mode, "l1": l1, "l2": l2}, "distribution_enabled": enabled,
                          "refunded_fen": line.refunded_fen})
        goods = sum(line.paid_fen for line in order.lines)
        item: dict[str, Any] = {
            "pk": f"ORDER#{order.order_id}", "sk": "ORDER", "entity": "order", "order_id": order.order_id,
            "buyer_id": order.buyer_id, "status": order.status, "amount_fen": goods, "goods_fen": goods,
            "shipping_fen": 0, "discount_fen": 0, "lines": lines,
            "attribution": {"l1_promoter_id": order.l1, "l2_promoter_id": order.l2, "settings_version": 0,
                            "basis": "binding", "self_purchase": False},
            "created_at": iso(START), "version": 1,
        }
        if order.paid_at:
            item["paid_at"] = iso(order.paid_at)
        if order.completed_at:
            item["completed_at"] = iso(order.completed_at)
            item["completed_by"] = "buyer"
        self.table.put(item)

    def sync(self, order: OrderModel, *, copies: int = 1) -> None:
        """``copies`` > 1: that many syncs at once (a redelivered stream record)."""
        seen = [replace(line) for line in order.lines]
        if copies == 1:
            self._sync_order(self._commissions, order_id=order.order_id, now=self.tick(1))
        else:
            now = self.tick(1)
            errors: list[BaseException] = []

            def run() -> None:
                try:
                    self._sync_order(self._commissions, order_id=order.order_id, now=now)
                except BaseException as exc:  # re-raised below, in the test's thread
                    errors.append(exc)

            threads = [threading.Thread(target=run) for _ in range(copies)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            if errors:
                raise errors[0]
        if order.paid_at is not None:
            order.synced = seen
        order.dirty = False

    # ---- rules ----
    # Rules pick among the orders they apply to (``pick`` indexes that list), and preconditions keep
    # hypothesis from spending steps on no-ops: most steps then move money.

    def _with_status(self, *statuses: str) -> list[OrderModel]:
        return [o for o in self.model.values() if o.status in statuses]

    def _refundable(self) -> list[OrderModel]:
        return [o for o in self._with_status("PAID", "COMPLETED")
                if any(li.refunded_fen < li.paid_fen for li in o.lines)]

    @precondition(lambda self: len(self.model) < MAX_ORDERS)
    @rule(lines=st.lists(line_strategy, min_size=1, max_size=3), chain=st.sampled_from([(MID, TOP), (TOP, None)]),
          buyer=st.sampled_from(["u_b1", "u_b2", "u_b3"]))
    def place_order(self, lines: list[tuple[int, int, int]], chain: tuple[str, str | None], buyer: str) -> None:
        order_id = f"o_{len(self.model) + 1:03d}"
        order = OrderModel(order_id=order_id, buyer_id=buyer, l1=chain[0], l2=chain[1],
                           lines=[LineModel(str(i + 1), p, q, paid) for i, (p, q, paid) in enumerate(lines)])
        self.model[order_id] = order
        self.write_order(order)
        self.sync(order)  # an unpaid order earns nothing

    @precondition(lambda self: bool(self._with_status("CREATED")))
    @rule(pick=st.integers(0, 99), sync_now=st.booleans())
    def pay(self, pick: int, sync_now: bool) -> None:
        candidates = self._with_status("CREATED")
        order = candidates[pick % len(candidates)]
        order.status, order.paid_at = "PAID", self.tick()
        self.write_order(order)
        order.dirty = True
        if sync_now:
            self.sync(order)

    @precondition(lambda self: bool(self.model))
    @rule(pick=st.integers(0, 99), copies=st.integers(1, 3))
    def duplicate_sync(self, pick: int, copies: int) -> None:
        candidates = list(self.model.values())
        order = candidates[pick % len(candidates)]
        self.sync(order)
        self.sync(order, copies=copies)

    @precondition(lambda self: bool(self._with_status("PAID")))
    @rule(pick=st.integers(0, 99), sync_now=st.booleans())
    def complete(self, pick: int, sync_now: bool) -> None:
        candidates = self._with_status("PAID")
        order = candidates[pick % len(candidates)]
        order.status, order.completed_at = "COMPLETED", self.tick()
        self.write_order(order)
        order.dirty = True
        if sync_now:
            self.sync(order)

    @precondition(lambda self: bool(self._refundable()))
    @rule(pick=st.integers(0, 99), which=st.integers(0, 2), percent=st.sampled_from([1, 10, 33, 50, 100]),
          sync_now=st.booleans())
    def refund(self, pick: int, which: int, percent: int, sync_now: bool) -> None:
        candidates = self._refundable()
        order = candidates[pick % len(candidates)]
        open_lines = [li for li in order.lines if li.refunded_fen < li.paid_fen]
        line = open_lines[which % len(open_lines)]
        refundable = line.paid_fen - line.refunded_fen
        line.refunded_fen += max(refundable * percent // 100, 1)
        self.tick()
        self.write_order(order)
        order.dirty = True
        if sync_now:
            self.sync(order)

    @precondition(lambda self: any(o.dirty for o in self.model.values()))
    @rule()
    def sync_late(self) -> None:
        """The late stream records arrive."""
        for order in self.model.values():
            if order.dirty:
                self.sync(order)

    @rule(days=st.sampled_from([1, 8]))
    def settle(self, days: int) -> None:
        as_of = self.tick(days * 24 * 60)
        self._settle_due(self._settlement, as_of=as_of, now=as_of)
        self.last_settled_at = as_of

    @rule(who=st.sampled_from(PROMOTERS), percent=st.sampled_from([30, 100, 100]), paid=st.booleans())
    def withdraw(self, who: str, percent: int, paid: bool) -> None:
        available = self.ledger.wallet(who).balances.available
        amount = available * percent // 100
        if amount <= 0:
            return
        self.withdrawals += 1
        wid = f"w_{self.withdrawals:03d}"
        self.ledger.post([L.withdrawal_held(promoter_id=who, withdrawal_id=wid, amount_fen=amount, at=self.tick())])
        if paid:
            self.ledger.post([L.withdrawal_paid(promoter_id=who, withdrawal_id=wid, amount_fen=amount, fee_fen=0,
                                                at=self.tick())])

    # ---- the invariant (one method: each read is shared by every check) ----

    def records(self, uid: str) -> list[CommissionRecord]:
        found: list[CommissionRecord] = []
        start: dict[str, Any] | None = None
        while True:
            page = self.commissions.for_beneficiary(uid, limit=100, start_key=start)
            found += [commission_from_item(item) for item in page.items]
            if page.last_key is None:
                return found
            start = page.last_key

    @invariant()
    def money_is_right(self) -> None:
        wallets = {uid: self.ledger.wallet(uid).balances for uid in PROMOTERS}
        self.check_ledger(wallets)
        self.check_commission(wallets)

    def check_ledger(self, wallets: dict[str, L.Balances]) -> None:
        # 1. The ledger balances: wallets == Σ legs; merchant accounts == Σ legs; Σ everything == 0.
        merchant_legs: dict[str, int] = {}
        for uid, balances in wallets.items():
            legs = L.sum_legs(self.ledger.all_postings(uid))
            for account in L.Account:
                assert balances.get(account.value) == legs.get(account.value, 0), (uid, account, balances, legs)
            for merchant_account in L.MerchantAccount:
                merchant_legs[merchant_account.value] = (merchant_legs.get(merchant_account.value, 0)
                                                         + legs.get(merchant_account.value, 0))
            # 2. No account below zero; debt only ever ≤ 0.
            for account in L.Account:
                value = balances.get(account.value)
                assert (value <= 0) if account == L.Account.DEBT else (value >= 0), (uid, account, value)
        merchant = self.ledger.merchant_balances()
        assert merchant == {a.value: merchant_legs.get(a.value, 0) for a in L.MerchantAccount}
        assert sum(sum(b.as_dict().values()) for b in wallets.values()) + sum(merchant.values()) == 0

    def check_commission(self, wallets: dict[str, L.Balances]) -> None:
        # 3. Paid commission == expected from first principles, record by record and per promoter.
        expected: dict[tuple[str, str, int], tuple[str, int]] = {}
        for order in self.model.values():
            for (line_id, level), value in expected_records(order).items():
                expected[(order.order_id, line_id, level)] = value
        stored = {(r.order_id, r.line_id, int(r.level)): r for uid in PROMOTERS for r in self.records(uid)}
        assert set(stored) == set(expected), (sorted(stored), sorted(expected))
        expected_total = dict.fromkeys(PROMOTERS, 0)
        frozen = dict.fromkeys(PROMOTERS, 0)
        settled = dict.fromkeys(PROMOTERS, 0)
        for key, (who, amount) in expected.items():
            record = stored[key]
            assert record.beneficiary_id == who
            assert record.current_fen == amount, (key, record, amount)
            assert record.current_fen >= 0 and record.cancelled_fen >= 0 and record.clawed_back_fen >= 0
            expected_total[who] += amount
            if record.status == CommissionStatus.FROZEN:
                frozen[who] += record.current_fen
            elif record.status == CommissionStatus.SETTLED:
                settled[who] += record.current_fen
                assert record.due_at is not None and self.last_settled_at is not None
                assert record.due_at <= self.last_settled_at
            else:
                assert record.current_fen == 0
            if record.clawed_back_fen:
                event("a settled commission was clawed back")
            if record.cancelled_fen:
                event("a frozen commission was cancelled")
        for uid, b in wallets.items():
            assert b.frozen == frozen[uid], (uid, b, frozen[uid])
            assert b.available + b.withdrawing + b.withdrawn + b.debt == settled[uid], (uid, b, settled[uid])
            assert b.frozen + b.available + b.withdrawing + b.withdrawn + b.debt == expected_total[uid]
            if b.debt < 0:
                event("a promoter owed a debt")
            if settled[uid]:
                event("commission settled")


def test_money_state_machine(table: Table) -> None:
    def factory() -> MoneyMachine:
        return MoneyMachine(table)  # a fresh machine per example, on the one table (emptied)

    run_state_machine_as_test(
        cast(Any, factory),
        settings=settings(max_examples=12, stateful_step_count=30, deadline=None, database=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]))


def test_first_principles_cap_clamps_level_two_first() -> None:
    # 35% wanted on 10,000 fen: L1 2,500 in full, L2 only what the 30% cap leaves.
    assert line_amounts(LineModel("1", 2, 1, 10_000)) == (2_500, 500)
    assert line_amounts(LineModel("1", 3, 2, 1_000)) == (300, 0)  # fixed 600 + 240 wanted, cap 300
    assert line_amounts(LineModel("1", 4, 1, 10_000)) == (0, 0)
    assert after_refunds(1_000, 3_000, 1_000) == 666 and after_refunds(1_000, 3_000, 3_000) == 0
    # A record whose order the sync never saw paid is expected nowhere.
    assert expected_records(OrderModel("o", "b", MID, TOP, [LineModel("1", 0, 1, 100)])) == {}
