"""Withdrawals (提现), pure: the status machine, the fee, the limits and the review decision.

A request takes its whole ``amount_fen`` (fee included) out of *available* at once
(``withdrawal_held``); the promoter receives ``net_fen = amount − fee``. Statuses::

    PENDING_REVIEW ─approve(s)→ APPROVED ─payout starts→ PAYING ─bill SUCCESS→ PAID
          │                        │  (bank: marked paid / failed)  └─FAIL / CANCELLED→ FAILED (returned)
          └─reject→ REJECTED (returned)                              APPROVED → PAID | FAILED too

A clawback that leaves the promoter owing cancels the withdrawals in flight (``CANCELLED_BY_DEBT``:
PENDING_REVIEW → REJECTED, APPROVED / PAYING → FAILED, reason ``DEBT_CANCEL_REASON``); funds that
come back repay a debt first (``mall.domain.ledger.returned_funds``).

A request under ``auto_review_below_fen`` from a promoter without a risk flag is approved at once
(``review="auto"``); otherwise it waits for admins (``review="manual"``), two different ones from
``dual_approval_from_fen`` (maker-checker, 双人复核). Every refusal names its rule and its limit
(``Refusal``), so the promoter learns exactly what to change.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final, Literal

from mall.domain import withdrawal_limits
from mall.domain.money import yuan
from mall.domain.settings_terms import WECHAT_REAL_NAME_FROM_FEN, WithdrawalMethod
from mall.domain.staff import Capability, require
from mall.domain.tokens import Role
from mall.errors import Conflict, DomainError, FieldProblem, Forbidden, InvalidInput

if TYPE_CHECKING:
    # The rules come with a settings document; naming them here does not load its validators.
    from mall.domain.settings import WithdrawalRules

ReviewKind = Literal["auto", "manual"]
#: Who a timeline entry is by, besides an admin id or the promoter's id.
AUTO_REVIEWER = "auto"
SYSTEM = "system"


class WithdrawalStatus(StrEnum):
    PENDING_REVIEW = "PENDING_REVIEW"  # 待审核
    APPROVED = "APPROVED"  # 已通过, waiting for the payout to start
    PAYING = "PAYING"  # 打款中: a transfer bill exists
    PAID = "PAID"  # 已到账
    FAILED = "FAILED"  # 打款失败, funds returned
    REJECTED = "REJECTED"  # 已驳回, funds returned


TERMINAL: frozenset[WithdrawalStatus] = frozenset({WithdrawalStatus.PAID, WithdrawalStatus.FAILED,
                                                   WithdrawalStatus.REJECTED})

#: Every move the record may make. A PENDING_REVIEW → PENDING_REVIEW update is a first approval
#: of two (the status stays, the approval is recorded).
TRANSITIONS: Mapping[WithdrawalStatus, frozenset[WithdrawalStatus]] = {
    WithdrawalStatus.PENDING_REVIEW: frozenset({WithdrawalStatus.PENDING_REVIEW, WithdrawalStatus.APPROVED,
                                                WithdrawalStatus.REJECTED}),
    WithdrawalStatus.APPROVED: frozenset({WithdrawalStatus.PAYING, WithdrawalStatus.PAID, WithdrawalStatus.FAILED}),
    WithdrawalStatus.PAYING: frozenset({WithdrawalStatus.PAID, WithdrawalStatus.FAILED}),
    WithdrawalStatus.PAID: frozenset(),
    WithdrawalStatus.FAILED: frozenset(),
    WithdrawalStatus.REJECTED: frozenset(),
}

#: The statuses whose change returns the funds (``withdrawal_returned`` in the same transaction).
RETURNS_FUNDS: frozenset[WithdrawalStatus] = frozenset({WithdrawalStatus.FAILED, WithdrawalStatus.REJECTED})


#: A clawback that leaves the promoter owing (欠款) cancels every withdrawal still in one of these
#: statuses, its funds repaying the debt first: nothing leaves while a debt exists. A PAYING one is
#: cancelled at WeChat Pay (only possible before the promoter confirms the receipt); a bill the
#: promoter confirmed first is paid and the debt stays.
CANCELLED_BY_DEBT: tuple[WithdrawalStatus, ...] = (WithdrawalStatus.PENDING_REVIEW, WithdrawalStatus.APPROVED,
                                                   WithdrawalStatus.PAYING)
#: The ``reason`` / ``fail_reason`` (and ``cancel_reason`` while a bill is being cancelled) of a
#: withdrawal cancelled because its promoter owes a debt.
DEBT_CANCEL_REASON = "outstanding_debt"
#: The status a withdrawal cancelled because of a debt ends in: a request never approved is
#: REJECTED (by the system), anything approved FAILED; both return the funds (``RETURNS_FUNDS``).
DEBT_CANCEL_STATUS: Mapping[WithdrawalStatus, WithdrawalStatus] = {
    WithdrawalStatus.PENDING_REVIEW: WithdrawalStatus.REJECTED,
    WithdrawalStatus.APPROVED: WithdrawalStatus.FAILED,
    WithdrawalStatus.PAYING: WithdrawalStatus.FAILED,
}
#: Chinese names of the statuses, for texts shown to promoters.
STATUS_TEXT: Mapping[WithdrawalStatus, str] = {
    WithdrawalStatus.PENDING_REVIEW: "待审核", WithdrawalStatus.APPROVED: "审核通过",
    WithdrawalStatus.PAYING: "打款中（未确认收款）", WithdrawalStatus.PAID: "已到账",
    WithdrawalStatus.FAILED: "打款失败", WithdrawalStatus.REJECTED: "已驳回",
}


def returned_funds_rule() -> str:
    """The rule promoters read (``GET /rules``) for funds that come back, from the statuses that
    return them and the repayment the ledger applies (``mall.domain.ledger.returned_funds``)."""
    statuses = "或".join(STATUS_TEXT[s] for s in WithdrawalStatus if s in RETURNS_FUNDS)
    return (f"申请提现后，金额立即从可提现余额中扣出；提现{statuses}时金额退回：存在欠款的，退回的金额先抵扣欠款，"
            "其余回到可提现余额。")


def debt_cancel_rule() -> str:
    """The rule promoters read for withdrawals in flight when a clawback leaves a debt, from
    ``CANCELLED_BY_DEBT`` (what ``mall.services.withdrawal_debt`` cancels)."""
    statuses = "、".join(STATUS_TEXT[s] for s in CANCELLED_BY_DEBT)
    return (f"结算后退款扣回佣金而产生欠款时，{statuses}的提现立即取消，金额先抵扣欠款，其余回到可提现余额，"
            "并通知推广员；已确认收款的微信转账照常到账，欠款保留。")


def can_move(current: WithdrawalStatus, to: WithdrawalStatus) -> bool:
    return to in TRANSITIONS[current]


@dataclass(frozen=True, slots=True)
class Approval:
    admin_id: str
    at: str


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One step of the record's life, shown to the promoter and the admin."""

    status: str
    at: str
    by: str
    note: str = ""


@dataclass(frozen=True, slots=True)
class Withdrawal:
    """The withdrawal record (docs/data-model.md, "withdrawals"). ``bank`` holds the encrypted
    account fields (``mall.dal.withdrawals``) and is never shown unmasked."""

    withdrawal_id: str
    promoter_id: str
    amount_fen: int
    fee_fen: int
    net_fen: int
    method: WithdrawalMethod
    status: WithdrawalStatus
    review: ReviewKind
    required_approvals: int
    created_at: str
    out_bill_no: str
    approvals: tuple[Approval, ...] = ()
    rejected_by: str | None = None
    reason: str | None = None
    transfer_bill_no: str | None = None
    bill_state: str | None = None
    package_info: str | None = None
    fail_reason: str | None = None
    bank_reference: str | None = None
    cancel_reason: str | None = None  # PAYING: its transfer bill is being cancelled (why)
    bank: Mapping[str, str] | None = None
    approved_at: str | None = None
    paying_at: str | None = None
    paid_at: str | None = None
    failed_at: str | None = None
    rejected_at: str | None = None
    timeline: tuple[TimelineEntry, ...] = ()
    version: int = 1
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def approved_by(self) -> tuple[str, ...]:
        return tuple(a.admin_id for a in self.approvals)


def out_bill_no_for(withdrawal_id: str) -> str:
    """商家批次单号: letters and digits only, one per withdrawal, never reused."""
    return "".join(ch for ch in withdrawal_id if ch.isalnum())


# ---- fee ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Quote:
    amount_fen: int
    fee_fen: int

    @property
    def net_fen(self) -> int:
        return self.amount_fen - self.fee_fen


def quote(amount_fen: int, rules: WithdrawalRules) -> Quote:
    """The fee and what the promoter receives, in integer fen."""
    return Quote(amount_fen, rules.fee_for(amount_fen))


# ---- refusals -----------------------------------------------------------------------------------

RefusalKind = Literal["input", "state", "forbidden"]


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a request is refused: ``code`` (stable), the ``rule`` (a settings path or a named rule),
    its ``limit`` and what the request or the account had (``actual``)."""

    code: str
    rule: str
    limit: int | str | list[str]
    message: str
    kind: RefusalKind
    input_field: str | None = None
    actual: int | str | None = None
    extra: Mapping[str, int | str] = field(default_factory=dict)

    def error(self) -> DomainError:
        """The domain error (422 for input, 409 for the account's state, 403 for the promoter)."""
        details: dict[str, object] = {"rule": self.rule, "limit": self.limit}
        if self.actual is not None:
            details["actual"] = self.actual
        details.update(self.extra)
        if self.kind == "input":
            return InvalidInput(self.message, code=self.code, details=details,
                                fields=[FieldProblem(self.input_field or "body", self.message)])
        if self.kind == "forbidden":
            return Forbidden(self.message, code=self.code, details=details)
        return Conflict(self.message, code=self.code, details=details)


def check_amount(amount_fen: int, method: str, rules: WithdrawalRules) -> Refusal | None:
    """The rules of the request itself: method allowed, minimum, maximum, WeChat's real-name
    threshold, and a fee that leaves something to receive."""
    if method not in rules.methods:
        return Refusal("method_not_allowed", "withdrawal.methods", list(rules.methods),
                       f"method {method!r} is not offered; allowed: {', '.join(rules.methods)}", "input",
                       input_field="method", actual=method)
    if withdrawal_limits.below_minimum(amount_fen, rules):
        return Refusal("amount_below_minimum", "withdrawal.min_fen", rules.min_fen,
                       f"the minimum withdrawal is {yuan(rules.min_fen)} ({rules.min_fen} fen)", "input",
                       input_field="amount_fen", actual=amount_fen)
    if withdrawal_limits.above_maximum(amount_fen, rules):
        return Refusal("amount_above_maximum", "withdrawal.max_fen", rules.max_fen,
                       f"the maximum per withdrawal is {yuan(rules.max_fen)} ({rules.max_fen} fen)", "input",
                       input_field="amount_fen", actual=amount_fen)
    if method == "wechat" and withdrawal_limits.wechat_needs_real_name(amount_fen):
        limit = WECHAT_REAL_NAME_FROM_FEN - 1
        return Refusal("wechat_real_name_required", "wechat_real_name", limit,
                       f"a WeChat transfer from {yuan(WECHAT_REAL_NAME_FROM_FEN)} needs the payee's real name, which "
                       f"is not collected: at most {yuan(limit)} ({limit} fen) per WeChat withdrawal", "input",
                       input_field="amount_fen", actual=amount_fen)
    fee = rules.fee_for(amount_fen)
    if fee >= amount_fen:  # the settings forbid it; kept so a bad document can never pay out ≤ 0
        return Refusal("fee_exceeds_amount", "withdrawal.fee_min_fen", rules.fee_min_fen,
                       f"the fee {yuan(fee)} would take the whole amount", "input", input_field="amount_fen",
                       actual=amount_fen)
    return None


@dataclass(frozen=True, slots=True)
class Today:
    """What the promoter already requested today (China day): the daily counter."""

    count: int = 0
    amount_fen: int = 0


def check_daily(amount_fen: int, today: Today, rules: WithdrawalRules) -> Refusal | None:
    if withdrawal_limits.daily_count_reached(today.count, rules):
        return Refusal("daily_count_exceeded", "withdrawal.daily_count", rules.daily_count,
                       f"at most {rules.daily_count} withdrawals per day; {today.count} made today", "state",
                       actual=today.count)
    if withdrawal_limits.over_daily_amount(today.amount_fen, amount_fen, rules):
        room = max(rules.daily_amount_fen - today.amount_fen, 0)
        return Refusal("daily_amount_exceeded", "withdrawal.daily_amount_fen", rules.daily_amount_fen,
                       f"at most {yuan(rules.daily_amount_fen)} ({rules.daily_amount_fen} fen) per day; "
                       f"{yuan(today.amount_fen)} requested today, {yuan(room)} left", "state",
                       actual=today.amount_fen, extra={"remaining_fen": room})
    return None


#: Who may withdraw: an active promoter, and a disabled one (禁用) — the money settled before the
#: disable stays theirs (an open risk case still refuses it). A frozen promoter waits for unfreezing.
WITHDRAWING_STATUSES: Final = ("active", "disabled")


def check_promoter(status: str | None) -> Refusal | None:
    if status not in WITHDRAWING_STATUSES:
        return Refusal("promoter_not_active", "promoter.status", "active",
                       "only an active promoter may withdraw" + (f" (yours is {status})" if status else ""),
                       "forbidden", actual=status)
    return None


def check_risk_hold(held: bool) -> Refusal | None:
    if held:
        return Refusal("risk_hold", "risk_hold", "no open risk case",
                       "withdrawals are paused while a risk review of your account is open", "state")
    return None


def check_account(amount_fen: int, *, available_fen: int, owed_fen: int) -> Refusal | None:
    """No debt (欠款 is repaid from earnings first), and enough available money."""
    if owed_fen > 0:
        return Refusal("outstanding_debt", "debt_fen", 0,
                       f"you owe {yuan(owed_fen)} from a refunded commission; it is repaid from your next earnings "
                       "before you can withdraw", "state", actual=owed_fen)
    if amount_fen > available_fen:
        return Refusal("insufficient_balance", "available_fen", available_fen,
                       f"only {yuan(available_fen)} ({available_fen} fen) is available", "state", actual=amount_fen)
    return None


def first_refusal(*checks: Refusal | None) -> Refusal | None:
    return next((c for c in checks if c is not None), None)


# ---- review -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReviewDecision:
    review: ReviewKind
    required_approvals: int

    @property
    def approved_now(self) -> bool:
        return self.review == "auto"


def review_of(amount_fen: int, rules: WithdrawalRules, *, risk_flag: bool) -> ReviewDecision:
    """Auto under the threshold without a risk flag; otherwise manual, by two admins from the
    dual-approval amount."""
    required = 2 if amount_fen >= rules.dual_approval_from_fen else 1
    if withdrawal_limits.small_enough_for_auto_review(amount_fen, rules) and not risk_flag and required == 1:
        return ReviewDecision("auto", 1)
    return ReviewDecision("manual", required)


@dataclass(frozen=True, slots=True)
class ApprovalOutcome:
    approvals: tuple[Approval, ...]
    final: bool  # this approval completes the review → APPROVED

    @property
    def status(self) -> WithdrawalStatus:
        return WithdrawalStatus.APPROVED if self.final else WithdrawalStatus.PENDING_REVIEW


def not_reviewable(w: Withdrawal, action: str) -> Conflict:
    return Conflict(f"this withdrawal is {w.status.value}; only PENDING_REVIEW can be {action}",
                    code=f"withdrawal_not_{'approvable' if action == 'approved' else 'rejectable'}",
                    details={"withdrawal_id": w.withdrawal_id, "status": w.status.value, "version": w.version})


def approve(w: Withdrawal, *, admin_id: str, at: str, roles: Iterable[Role]) -> ApprovalOutcome:
    """One admin's approval; the approver's ``roles`` must hold finance or owner, and the same admin
    twice is refused (maker-checker): a dual approval is two different finance or owner admins."""
    require(roles, Capability.MONEY_OPERATIONS, "approve a withdrawal")
    if w.status != WithdrawalStatus.PENDING_REVIEW:
        raise not_reviewable(w, "approved")
    if admin_id in w.approved_by:
        raise Conflict("you already approved this withdrawal; a second, different admin must approve it",
                       code="already_approved_by_you",
                       details={"withdrawal_id": w.withdrawal_id, "approvals": len(w.approvals),
                                "required_approvals": w.required_approvals})
    approvals = (*w.approvals, Approval(admin_id, at))
    return ApprovalOutcome(approvals, final=len(approvals) >= w.required_approvals)


def check_rejectable(w: Withdrawal) -> None:
    if w.status != WithdrawalStatus.PENDING_REVIEW:
        raise not_reviewable(w, "rejected")


# ---- building a new record ----------------------------------------------------------------------


def new_withdrawal(*, withdrawal_id: str, promoter_id: str, amount_fen: int, method: WithdrawalMethod,
                   rules: WithdrawalRules, decision: ReviewDecision, at: str,
                   bank: Mapping[str, str] | None = None) -> Withdrawal:
    """The record as requested: PENDING_REVIEW, or APPROVED at once by auto review."""
    fee = rules.fee_for(amount_fen)
    timeline: list[TimelineEntry] = [TimelineEntry(WithdrawalStatus.PENDING_REVIEW.value, at, promoter_id,
                                                   f"requested {yuan(amount_fen)}, fee {yuan(fee)}")]
    status = WithdrawalStatus.PENDING_REVIEW
    if decision.approved_now:
        status = WithdrawalStatus.APPROVED
        timeline.append(TimelineEntry(WithdrawalStatus.APPROVED.value, at, AUTO_REVIEWER,
                                      f"approved automatically (below {yuan(rules.auto_review_below_fen)})"))
    return Withdrawal(
        withdrawal_id=withdrawal_id, promoter_id=promoter_id, amount_fen=amount_fen, fee_fen=fee,
        net_fen=amount_fen - fee, method=method, status=status, review=decision.review,
        required_approvals=decision.required_approvals, created_at=at, out_bill_no=out_bill_no_for(withdrawal_id),
        bank=bank, approved_at=at if decision.approved_now else None, timeline=tuple(timeline),
    )


def with_timeline(w: Withdrawal, entries: Sequence[TimelineEntry], **changes: Any) -> Withdrawal:
    return replace(w, timeline=(*w.timeline, *entries), **changes)
