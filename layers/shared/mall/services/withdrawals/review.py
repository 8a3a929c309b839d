"""An admin's review of a withdrawal (提现审核): approve (one or two admins), reject, and reveal the
bank account of a bank withdrawal to pay it."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from aws_lambda_powertools import Logger

from mall.clock import iso
from mall.dal.audit import AuditEntry
from mall.dal.withdrawals import OwesDebt, StaleWithdrawal, WithdrawalRepository, bank_context
from mall.domain import withdrawals as rules
from mall.domain.money import yuan
from mall.domain.tokens import Role
from mall.domain.withdrawals import WithdrawalStatus
from mall.errors import Conflict, NotFound
from mall.integrations import pii_crypto
from mall.schemas.withdrawals import BankAccountReveal, WithdrawalView
from mall.services.withdrawal_debt import PayoutQueue, cancel_one_for_debt
from mall.services.withdrawals.request import send_to_payout
from mall.services.withdrawals.views import withdrawal_or_404, withdrawal_view

logger = Logger(child=True)

MAX_REVIEW_ATTEMPTS = 5


def approve_withdrawal(*, withdrawals: WithdrawalRepository, withdrawal_id: str, admin: str, now: datetime,
                       source_ip: str | None, queue: PayoutQueue | None, roles: Iterable[Role]) -> WithdrawalView:
    """审核通过. The record keeps who approved and when; from ``dual_approval_from_fen`` a
    second, different admin must approve before it is APPROVED (then sent to the payout). The
    approval commits only while the promoter owes nothing: with a debt the withdrawal is cancelled
    instead, its funds repaying the debt first (409 ``outstanding_debt``)."""
    for _ in range(MAX_REVIEW_ATTEMPTS):
        w = withdrawal_or_404(withdrawals, withdrawal_id)
        outcome = rules.approve(w, admin_id=admin, at=iso(now), roles=roles)
        count = len(outcome.approvals)
        note = f"approval {count} of {w.required_approvals}"
        try:
            updated = withdrawals.transition(
                w, to=outcome.status, now=now, by=admin, note=note, approvals=outcome.approvals,
                audit=AuditEntry(action="withdrawal.approve", actor=admin, entity_type="withdrawal",
                                 entity_id=w.withdrawal_id, source_ip=source_ip,
                                 before={"status": w.status.value, "approvals": count - 1},
                                 after={"status": outcome.status.value, "approvals": count},
                                 details={"required_approvals": w.required_approvals, "final": outcome.final}),
                require_no_debt=True)
        except StaleWithdrawal:
            continue  # another admin decided meanwhile: decide again on what is there now
        except OwesDebt:
            owed = withdrawals.ledger.wallet(w.promoter_id).balances.owed_fen
            cancel_one_for_debt(withdrawals, withdrawal_id, now=now, owed_fen=owed)
            raise Conflict(f"the promoter owes {yuan(owed)} from a refunded commission: the withdrawal was cancelled "
                           "and its amount repays the debt first", code="outstanding_debt",
                           details={"withdrawal_id": withdrawal_id, "owed_fen": owed}) from None
        logger.info("withdrawal approval", extra={"withdrawal_id": withdrawal_id, "approval": count,
                                                  "final": outcome.final})
        if outcome.final:
            send_to_payout(queue, updated)
        return withdrawal_view(updated, for_promoter=False)
    raise Conflict("the withdrawal kept changing; retry", code="withdrawal_changed")


def reject_withdrawal(*, withdrawals: WithdrawalRepository, withdrawal_id: str, admin: str, reason: str,
                      now: datetime, source_ip: str | None) -> WithdrawalView:
    """驳回: PENDING_REVIEW → REJECTED with the reason; the amount returns to available in the
    same transaction (``withdrawal_returned``, once: a second reject is a 409)."""
    for _ in range(MAX_REVIEW_ATTEMPTS):
        w = withdrawal_or_404(withdrawals, withdrawal_id)
        rules.check_rejectable(w)
        try:
            updated = withdrawals.transition(
                w, to=WithdrawalStatus.REJECTED, now=now, by=admin, note=reason,
                sets={"reason": reason, "rejected_by": admin},
                audit=AuditEntry(action="withdrawal.reject", actor=admin, entity_type="withdrawal",
                                 entity_id=w.withdrawal_id, source_ip=source_ip, before={"status": w.status.value},
                                 after={"status": WithdrawalStatus.REJECTED.value}, details={"reason": reason}))
        except StaleWithdrawal:
            continue
        logger.info("withdrawal rejected", extra={"withdrawal_id": withdrawal_id, "amount_fen": w.amount_fen})
        return withdrawal_view(updated, for_promoter=False)
    raise Conflict("the withdrawal kept changing; retry", code="withdrawal_changed")


def reveal_bank_account(*, withdrawals: WithdrawalRepository, withdrawal_id: str, admin: str, now: datetime,
                        source_ip: str | None) -> BankAccountReveal:
    """The full bank account of a bank withdrawal, for the admin who pays it; audited first."""
    w = withdrawal_or_404(withdrawals, withdrawal_id)
    if w.method != "bank" or not w.bank:
        raise NotFound("this withdrawal is not paid by bank transfer", code="no_bank_account")
    withdrawals.record_audit(w, AuditEntry(action="withdrawal.bank_account_reveal", actor=admin,
                                           entity_type="withdrawal", entity_id=w.withdrawal_id, source_ip=source_ip),
                             now)
    context = bank_context(w.withdrawal_id)
    return BankAccountReveal(withdrawal_id=w.withdrawal_id, bank_name=str(w.bank.get("bank_name", "")),
                             account_name=pii_crypto.decrypt(str(w.bank["account_name_enc"]), context=context),
                             account_no=pii_crypto.decrypt(str(w.bank["account_no_enc"]), context=context),
                             branch=w.bank.get("branch"), net_fen=w.net_fen)
