"""Nothing leaves while a debt exists (欠款期间不出款): the withdrawals of a promoter who owes.

When a clawback leaves a promoter owing (``debt_fen < 0``), ``cancel_withdrawals_for_debt``
cancels every withdrawal of theirs still in flight (``CANCELLED_BY_DEBT``):

- PENDING_REVIEW → REJECTED and APPROVED → FAILED at once, each one conditional transition from
  the status and version read, its funds returned in the same transaction, where they repay the
  debt first (``WithdrawalRepository.transition``: ``withdrawal_returned`` + ``debt_repaid``);
- PAYING: a transfer bill may already wait for the promoter's confirmation. Cancelling it is a call
  to WeChat Pay, which never belongs inside a DynamoDB transaction: the intent is recorded first
  (``cancel_reason``, conditional on PAYING and the version), then the withdrawal is sent to the
  payout worker, which calls the cancel API (``mall.services.payouts``); the CANCELLED notification
  (or the reconciler) returns the funds through the same path, repaying the debt first. A bill
  the promoter confirmed first is paid, and the debt stays.

Everything is idempotent: a withdrawal already cancelled is no longer in flight, an intent already
recorded is not recorded again, so a redelivered clawback repeats nothing. The changes that let
money leave (approval, the start of a payout) check the debt in their own transaction as well: the
promoter's withdrawal index is eventually consistent, so a withdrawal written a moment before the
clawback can be missed here, never paid.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from aws_lambda_powertools import Logger

from mall.dal.withdrawals import StaleWithdrawal, WithdrawalRepository
from mall.domain.money import yuan
from mall.domain.withdrawals import (
    CANCELLED_BY_DEBT,
    DEBT_CANCEL_REASON,
    DEBT_CANCEL_STATUS,
    SYSTEM,
    Withdrawal,
    WithdrawalStatus,
)
from mall.observability import metrics

logger = Logger(child=True)

_MAX_RACES = 8

DebtOutcome = Literal["cancelled", "cancelling", "still_cancelling", "untouched"]


class PayoutQueue(Protocol):
    """The payout worker's queue (``mall.dal.queues.MessageQueue`` in the functions): approved
    withdrawals, and those whose transfer bill must be cancelled."""

    def send(self, body: Mapping[str, Any]) -> None: ...


@dataclass
class DebtCancellation:
    """What ``cancel_withdrawals_for_debt`` did for one promoter."""

    promoter_id: str
    owed_fen: int = 0
    cancelled: list[str] = field(default_factory=list)  # funds returned now (repaying the debt first)
    cancelling: list[str] = field(default_factory=list)  # PAYING: their bill's cancellation requested
    recorded: list[str] = field(default_factory=list)  # of those, the ones whose intent this call recorded


def debt_note(owed_fen: int) -> str:
    return f"cancelled: you owe {yuan(owed_fen)} from a refunded commission; the amount repays it first"


def cancel_one_for_debt(repo: WithdrawalRepository, withdrawal_id: str, *, now: datetime,
                        owed_fen: int) -> DebtOutcome:
    """Cancel one withdrawal because its promoter owes (module docstring): ``cancelled`` (its funds
    came back now), ``cancelling`` (PAYING: the bill's cancellation is now recorded, to be made at
    WeChat Pay), ``still_cancelling`` (recorded before) or ``untouched`` (no longer in flight)."""
    for _ in range(_MAX_RACES):
        w = repo.get(withdrawal_id)
        if w is None or w.status not in CANCELLED_BY_DEBT:
            return "untouched"
        try:
            if w.status == WithdrawalStatus.PAYING:
                if w.cancel_reason is not None:
                    return "still_cancelling"
                repo.transition(w, to=WithdrawalStatus.PAYING, now=now, by=SYSTEM,
                                note=f"cancelling the transfer bill: {debt_note(owed_fen)}",
                                sets={"cancel_reason": DEBT_CANCEL_REASON})
                return "cancelling"
            _finish(repo, w, now=now, owed_fen=owed_fen)
        except StaleWithdrawal:
            continue  # another worker moved it: decide again on what it is now
        logger.info("withdrawal cancelled because of a debt", extra={"withdrawal_id": withdrawal_id,
                                                                     "status": w.status.value})
        metrics.add_metric(name="WithdrawalsCancelledForDebt", unit="Count", value=1)
        return "cancelled"
    raise RuntimeError(f"withdrawal {withdrawal_id} kept changing while cancelling it for a debt")


def _finish(repo: WithdrawalRepository, w: Withdrawal, *, now: datetime, owed_fen: int) -> Withdrawal:
    to = DEBT_CANCEL_STATUS[w.status]
    sets = ({"reason": DEBT_CANCEL_REASON, "rejected_by": SYSTEM} if to == WithdrawalStatus.REJECTED
            else {"fail_reason": DEBT_CANCEL_REASON})
    return repo.transition(w, to=to, now=now, by=SYSTEM, note=debt_note(owed_fen), sets=sets)


def cancel_withdrawals_for_debt(*, withdrawals: WithdrawalRepository, promoter_id: str, now: datetime,
                                queue: PayoutQueue | None = None) -> DebtCancellation:
    """While ``promoter_id`` owes, cancel every withdrawal of theirs in flight (module docstring).
    Idempotent; a promoter owing nothing is left alone. A withdrawal whose bill must be cancelled
    is sent to ``queue`` (a lost send is recovered by the payout reconciler)."""
    owed = withdrawals.ledger.wallet(promoter_id).balances.owed_fen
    report = DebtCancellation(promoter_id, owed)
    if owed <= 0:
        return report
    in_flight = withdrawals.of_promoter_in(promoter_id, CANCELLED_BY_DEBT)
    for w in sorted(in_flight, key=lambda x: (x.created_at, x.withdrawal_id)):
        outcome = cancel_one_for_debt(withdrawals, w.withdrawal_id, now=now, owed_fen=owed)
        if outcome == "cancelled":
            report.cancelled.append(w.withdrawal_id)
        elif outcome in {"cancelling", "still_cancelling"}:
            report.cancelling.append(w.withdrawal_id)
            if outcome == "cancelling":
                report.recorded.append(w.withdrawal_id)
            _send(queue, w.withdrawal_id)  # again on a redelivery: the first send may have been lost
    if report.cancelled or report.cancelling:
        logger.info("withdrawals in flight cancelled: the promoter owes", extra={
            "promoter_id": promoter_id, "owed_fen": owed, "cancelled": report.cancelled,
            "cancelling": report.cancelling})
    return report


def _send(queue: PayoutQueue | None, withdrawal_id: str) -> None:
    if queue is None:
        logger.warning("no payout queue: the payout reconciler cancels the transfer bill",
                       extra={"withdrawal_id": withdrawal_id})
        return
    try:
        queue.send({"withdrawal_id": withdrawal_id})
    except Exception:  # any failure: the reconciler finds PAYING withdrawals with a cancel_reason
        logger.exception("sending the bill cancellation to the payout queue failed; the reconciler will",
                         extra={"withdrawal_id": withdrawal_id})
