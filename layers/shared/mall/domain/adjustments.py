"""Manual commission adjustments (人工佣金调整), pure: who may apply one, when two admins are needed, and
the id that makes a repeated request the same adjustment.

The merchant credits or debits a promoter's commission in integer fen with a reason. Below the
dual-approval amount the adjustment applies at once; from it (the same amount from which a withdrawal
needs two admins, ``withdrawal.dual_approval_from_fen``: one maker-checker line for money moved by
hand) the first admin's request waits as PENDING and a different admin approves (or rejects) it. The
money moves only through the ledger (``mall.domain.ledger.commission_adjusted``), and the promoter
sees the posting in their ledger with the reason.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Literal

from mall.domain.money import yuan_compact as yuan  # as GET /rules writes amounts
from mall.errors import Conflict, FieldProblem, InvalidInput

Direction = Literal["credit", "debit"]

#: Promoters whose commission may be adjusted: those who ever earned (an applicant or a rejected one has no wallet).
ADJUSTABLE_STATUSES = frozenset({"active", "frozen", "disabled"})


class AdjustmentStatus(StrEnum):
    PENDING = "PENDING"  # 待复核: waits for a second admin
    APPLIED = "APPLIED"  # 已入账: posted to the ledger
    REJECTED = "REJECTED"  # 已驳回: nothing moved


@dataclass(frozen=True, slots=True)
class Adjustment:
    adjustment_id: str
    promoter_id: str
    direction: Direction
    amount_fen: int
    reason: str
    status: AdjustmentStatus
    required_approvals: int
    created_by: str
    created_at: str
    approvals: tuple[str, ...] = field(default=())
    applied_at: str | None = None
    rejected_by: str | None = None
    rejected_at: str | None = None
    reject_reason: str | None = None
    version: int = 1

    @property
    def credit(self) -> bool:
        return self.direction == "credit"

    def same_request(self, *, promoter_id: str, direction: str, amount_fen: int, reason: str) -> bool:
        return (self.promoter_id, self.direction, self.amount_fen, self.reason) == (
            promoter_id, direction, amount_fen, reason)


def adjustment_id_for(*, admin: str, promoter_id: str, idempotency_key: str) -> str:
    """Deterministic from who asked, for whom, and the request's key: a retry is the same adjustment
    (its conditional put fails and the stored one is answered), for as long as the record exists."""
    digest = hashlib.sha256(f"{admin}\n{promoter_id}\n{idempotency_key}".encode()).hexdigest()
    return f"adj_{digest[:24]}"


def approvals_needed(amount_fen: int, dual_approval_from_fen: int) -> int:
    """Two different admins from the dual-approval amount, one below it."""
    return 2 if amount_fen >= dual_approval_from_fen else 1


def adjustment_rule(dual_approval_from_fen: int) -> str:
    """What ``GET /rules`` says of manual adjustments, from the amount ``approvals_needed`` applies."""
    return ("商家可人工补发或扣回佣金，每笔均注明原因并显示在您的收益明细中；"
            f"单笔 {yuan(dual_approval_from_fen)} 及以上须两名管理员复核。"
            "补发的金额直接计入可提现余额（有欠款时优先抵扣欠款）；"
            "扣回从可提现余额中扣除，不足部分记为欠款，由以后的佣金优先抵扣。")


def new_adjustment(*, adjustment_id: str, promoter_id: str, promoter_status: str, direction: Direction,
                   amount_fen: int, reason: str, admin: str, at: str, dual_approval_from_fen: int) -> Adjustment:
    if promoter_status not in ADJUSTABLE_STATUSES:
        raise Conflict(f"a promoter who is {promoter_status} has no commission to adjust",
                       code="promoter_not_adjustable", details={"status": promoter_status})
    if type(amount_fen) is not int or amount_fen <= 0:
        raise InvalidInput("amount must be a positive integer fen", code="invalid_amount",
                           fields=[FieldProblem("amount_fen", "a positive integer (fen)")])
    if not reason.strip():
        raise InvalidInput("a reason is required", code="reason_required", fields=[FieldProblem("reason", "required")])
    required = approvals_needed(amount_fen, dual_approval_from_fen)
    status = AdjustmentStatus.APPLIED if required == 1 else AdjustmentStatus.PENDING
    return Adjustment(adjustment_id=adjustment_id, promoter_id=promoter_id, direction=direction,
                      amount_fen=amount_fen, reason=reason, status=status, required_approvals=required,
                      created_by=admin, created_at=at, approvals=(admin,),
                      applied_at=at if status == AdjustmentStatus.APPLIED else None)


def _not_pending(a: Adjustment, action: str) -> Conflict:
    return Conflict(f"this adjustment is {a.status.value}; only PENDING can be {action}",
                    code="adjustment_not_pending",
                    details={"adjustment_id": a.adjustment_id, "status": a.status.value, "version": a.version})


def approve(a: Adjustment, *, admin: str, at: str) -> Adjustment:
    """The second admin's approval applies it; the admin who asked cannot approve their own."""
    if a.status != AdjustmentStatus.PENDING:
        raise _not_pending(a, "approved")
    if admin in a.approvals:
        raise Conflict("you asked for (or approved) this adjustment; a second, different admin must approve it",
                       code="already_approved_by_you",
                       details={"adjustment_id": a.adjustment_id, "approvals": len(a.approvals),
                                "required_approvals": a.required_approvals})
    approvals = (*a.approvals, admin)
    final = len(approvals) >= a.required_approvals
    return replace(a, approvals=approvals, status=AdjustmentStatus.APPLIED if final else AdjustmentStatus.PENDING,
                   applied_at=at if final else None, version=a.version + 1)


def reject(a: Adjustment, *, admin: str, at: str, reason: str) -> Adjustment:
    if a.status != AdjustmentStatus.PENDING:
        raise _not_pending(a, "rejected")
    return replace(a, status=AdjustmentStatus.REJECTED, rejected_by=admin, rejected_at=at, reject_reason=reason,
                   version=a.version + 1)
