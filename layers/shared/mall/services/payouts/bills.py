"""A transfer bill's state applied to its withdrawal, exactly once: from the notification
(MCHTRANSFER.BILL.FINISHED), a query of the reconciler, or the answer to a repeated create."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger

from mall.dal.payouts import PayoutRepository
from mall.domain.payouts import (
    BILL_CANCELLED,
    BILL_SUCCESS,
    REFUSALS,
    BillFacts,
    BillOutcome,
    decide_bill,
    failure_reason,
    withdrawal_id_for_bill,
)
from mall.domain.withdrawals import Withdrawal
from mall.integrations.wechatpay.transfer_resources import TransferBillResource
from mall.observability import metrics

logger = Logger(child=True)


def count_paid(payout: Withdrawal) -> None:
    """The money dashboard's withdrawals paid: how many and how many fen, however they were paid."""
    metrics.add_metric(name="WithdrawalsPaid", unit="Count", value=1)
    metrics.add_metric(name="WithdrawalsPaidFen", unit="Count", value=payout.net_fen)

#: Times a bill is applied again when a concurrent delivery moved the withdrawal first.
MAX_RACES = 5


@dataclass(frozen=True, slots=True)
class BillHandled:
    """What ``apply_bill`` did; the webhook answers 204 when ``acknowledged``, else ``refusal``."""

    outcome: BillOutcome
    withdrawal_id: str | None

    @property
    def acknowledged(self) -> bool:
        return self.outcome.acknowledged

    @property
    def refusal(self) -> tuple[int, str]:
        return REFUSALS.get(self.outcome, (400, "refused"))


def apply_bill(*, payouts: PayoutRepository, bill: TransferBillResource, now: datetime, source: str) -> BillHandled:
    """Bring the withdrawal whose number is ``bill.out_bill_no`` to what the bill says, exactly once.

    A concurrent delivery that wins the conditional write first makes this one read again and see
    a duplicate. Mismatches (amount, number, payee) and contradictions are refused, logged, and
    change nothing."""
    withdrawal_id = withdrawal_id_for_bill(bill.out_bill_no)
    facts = BillFacts(out_bill_no=bill.out_bill_no, state=bill.state, amount_fen=bill.transfer_amount,
                      openid=bill.openid, transfer_bill_no=bill.transfer_bill_no)
    context = {"out_bill_no": bill.out_bill_no, "bill_state": bill.state, "source": source}
    for _ in range(MAX_RACES):
        payout = payouts.get(withdrawal_id) if withdrawal_id else None
        openid = payouts.payee_openid(payout.promoter_id) if payout is not None else None
        outcome = decide_bill(payout, facts, payee_openid=openid)
        if payout is None or not outcome.acknowledged:
            _log_refusal(outcome, payout, bill, context)
            return BillHandled(outcome, withdrawal_id)
        if outcome == BillOutcome.MARK_PAID:
            if payouts.mark_paid(payout, now=now, by="wechatpay", note=f"transfer bill {bill.transfer_bill_no}",
                                 bill_state=BILL_SUCCESS) is not None:
                logger.info("withdrawal paid", extra={"withdrawal_id": payout.withdrawal_id, **context})
                count_paid(payout)
                return BillHandled(outcome, payout.withdrawal_id)
        elif outcome == BillOutcome.MARK_FAILED:
            reason = (payout.cancel_reason if bill.state == BILL_CANCELLED and payout.cancel_reason
                      else failure_reason(bill.state, bill.fail_reason))
            if payouts.mark_failed(payout, reason=reason, now=now, by="wechatpay", bill_state=bill.state,
                                   note=f"transfer bill {bill.transfer_bill_no}: {reason}") is not None:
                logger.warning("withdrawal transfer failed: funds returned",
                               extra={"withdrawal_id": payout.withdrawal_id, "fail_reason": reason, **context})
                metrics.add_metric(name="WithdrawalsFailed", unit="Count", value=1)
                return BillHandled(outcome, payout.withdrawal_id)
        elif outcome == BillOutcome.RECORD_STATE:
            if payouts.record_bill(payout, transfer_bill_no=bill.transfer_bill_no, bill_state=bill.state,
                                   package_info=None, now=now) is not None:
                return BillHandled(outcome, payout.withdrawal_id)
        else:  # DUPLICATE
            return BillHandled(outcome, payout.withdrawal_id)
        # Lost a race (another delivery, the reconciler, a version bump): read again, decide again.
    raise RuntimeError(f"withdrawal {withdrawal_id} kept changing while applying its transfer bill")


def _log_refusal(outcome: BillOutcome, payout: Withdrawal | None, bill: TransferBillResource,
                 context: Mapping[str, Any]) -> None:
    extra: dict[str, Any] = {"outcome": outcome.value, **context}
    if payout is not None:
        extra.update(withdrawal_id=payout.withdrawal_id, status=payout.status.value, net_fen=payout.net_fen)
    if outcome == BillOutcome.AMOUNT_MISMATCH:
        extra["transfer_amount"] = bill.transfer_amount
    logger.error("transfer bill refused", extra=extra)
    metrics.add_metric(name="TransferBillRefused", unit="Count", value=1)


def handle_transfer_notification(*, payouts: PayoutRepository, bill: TransferBillResource,
                                 now: datetime) -> BillHandled:
    """MCHTRANSFER.BILL.FINISHED, already verified and decrypted by the webhook."""
    return apply_bill(payouts=payouts, bill=bill, now=now, source="webhook")
