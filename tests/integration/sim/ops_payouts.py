"""The simulator's withdrawal and payout operations: requests (concurrent too), reviews, transfer bills
created and finished at WeChat Pay, bank transfers marked, the payout reconciler (mixed into
``simulator.Simulator``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from mall.dal.ledger import LedgerRepository
from mall.dal.payouts import PayoutRepository
from mall.dal.settings import SettingsRepository
from mall.dal.withdrawals import WithdrawalRepository
from mall.domain.tokens import Role
from mall.schemas.withdrawals import WithdrawalRequest
from mall.services.payouts.bank import mark_bank_failed, mark_bank_paid
from mall.services.payouts.gateway import Transfers
from mall.services.payouts.reconcile import reconcile_payouts
from mall.services.payouts.start import start_payout
from mall.services.withdrawals.request import request_withdrawal
from mall.services.withdrawals.review import approve_withdrawal, reject_withdrawal
from tests.integration.sim.model import ADMINS, BANK, MWithdrawal, Op, Result
from tests.integration.sim.world import NOTIFY_URL, PROFILE

if TYPE_CHECKING:
    from tests.integration.sim.simulator import Simulator


class PayoutOps:
    """Withdrawals, their reviews, and the payouts that carry them out."""

    # ---- operations: withdrawals and payouts -------------------------------------------------------

    def op_withdraw(self: Simulator) -> Op | None:
        free = [p for p in self.promoters if self._free(f"promoter:{p}")]
        if not free:
            return None
        ledger = LedgerRepository(self.table)
        if not self.withdrawals:
            # Until a first withdrawal exists, ask with the richest wallet: a run whose settlements came
            # late would otherwise draw only empty wallets and never move money out.
            promoter = max(free, key=lambda p: (ledger.wallet(p).balances.available, p))
        else:
            promoter = self._pick(free)
        if promoter is None:
            return None
        balances = ledger.wallet(promoter).balances
        available = balances.available
        if balances.debt < 0:
            self.stats["debt seen (a promoter owed, when withdrawing)"] += 1
        if available < 100 and self.rng.random() < 0.8:
            return None
        method = "bank" if self.rng.random() < 0.2 else "wechat"
        roll = self.rng.random()
        if roll < 0.2:  # concurrent requests that cannot all fit
            amounts = [max(100, available * 6 // 10)] * self.rng.choice([2, 3])
        elif roll < 0.3:
            amounts = [available + self.rng.randint(1, 500)]  # more than there is
        elif roll < 0.45 and available >= 20_000:
            amounts = [self.rng.randint(20_000, min(available, 150_000))]  # reviewed (one or two admins)
        else:
            amounts = [self.rng.randint(100, max(100, min(available, 19_999)))]
        now = self.clock.now

        def call(amount: int) -> Callable[[], Any]:
            body = WithdrawalRequest(amount_fen=amount, method=method, bank=BANK if method == "bank" else None)  # type: ignore[arg-type]
            return lambda: request_withdrawal(withdrawals=WithdrawalRepository(self.table),
                                              settings=SettingsRepository(self.table), promoter_id=promoter, body=body,
                                              now=now, queue=self.payout_queue)

        def apply(results: list[Result]) -> None:
            for r in results:
                if r.kind == "ok":
                    view = r.value
                    self.withdrawals[view.withdrawal_id] = MWithdrawal(
                        view.withdrawal_id, promoter, method, view.amount_fen, view.status.value,
                        out_bill_no=view.out_bill_no or "", required_approvals=view.required_approvals)

        name = f"withdraw {method}" + (f" x{len(amounts)} concurrent" if len(amounts) > 1 else "")
        return Op(name, [call(a) for a in amounts], apply, frozenset({f"promoter:{promoter}"}))

    def _withdrawal_candidates(self: Simulator, *statuses: str, method: str | None = None) -> list[MWithdrawal]:
        return [w for w in self.withdrawals.values() if w.status in statuses and (method is None or w.method == method)
                and self._free(f"withdrawal:{w.withdrawal_id}")]

    def op_withdraw_review(self: Simulator) -> Op | None:
        w = self._pick(self._withdrawal_candidates("PENDING_REVIEW"))
        if w is None:
            return None
        now = self.clock.now
        if self.rng.random() < 0.2:
            calls = [lambda: reject_withdrawal(withdrawals=WithdrawalRepository(self.table),
                                               withdrawal_id=w.withdrawal_id, admin=ADMINS[1], reason="资料不全",
                                               now=now, source_ip=None)]
            name = "withdrawal_reject"
        else:
            admin = ADMINS[w.approvals % 2]  # the second approval comes from the other admin
            calls = [lambda: approve_withdrawal(withdrawals=WithdrawalRepository(self.table),
                                                withdrawal_id=w.withdrawal_id, admin=admin, now=now, source_ip=None,
                                                queue=self.payout_queue, roles={Role.FINANCE})]
            name = "withdrawal_approve"
        return Op(name, calls, lambda results: self._touched_withdrawals.add(w.withdrawal_id),
                  frozenset({f"withdrawal:{w.withdrawal_id}"}))

    def op_payout_start(self: Simulator) -> Op | None:
        """The payout worker: an APPROVED withdrawal, or a PAYING one whose bill WeChat Pay never got."""
        bills = self.world.sandbox.snapshot()["bills"]
        w = self._pick(self._withdrawal_candidates("APPROVED", method="wechat") + [
            m for m in self._withdrawal_candidates("PAYING") if m.out_bill_no not in bills])
        if w is None:
            return None
        now = self.clock.now
        copies = 2 if self.rng.random() < 0.2 else 1  # the payout queue redelivers
        return Op("payout_start" + (" x2 concurrent" if copies > 1 else ""), [lambda: start_payout(
            payouts=PayoutRepository(self.table), withdrawal_id=w.withdrawal_id, now=now,
            transfers=Transfers(pay=self.world.pay_client, notify_url=NOTIFY_URL, profile=PROFILE))] * copies,
            lambda results: self._touched_withdrawals.add(w.withdrawal_id),
            frozenset({f"withdrawal:{w.withdrawal_id}"}))

    def op_payout_finish(self: Simulator) -> Op | None:
        """The promoter confirms the transfer (SUCCESS), or it fails / is cancelled unconfirmed."""
        bills = self.world.sandbox.snapshot()["bills"]
        candidates = [w for w in self._withdrawal_candidates("PAYING") if not w.pending
                      and bills.get(w.out_bill_no, {}).get("state") in {"WAIT_USER_CONFIRM", "ACCEPTED", "PROCESSING"}]
        w = self._pick(candidates)
        if w is None:
            return None
        state = self.rng.choices(["SUCCESS", "FAIL", "CANCELLED"], weights=[7, 2, 1])[0]
        event = self.world.sandbox.finish_transfer(w.out_bill_no, state=state)
        w.note = self.world.notification(event)
        copies = self.rng.choices([0, 1, 2], weights=[2, 6, 2])[0]
        w.pending = copies == 0
        return self._deliveries(f"transfer {state}", w.note, copies, withdrawal=w)

    def op_bank_mark(self: Simulator) -> Op | None:
        w = self._pick(self._withdrawal_candidates("APPROVED", method="bank"))
        if w is None:
            return None
        now = self.clock.now
        if self.rng.random() < 0.8:
            call: Callable[[], Any] = lambda: mark_bank_paid(  # noqa: E731
                payouts=PayoutRepository(self.table), withdrawal_id=w.withdrawal_id,
                reference=f"BANK{w.withdrawal_id[-8:]}", admin=ADMINS[0], now=now)
            name = "bank mark_paid"
        else:
            call = lambda: mark_bank_failed(  # noqa: E731
                payouts=PayoutRepository(self.table), withdrawal_id=w.withdrawal_id, reason="账户名不符",
                admin=ADMINS[0], now=now)
            name = "bank mark_failed"
        return Op(name, [call], lambda results: self._touched_withdrawals.add(w.withdrawal_id),
                  frozenset({f"withdrawal:{w.withdrawal_id}"}))

    def op_payout_reconcile(self: Simulator) -> Op | None:
        now = self.clock.now

        def apply(results: list[Result]) -> None:
            self._touch_all_open_withdrawals()

        return Op("payout reconcile job", [lambda: reconcile_payouts(
            payouts=PayoutRepository(self.table), now=now, stuck_after=timedelta(minutes=30),
            transfers=Transfers(pay=self.world.pay_client, notify_url=NOTIFY_URL, profile=PROFILE))], apply,
            frozenset({"job:payout_reconcile"}))
