"""A debt and the withdrawals of the promoter who owes it, on DynamoDB Local.

Returned funds (a rejection, a failed or cancelled transfer, a bank transfer marked failed) repay an
outstanding debt first, in the same transaction; a clawback that creates a debt cancels the
promoter's withdrawals in flight (a transfer bill not yet confirmed is cancelled at WeChat Pay, a
confirmed one is paid and the debt stays); approval and the payout worker check the debt in their
own transaction; and all of it holds when the clawback races the approval and the payout worker."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest

from mall.clock import utc_now
from mall.dal.ledger import LedgerRepository
from mall.dal.payouts import PayoutRepository
from mall.dal.settings import SettingsRepository
from mall.dal.table import Table
from mall.dal.withdrawals import WithdrawalRepository
from mall.domain import ledger as L
from mall.domain.notification_events import notifications_for
from mall.domain.notifications import NotificationSettings
from mall.domain.rules_disclosure import render
from mall.domain.settings import DistributionSettings
from mall.domain.tokens import Role
from mall.domain.withdrawals import CANCELLED_BY_DEBT, DEBT_CANCEL_REASON, Withdrawal, WithdrawalStatus
from mall.errors import Conflict
from mall.services.commissions import CommissionRepositories, sync_order
from mall.services.payouts.bank import mark_bank_failed
from mall.services.payouts.gateway import Transfers
from mall.services.payouts.reconcile import reconcile_payouts
from mall.services.settlement import SettlementRepositories, settle_due
from mall.services.withdrawals.review import approve_withdrawal, reject_withdrawal
from tests.integration.test_commission_sync import (
    COMPLETED,
    NOW,
    complete,
    line,
    put_order,
    save_settings,
    set_refunded,
)
from tests.integration.test_commission_sync import promoter as promoter_item
from tests.integration.test_orders_concurrency import NOTIFY_URL, race
from tests.integration.test_payouts_concurrency import Payouts
from tests.unit.test_payouts import approved_withdrawal, fund
from tests.unit.test_payouts import promoter as customer

pytestmark = pytest.mark.integration

SETTLED = COMPLETED + timedelta(days=7)


class Queue:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def send(self, body: dict[str, Any]) -> None:
        with self._lock:
            self.sent.append(dict(body))


@pytest.fixture
def world(table: Table, monkeypatch: pytest.MonkeyPatch) -> Payouts:
    monkeypatch.setenv("WECHATPAY_NOTIFY_URL", NOTIFY_URL)
    return Payouts(table)


def balances(table: Table, uid: str) -> L.Balances:
    return LedgerRepository(table).wallet(uid).balances


def reconciles(table: Table, uid: str) -> None:
    """The wallet is the sum of its postings' legs, and no money sits available while owed."""
    sums = L.sum_legs(LedgerRepository(table).all_postings(uid))
    wallet = balances(table, uid)
    assert {a.value: sums.get(a.value, 0) for a in L.Account} == wallet.as_dict()
    assert not (wallet.available > 0 and wallet.debt < 0), wallet


def kinds(table: Table, uid: str) -> Counter[str]:
    return Counter(p["kind"] for p in LedgerRepository(table).all_postings(uid))


def owe(table: Table, uid: str, amount_fen: int, step: str = "1") -> None:
    """A clawback of ``amount_fen`` recorded straight in the ledger (available first, the rest debt),
    without the commission worker: what any clawback leaves behind, withdrawals untouched."""
    ledger = LedgerRepository(table)
    wallet = ledger.wallet(uid)
    ledger.post([L.commission_clawed_back(balances=wallet.balances, promoter_id=uid, commission_id=f"cm_debt{step}",
                                          amount_fen=amount_fen, at=utc_now(), ref={}, step=step)],
                expect={uid: wallet})


def pending(table: Table, uid: str, amount_fen: int, *, method: str = "wechat") -> Withdrawal:
    return approved_withdrawal(table, uid, amount_fen=amount_fen, fee_fen=0, method=method,
                               status=WithdrawalStatus.PENDING_REVIEW)


def status(table: Table, withdrawal_id: str) -> dict[str, Any]:
    w = WithdrawalRepository(table).get(withdrawal_id)
    assert w is not None
    return {"status": w.status.value, "reason": w.reason, "fail_reason": w.fail_reason,
            "cancel_reason": w.cancel_reason}


# ---- 1. returned funds repay the debt first ---------------------------------------------------


def test_a_rejected_withdrawal_repays_the_debt_first_and_only_the_rest_becomes_available(world: Payouts) -> None:
    table = world.table
    uid = customer(table)
    w = pending(table, uid, 8_000)
    fund(table, uid, 2_000)
    owe(table, uid, 5_000)  # 2,000 from available, 3,000 owed
    assert balances(table, uid) == L.Balances(withdrawing=8_000, debt=-3_000)
    reject_withdrawal(withdrawals=WithdrawalRepository(table), withdrawal_id=w.withdrawal_id, admin="a_1",
                      reason="资料不全", now=utc_now(),
                      source_ip=None)
    assert balances(table, uid) == L.Balances(available=5_000, debt=0)
    repaid = [p for p in LedgerRepository(table).all_postings(uid) if p["kind"] == "debt_repaid"]
    assert len(repaid) == 1 and repaid[0]["amount_fen"] == 3_000 and repaid[0]["ref"] == {
        "withdrawal_id": w.withdrawal_id}
    reconciles(table, uid)


@pytest.mark.parametrize("state", ["FAIL", "CANCELLED"])
def test_a_failed_or_cancelled_transfer_repays_the_debt_first(world: Payouts, state: str) -> None:
    table = world.table
    uid = customer(table)
    w = approved_withdrawal(table, uid, amount_fen=6_000, fee_fen=0)
    assert world.start(w.withdrawal_id) == "bill_created"
    owe(table, uid, 10_000)  # nothing available: all of it owed
    event = world.sandbox.finish_transfer(w.out_bill_no, state=state)
    assert world.deliver(event.headers, event.body).status == 204
    assert status(table, w.withdrawal_id)["status"] == "FAILED"
    assert balances(table, uid) == L.Balances(available=0, debt=-4_000)  # all 6,000 went to the debt
    assert kinds(table, uid)["debt_repaid"] == 1
    reconciles(table, uid)


def test_a_bank_transfer_marked_failed_repays_the_debt_first(world: Payouts) -> None:
    table = world.table
    uid = customer(table)
    w = approved_withdrawal(table, uid, amount_fen=5_000, fee_fen=0, method="bank")
    owe(table, uid, 1_500)
    mark_bank_failed(payouts=PayoutRepository(table), withdrawal_id=w.withdrawal_id, reason="户名不符", admin="a_1",
                     now=utc_now())
    assert balances(table, uid) == L.Balances(available=3_500, debt=0)
    reconciles(table, uid)


def test_returns_racing_clawbacks_never_leave_money_available_while_owed(world: Payouts) -> None:
    """Eight rejections and eight clawbacks at once: however they interleave, a return splits by the
    debt at its commit (the split is conditional on the debt it read)."""
    table = world.table
    uid = customer(table)
    requests = [pending(table, uid, 1_000) for _ in range(8)]
    owe(table, uid, 500, step="0")

    def work(i: int) -> object:
        if i % 2:
            return reject_withdrawal(withdrawals=WithdrawalRepository(table),
                                     withdrawal_id=requests[i // 2].withdrawal_id, admin="a_1",
                                     reason="r", now=utc_now(), source_ip=None).status
        for _ in range(20):  # a clawback computed from a wallet version retries when the wallet moved
            try:
                owe(table, uid, 700, step=f"c{i}")
                return "clawed"
            except Exception:  # noqa: S112 - a lost race on the wallet version: read again
                continue
        return "gave up"

    results = race(16, work)
    assert not [r for r in results if isinstance(r, BaseException) or r == "gave up"], results
    wallet = balances(table, uid)
    # 8,000 returned against 500 + 8 × 700 = 6,100 clawed back: whatever the order, 1,900 is left.
    assert wallet == L.Balances(available=1_900, debt=0)
    reconciles(table, uid)


# ---- 2. nothing leaves while a debt exists ----------------------------------------------------


def earn_and_settle(table: Table, uid: str, order_id: str) -> None:
    """1,200 of commission (12% of a 10,000 line) earned, settled and available."""
    put_order(table, order_id, [line("1", 10_000)], l1=uid, l2=None, version=table_version(table))
    sync_order(CommissionRepositories.on(table), order_id=order_id, now=NOW)
    complete(table, order_id)
    sync_order(CommissionRepositories.on(table), order_id=order_id, now=NOW)
    settle_due(SettlementRepositories.on(table), as_of=SETTLED, now=SETTLED)


def table_version(table: Table) -> int:

    current = SettingsRepository(table).current(consistent=True)
    if current.version:
        return current.version
    from mall.dal.catalog import CategoryRepository
    from mall.domain.catalog import Category

    CategoryRepository(table).create(Category(category_id="c_tea", name="茶", l1_rate_bp=1200, l2_rate_bp=600))
    return save_settings(table, settlement_days=7)


def promoter_with_commission(world: Payouts, order_id: str) -> str:
    uid = customer(world.table, code=order_id)
    promoter_item(world.table, uid)
    earn_and_settle(world.table, uid, order_id)
    assert balances(world.table, uid) == L.Balances(available=1_200)
    return uid


def refund(table: Table, order_id: str, queue: Queue) -> None:
    set_refunded(table, order_id, 0, 10_000)
    result = sync_order(CommissionRepositories.on(table),
                        order_id=order_id, now=SETTLED + timedelta(days=1), payouts=queue)
    assert result.clawed_back_fen == 1_200


def test_a_clawback_that_creates_a_debt_cancels_every_withdrawal_in_flight(world: Payouts) -> None:
    table = world.table
    uid = promoter_with_commission(world, "o_debt1")
    review = approved_withdrawal(table, uid, amount_fen=300, fee_fen=0, fund_first=False,
                                 status=WithdrawalStatus.PENDING_REVIEW)
    bank = approved_withdrawal(table, uid, amount_fen=300, fee_fen=0, method="bank", fund_first=False)
    queued = approved_withdrawal(table, uid, amount_fen=300, fee_fen=0, fund_first=False)
    paying = approved_withdrawal(table, uid, amount_fen=300, fee_fen=0, fund_first=False)
    assert world.start(paying.withdrawal_id) == "bill_created"
    assert balances(table, uid) == L.Balances(withdrawing=1_200)

    queue = Queue()
    refund(table, "o_debt1", queue)  # 1,200 clawed back, nothing available: a debt of 1,200
    assert status(table, review.withdrawal_id) == {"status": "REJECTED", "reason": DEBT_CANCEL_REASON,
                                                   "fail_reason": None, "cancel_reason": None}
    for w in (bank, queued):
        assert status(table, w.withdrawal_id)["status"] == "FAILED"
        assert status(table, w.withdrawal_id)["fail_reason"] == DEBT_CANCEL_REASON
    # The bill waiting for the promoter's confirmation: intent recorded, sent to the payout worker.
    assert status(table, paying.withdrawal_id)["status"] == "PAYING"
    assert status(table, paying.withdrawal_id)["cancel_reason"] == DEBT_CANCEL_REASON
    assert queue.sent == [{"withdrawal_id": paying.withdrawal_id}]
    assert balances(table, uid) == L.Balances(withdrawing=300, debt=-300)

    # A redelivered clawback changes nothing more.
    sync_order(CommissionRepositories.on(table), order_id="o_debt1", now=SETTLED + timedelta(days=2), payouts=queue)
    assert len(queue.sent) == 2 and balances(table, uid) == L.Balances(withdrawing=300, debt=-300)

    # The payout worker cancels the bill at WeChat Pay; the cancelled funds repay the rest.
    assert world.start(paying.withdrawal_id) == "failed"
    assert world.sandbox.snapshot()["bills"][paying.out_bill_no]["state"] == "CANCELLED"
    assert status(table, paying.withdrawal_id)["fail_reason"] == DEBT_CANCEL_REASON
    assert balances(table, uid) == L.Balances(available=0, debt=0)
    # The CANCELLED notification (sent in the background by the sandbox) arriving afterwards is a duplicate.
    for _ in range(100):
        if len(world.sender.sent) >= 1:
            break
        time.sleep(0.05)
    _, headers, body = world.sender.sent[-1]
    assert world.deliver(headers, body).outcome == "duplicate"
    assert kinds(table, uid)["withdrawal_returned"] == 4 and kinds(table, uid)["debt_repaid"] == 4
    reconciles(table, uid)


def test_the_promoter_is_told_why_the_withdrawal_was_cancelled(world: Payouts) -> None:
    table = world.table
    uid = promoter_with_commission(world, "o_debt2")
    w = approved_withdrawal(table, uid, amount_fen=1_000, fee_fen=0, fund_first=False)
    old = table.get({"pk": f"WITHDRAWAL#{w.withdrawal_id}", "sk": "WITHDRAWAL"}, consistent=True)
    refund(table, "o_debt2", Queue())
    new = table.get({"pk": f"WITHDRAWAL#{w.withdrawal_id}", "sk": "WITHDRAWAL"}, consistent=True)

    class Change:
        event_id = "ev1"

        def __init__(self) -> None:
            self.old, self.new = old, new

    template = NotificationSettings().withdrawal_status.model_copy(update={"enabled": True, "template_id": "tpl"})
    settings = NotificationSettings(withdrawal_status=template)
    [message] = notifications_for(Change(), settings)
    assert message.recipient_id == uid and "欠款" in message.data["thing3"]


def test_a_bill_the_promoter_confirmed_first_is_paid_and_the_debt_stays(world: Payouts) -> None:
    table = world.table
    uid = promoter_with_commission(world, "o_debt3")
    w = approved_withdrawal(table, uid, amount_fen=1_000, fee_fen=0, fund_first=False)
    assert world.start(w.withdrawal_id) == "bill_created"
    world.sandbox.confirm_transfer(w.out_bill_no)  # confirmed; its notification not yet handled
    queue = Queue()
    refund(table, "o_debt3", queue)
    assert status(table, w.withdrawal_id)["cancel_reason"] == DEBT_CANCEL_REASON
    assert world.start(w.withdrawal_id) == "paid"  # the cancel is refused: the bill is applied as it is
    assert status(table, w.withdrawal_id)["status"] == "PAID"
    assert balances(table, uid) == L.Balances(withdrawn=1_000, debt=-1_000)
    reconciles(table, uid)


def test_a_lost_send_is_recovered_by_the_reconciler(world: Payouts) -> None:
    table = world.table
    uid = promoter_with_commission(world, "o_debt4")
    w = approved_withdrawal(table, uid, amount_fen=1_200, fee_fen=0, fund_first=False, at=utc_now() - timedelta(
        hours=1))
    assert world.start(w.withdrawal_id) == "bill_created"
    refund(table, "o_debt4", Queue())  # its message to the payout worker is lost
    report = reconcile_payouts(payouts=PayoutRepository(table), now=utc_now(),
                               transfers=Transfers(pay=world.pay, notify_url=NOTIFY_URL),
                               stuck_after=timedelta(hours=2))
    assert report.failed == 1
    assert status(table, w.withdrawal_id)["status"] == "FAILED"
    assert balances(table, uid) == L.Balances()
    reconciles(table, uid)


def test_approval_checks_the_debt_in_its_own_transaction(world: Payouts) -> None:
    table = world.table
    uid = customer(table)
    w = pending(table, uid, 2_000)
    owe(table, uid, 500)  # a debt the clawback step never saw (the index lagged)
    with pytest.raises(Conflict) as refused:
        approve_withdrawal(withdrawals=WithdrawalRepository(table), withdrawal_id=w.withdrawal_id, admin="a_1",
                           now=utc_now(), source_ip=None,
                           queue=None, roles={Role.FINANCE})
    assert refused.value.code == "outstanding_debt"
    assert status(table, w.withdrawal_id)["status"] == "REJECTED"
    assert balances(table, uid) == L.Balances(available=1_500)
    reconciles(table, uid)


def test_the_payout_worker_checks_the_debt_in_its_own_transaction(world: Payouts) -> None:
    table = world.table
    uid = customer(table)
    w = approved_withdrawal(table, uid, amount_fen=2_000, fee_fen=0)
    owe(table, uid, 500)
    assert world.start(w.withdrawal_id) == "cancelled_for_debt"
    assert world.sandbox.snapshot()["bills"] == {}
    assert status(table, w.withdrawal_id) == {"status": "FAILED", "reason": None, "fail_reason": DEBT_CANCEL_REASON,
                                              "cancel_reason": None}
    assert balances(table, uid) == L.Balances(available=1_500)
    reconciles(table, uid)


@pytest.mark.parametrize("round_", range(4))
def test_a_clawback_racing_approval_and_payout_workers_lets_nothing_leave(world: Payouts, round_: int) -> None:
    """The clawback, an admin approving, and three payout workers at once. Whatever the order,
    once the payout worker has handled its messages no transfer can reach the promoter and every
    withdrawn fen repaid the debt."""
    table = world.table
    order_id = f"o_race{round_}"
    uid = promoter_with_commission(world, order_id)
    review = approved_withdrawal(table, uid, amount_fen=600, fee_fen=0, fund_first=False,
                                 status=WithdrawalStatus.PENDING_REVIEW)
    approved = approved_withdrawal(table, uid, amount_fen=600, fee_fen=0, fund_first=False)
    set_refunded(table, order_id, 0, 10_000)
    queue = Queue()

    def work(i: int) -> object:
        if i == 0:
            return sync_order(CommissionRepositories.on(table),
                              order_id=order_id, now=SETTLED + timedelta(days=1), payouts=queue).outcome
        if i == 1:
            return approve_withdrawal(withdrawals=WithdrawalRepository(table), withdrawal_id=review.withdrawal_id,
                                      admin="a_1", now=utc_now(),
                                      source_ip=None, queue=queue, roles={Role.FINANCE}).status
        return world.start(approved.withdrawal_id if i < 4 else review.withdrawal_id)

    results = race(6, work)
    assert not [r for r in results if isinstance(r, BaseException) and not isinstance(r, Conflict)], results
    for body in list(queue.sent):  # the payout worker handles what it was sent
        world.start(body["withdrawal_id"])
    for w in (review, approved):
        assert status(table, w.withdrawal_id)["status"] in {"REJECTED", "FAILED"}, status(table, w.withdrawal_id)
    bills = world.sandbox.snapshot()["bills"]
    assert all(bill["state"] == "CANCELLED" for bill in bills.values()), json.dumps(bills)
    assert balances(table, uid) == L.Balances()  # 1,200 withdrawn back, 1,200 debt repaid
    reconciles(table, uid)


# ---- the rules page says what happens -----------------------------------------------------------


def test_the_rules_page_states_the_returned_funds_and_in_flight_policy_that_is_applied(world: Payouts) -> None:
    items = {i.key: i for s in render(DistributionSettings(), version=1, effective_at=utc_now()).sections
             for i in s.items}
    hold, cancels = items["hold"], items["debt_cancels_withdrawals"]
    assert "全额退回" not in hold.text and "先抵扣欠款" in hold.text
    listed = {WithdrawalStatus(v) for v in str(cancels.value).split(",")}
    assert listed == set(CANCELLED_BY_DEBT)
    # Every status the page lists is cancelled by a debt; one it does not list (PAID) is not.
    table = world.table
    uid = customer(table)
    made = {s: approved_withdrawal(table, uid, amount_fen=100, fee_fen=0, status=s if s != WithdrawalStatus.PAYING
                                   else WithdrawalStatus.APPROVED) for s in listed}
    world.start(made[WithdrawalStatus.PAYING].withdrawal_id)
    paid = approved_withdrawal(table, uid, amount_fen=100, fee_fen=0)
    world.start(paid.withdrawal_id)
    event = world.sandbox.confirm_transfer(paid.out_bill_no)
    world.deliver(event.headers, event.body)
    owe(table, uid, 10_000)
    from mall.services.withdrawal_debt import cancel_withdrawals_for_debt

    report = cancel_withdrawals_for_debt(withdrawals=WithdrawalRepository(table), promoter_id=uid, now=utc_now())
    assert {WithdrawalRepository(table).get(i).status for i in report.cancelled + report.cancelling} \
        >= {WithdrawalStatus.REJECTED, WithdrawalStatus.FAILED}
    assert len(report.cancelled) + len(report.cancelling) == len(listed)
    assert status(table, paid.withdrawal_id)["status"] == "PAID"
    assert "待审核" in cancels.text and "审核通过" in cancels.text and "打款中" in cancels.text


# ---- the migration for wallets left owing by the old behaviour ------------------------------------


def test_the_migration_repays_debts_from_available_money_and_cancels_withdrawals_in_flight(world: Payouts) -> None:
    from tools.migrations import run
    from tools.migrations.repay_debt_from_available import MIGRATION

    table = world.table
    locked = customer(table, code="locked")  # a return before this change: 500 available, 300 owed
    fund(table, locked, 200)
    owe(table, locked, 500)
    fund(table, locked, 500)  # what the old return left available while the debt stayed
    assert balances(table, locked) == L.Balances(available=500, debt=-300)
    flying = customer(table, code="flying")  # owes more than is available, a withdrawal still approved
    w = approved_withdrawal(table, flying, amount_fen=400, fee_fen=0)
    fund(table, flying, 100)
    owe(table, flying, 1_100)  # 100 from available, 1,000 owed
    fund(table, flying, 100)
    clean = customer(table, code="clean")
    fund(table, clean, 700)
    confirming = customer(table, code="confirming")  # owes, its bill waits for the promoter's confirmation
    bill = approved_withdrawal(table, confirming, amount_fen=300, fee_fen=0)
    assert world.start(bill.withdrawal_id) == "bill_created"
    owe(table, confirming, 1_000)

    assert run(table, MIGRATION, dry_run=True).changed == 3
    assert balances(table, locked) == L.Balances(available=500, debt=-300)
    progress = run(table, MIGRATION, page_size=3)
    assert progress.changed == 3
    assert balances(table, locked) == L.Balances(available=200, debt=0)
    assert status(table, w.withdrawal_id)["status"] == "FAILED"
    assert balances(table, flying) == L.Balances(available=0, debt=-500)
    assert balances(table, clean) == L.Balances(available=700)
    assert status(table, bill.withdrawal_id)["cancel_reason"] == DEBT_CANCEL_REASON  # the reconciler cancels it
    for uid in (locked, flying, clean):
        reconciles(table, uid)
    assert run(table, MIGRATION, restart=True).changed == 0  # nothing more to do
