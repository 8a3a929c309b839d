"""Bank transfers (银行转账): an admin pays an APPROVED bank withdrawal by hand and marks it paid
or failed (audited in the same transaction as the change)."""

from __future__ import annotations

from datetime import datetime

from aws_lambda_powertools import Logger

from mall.dal.audit import AuditEntry
from mall.dal.payouts import PayoutRepository
from mall.domain.payouts import BANK, FAILED, PAID, check_bank_markable
from mall.domain.withdrawals import Withdrawal
from mall.errors import Conflict, NotFound
from mall.observability import metrics
from mall.schemas.payouts import PayoutView
from mall.services.payouts.bills import MAX_RACES, count_paid

logger = Logger(child=True)


def payout_view(payout: Withdrawal) -> PayoutView:
    return PayoutView(
        withdrawal_id=payout.withdrawal_id, promoter_id=payout.promoter_id, method=payout.method,
        status=payout.status.value, amount_fen=payout.amount_fen, fee_fen=payout.fee_fen, net_fen=payout.net_fen,
        out_bill_no=payout.out_bill_no, transfer_bill_no=payout.transfer_bill_no, bill_state=payout.bill_state,
        bank_reference=payout.bank_reference, fail_reason=payout.fail_reason, paying_at=payout.paying_at,
        paid_at=payout.paid_at, failed_at=payout.failed_at, version=payout.version)


def _get(payouts: PayoutRepository, withdrawal_id: str) -> Withdrawal:
    payout = payouts.get(withdrawal_id)
    if payout is None:
        raise NotFound("no such withdrawal", code="withdrawal_not_found")
    return payout


def mark_bank_paid(*, payouts: PayoutRepository, withdrawal_id: str, reference: str, admin: str, now: datetime,
                   source_ip: str | None = None) -> PayoutView:
    """银行转账已打款: an APPROVED bank withdrawal → PAID with the bank's reference (audited).
    The same mark again answers the withdrawal as it is."""
    for _ in range(MAX_RACES):
        payout = _get(payouts, withdrawal_id)
        if payout.method == BANK and payout.status == PAID and payout.bank_reference == reference:
            return payout_view(payout)
        check_bank_markable(payout)
        paid = payouts.mark_paid(payout, now=now, by=admin, note=f"bank reference {reference}",
                                 bank_reference=reference,
                                 audit=AuditEntry(action="withdrawal.mark_paid", actor=admin, entity_type="withdrawal",
                                                  entity_id=withdrawal_id, source_ip=source_ip,
                                                  before={"status": payout.status.value},
                                                  after={"status": PAID.value, "bank_reference": reference},
                                                  details={"reference": reference}))
        if paid is not None:
            logger.info("bank withdrawal marked paid", extra={"withdrawal_id": withdrawal_id, "admin": admin})
            count_paid(paid)
            return payout_view(paid)
    raise Conflict("the withdrawal kept changing; retry", code="withdrawal_changed",
                   details={"withdrawal_id": withdrawal_id})


def mark_bank_failed(*, payouts: PayoutRepository, withdrawal_id: str, reason: str, admin: str, now: datetime,
                     source_ip: str | None = None) -> PayoutView:
    """银行转账失败: an APPROVED bank withdrawal → FAILED, funds back to available (audited)."""
    for _ in range(MAX_RACES):
        payout = _get(payouts, withdrawal_id)
        if payout.method == BANK and payout.status == FAILED and payout.fail_reason == reason:
            return payout_view(payout)
        check_bank_markable(payout)
        failed = payouts.mark_failed(payout, reason=reason, now=now, by=admin,
                                     audit=AuditEntry(action="withdrawal.mark_failed", actor=admin,
                                                      entity_type="withdrawal", entity_id=withdrawal_id,
                                                      source_ip=source_ip, before={"status": payout.status.value},
                                                      after={"status": FAILED.value}, details={"reason": reason}))
        if failed is not None:
            logger.info("bank withdrawal marked failed", extra={"withdrawal_id": withdrawal_id, "admin": admin})
            metrics.add_metric(name="WithdrawalsFailed", unit="Count", value=1)
            return payout_view(failed)
    raise Conflict("the withdrawal kept changing; retry", code="withdrawal_changed",
                   details={"withdrawal_id": withdrawal_id})
