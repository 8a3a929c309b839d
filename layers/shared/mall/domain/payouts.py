"""Payouts (提现打款), pure: what a transfer bill's state means for a withdrawal, who can be paid,
and which admin marks a bank withdrawal accepts.

A withdrawal (``mall.domain.withdrawals``) reaches payouts APPROVED. Paid by WeChat
merchant transfer (商家转账) it goes APPROVED → PAYING (the bill is created with the withdrawal's
``out_bill_no``) → PAID when the bill is SUCCESS, or FAILED (funds returned) when it is FAIL or
CANCELLED. Paid by bank transfer, an admin marks it PAID (with the bank's reference) or FAILED.

The bill number is the withdrawal's and a withdrawal is paid at most once, so a terminal failed
bill is never retried under the same number: a FAILED withdrawal is final, the promoter asks again
(a new withdrawal, a new number).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from mall.domain.settings_terms import WECHAT_REAL_NAME_FROM_FEN
from mall.domain.withdrawals import Withdrawal, WithdrawalStatus
from mall.errors import Conflict

APPROVED = WithdrawalStatus.APPROVED
PAYING = WithdrawalStatus.PAYING
PAID = WithdrawalStatus.PAID
FAILED = WithdrawalStatus.FAILED

WECHAT = "wechat"
BANK = "bank"

# Transfer bill states (docs/protocols.md, "Payouts to a WeChat balance").
BILL_SUCCESS = "SUCCESS"
BILL_FAIL = "FAIL"
BILL_CANCELLED = "CANCELLED"
BILL_WAIT_USER_CONFIRM = "WAIT_USER_CONFIRM"
TERMINAL_BILL_STATES = frozenset({BILL_SUCCESS, BILL_FAIL, BILL_CANCELLED})
FAILED_BILL_STATES = frozenset({BILL_FAIL, BILL_CANCELLED})

#: From ¥2,000 a transfer needs the payee's real name (RSA-OAEP encrypted ``user_name``).
USER_NAME_REQUIRED_FROM_FEN = WECHAT_REAL_NAME_FROM_FEN

#: Refusals of the create call that say "not now" rather than "never": the merchant's balance or
#: quota. The withdrawal stays PAYING and the call is repeated (same number) later.
HOLD_CODES = frozenset({"NOT_ENOUGH", "QUOTA_EXCEED", "DAY_LIMIT_EXCEED", "FREQUENCY_LIMITED"})


def is_terminal(state: str | None) -> bool:
    return state in TERMINAL_BILL_STATES


class BillOutcome(StrEnum):
    """What a transfer bill's state (a notification, a query, a create answer) does to a withdrawal."""

    MARK_PAID = "mark_paid"  # PAYING → PAID, withdrawal_paid posting
    MARK_FAILED = "mark_failed"  # PAYING → FAILED, withdrawal_returned posting
    RECORD_STATE = "record_state"  # a non-terminal state: remembered, nothing else
    DUPLICATE = "duplicate"  # already recorded: nothing changes
    UNKNOWN_WITHDRAWAL = "unknown_withdrawal"
    WRONG_BILL = "wrong_bill"  # not this withdrawal's number, or not a WeChat withdrawal
    BILL_NUMBER_MISMATCH = "bill_number_mismatch"  # WeChat Pay's transfer_bill_no is not the one recorded
    AMOUNT_MISMATCH = "amount_mismatch"
    PAYEE_MISMATCH = "payee_mismatch"
    CONTRADICTS = "contradicts"  # a terminal state against the opposite recorded outcome
    NOT_PAYING = "not_paying"  # the withdrawal never started paying

    @property
    def acknowledged(self) -> bool:
        """True when the sender (WeChat Pay) should be told "handled"."""
        return self in {BillOutcome.MARK_PAID, BillOutcome.MARK_FAILED, BillOutcome.RECORD_STATE,
                        BillOutcome.DUPLICATE}


#: The webhook's reply to each refusal: (HTTP status, the ``message`` of ``{"code":"FAIL"}``).
REFUSALS: dict[BillOutcome, tuple[int, str]] = {
    BillOutcome.UNKNOWN_WITHDRAWAL: (404, "unknown out_bill_no"),
    BillOutcome.WRONG_BILL: (400, "out_bill_no mismatch"),
    BillOutcome.BILL_NUMBER_MISMATCH: (400, "transfer_bill_no mismatch"),
    BillOutcome.AMOUNT_MISMATCH: (400, "amount mismatch"),
    BillOutcome.PAYEE_MISMATCH: (400, "openid mismatch"),
    BillOutcome.CONTRADICTS: (409, "bill contradicts the recorded outcome"),
    BillOutcome.NOT_PAYING: (409, "withdrawal is not paying"),
}


@dataclass(frozen=True, slots=True)
class BillFacts:
    out_bill_no: str
    state: str
    amount_fen: int
    openid: str
    transfer_bill_no: str | None = None  # WeChat Pay's number of the bill (None: not known to the caller)


def decide_bill(payout: Withdrawal | None, bill: BillFacts, *, payee_openid: str | None) -> BillOutcome:  # noqa: PLR0911
    """The outcome of ``bill`` for ``payout`` (None: no withdrawal has this number). The amount and
    the payee must be exactly the withdrawal's before anything is recorded."""
    if payout is None:
        return BillOutcome.UNKNOWN_WITHDRAWAL
    if payout.method != WECHAT or payout.out_bill_no != bill.out_bill_no:
        return BillOutcome.WRONG_BILL
    recorded = payout.transfer_bill_no
    if recorded is not None and bill.transfer_bill_no is not None and bill.transfer_bill_no != recorded:
        return BillOutcome.BILL_NUMBER_MISMATCH  # one out_bill_no has one bill: another number is not ours
    if bill.amount_fen != payout.net_fen:
        return BillOutcome.AMOUNT_MISMATCH
    if payee_openid is not None and bill.openid != payee_openid:
        return BillOutcome.PAYEE_MISMATCH
    status, state = payout.status, bill.state
    if state == BILL_SUCCESS:
        if status == PAYING:
            return BillOutcome.MARK_PAID
        return {PAID: BillOutcome.DUPLICATE, FAILED: BillOutcome.CONTRADICTS}.get(status, BillOutcome.NOT_PAYING)
    if state in FAILED_BILL_STATES:
        if status == PAYING:
            return BillOutcome.MARK_FAILED
        return {FAILED: BillOutcome.DUPLICATE, PAID: BillOutcome.CONTRADICTS}.get(status, BillOutcome.NOT_PAYING)
    if status == PAYING:
        return BillOutcome.DUPLICATE if state == payout.bill_state else BillOutcome.RECORD_STATE
    if status in {PAID, FAILED}:
        return BillOutcome.DUPLICATE  # a stale non-terminal view of a finished bill
    return BillOutcome.NOT_PAYING


def payee_problem(payout: Withdrawal, *, openid: str | None) -> str | None:
    """Why this withdrawal cannot be paid by WeChat transfer at all (a ``fail_reason``), or None."""
    if not openid:
        return "payee_has_no_openid"
    if payout.net_fen >= USER_NAME_REQUIRED_FROM_FEN:
        return "real_name_required"  # not collected; a withdrawal request of this size is refused already
    if payout.net_fen <= 0:
        return "nothing_to_pay"
    return None


def failure_reason(state: str, fail_reason: str | None) -> str:
    """The ``fail_reason`` recorded for a failed bill: WeChat Pay's, else the state."""
    return fail_reason or ("BILL_CANCELLED" if state == BILL_CANCELLED else "BILL_FAILED")


def check_bank_markable(payout: Withdrawal) -> None:
    """A bank withdrawal is marked paid or failed only while APPROVED (raises ``Conflict``)."""
    if payout.method != BANK:
        raise Conflict("only bank-transfer withdrawals are marked by hand; WeChat transfers finish by notification",
                       code="withdrawal_not_bank", details={"withdrawal_id": payout.withdrawal_id,
                                                            "method": payout.method})
    if payout.status != APPROVED:
        raise Conflict(f"the withdrawal is {payout.status.value}, not APPROVED", code="withdrawal_not_markable",
                       details={"withdrawal_id": payout.withdrawal_id, "status": payout.status.value,
                                "version": payout.version})


def withdrawal_id_for_bill(out_bill_no: str) -> str | None:
    """The withdrawal an ``out_bill_no`` belongs to: the number is the id (``w_…``) without its
    ``_`` (``mall.domain.withdrawals`` makes ids so), so the ``w`` prefix is followed by the id's own characters."""
    if len(out_bill_no) < 2 or not out_bill_no.isalnum() or not out_bill_no.startswith("w"):
        return None
    return f"w_{out_bill_no[1:]}"
