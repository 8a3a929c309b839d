"""Manual commission adjustments (人工佣金调整): ask (applied at once below the dual-approval amount),
approve by a second, different admin, reject, and the list of those waiting (``mall.domain.adjustments``).

Every step is idempotent: the adjustment's id is derived from the asking admin, the promoter and the
request's ``Idempotency-Key``, so a retried request finds the adjustment it made; an approval or a
rejection is a conditional change from the status and version read. Money moves in the same
transaction as the adjustment's state, through the ledger; a debit that leaves the promoter owing
cancels their withdrawals in flight, as a clawback does (``mall.services.withdrawal_debt``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from aws_lambda_powertools import Logger

from mall.api.cursor import cursors
from mall.clock import iso
from mall.dal.adjustments import AdjustmentRepository, adjustment_from_item
from mall.dal.audit import AuditEntry
from mall.dal.keys import adjustment_status_partition
from mall.dal.ledger import LedgerRefused, Wallet
from mall.dal.withdrawals import WithdrawalRepository
from mall.domain import adjustments as rules
from mall.domain.adjustments import Adjustment, AdjustmentStatus, Direction
from mall.domain.ledger import commission_adjusted
from mall.errors import Conflict, FieldProblem, InvalidInput, NotFound
from mall.schemas.adjustments import AdjustmentPage, AdjustmentView
from mall.services.withdrawal_debt import cancel_withdrawals_for_debt

logger = Logger(child=True)

ATTEMPTS = 6  # re-reads after a lost race (the wallet or the adjustment changed meanwhile)


@dataclass(frozen=True, slots=True)
class AskAdjustment:
    promoter_id: str
    direction: Direction
    amount_fen: int
    reason: str
    admin: str
    idempotency_key: str
    now: datetime
    source_ip: str | None


def view(a: Adjustment) -> AdjustmentView:
    return AdjustmentView(
        adjustment_id=a.adjustment_id, promoter_id=a.promoter_id, direction=a.direction, amount_fen=a.amount_fen,
        reason=a.reason, status=a.status.value, required_approvals=a.required_approvals, approvals=list(a.approvals),
        created_by=a.created_by, created_at=a.created_at, applied_at=a.applied_at, rejected_by=a.rejected_by,
        rejected_at=a.rejected_at, reject_reason=a.reject_reason, version=a.version)


def _audit(action: str, a: Adjustment, *, admin: str, source_ip: str | None, before: str | None) -> AuditEntry:
    return AuditEntry(action=action, actor=admin, entity_type="adjustment", entity_id=a.adjustment_id,
                      source_ip=source_ip, before={"status": before} if before else None,
                      after={"status": a.status.value, "approvals": len(a.approvals)},
                      details={"direction": a.direction, "amount_fen": a.amount_fen, "reason": a.reason,
                               "required_approvals": a.required_approvals, "reject_reason": a.reject_reason},
                      subject_user=a.promoter_id)


def _commit(repo: AdjustmentRepository, after: Adjustment, *, before: Adjustment | None, action: str, admin: str,
            now: datetime, source_ip: str | None, wallet: Wallet | None = None) -> bool:
    """One attempt at the transaction; False when something read has changed (read again). The
    postings are computed from the wallet as read (``wallet``, or read here when the change applies)."""
    postings = []
    current = wallet
    if after.status == AdjustmentStatus.APPLIED:
        current = current or repo.ledger.wallet(after.promoter_id)
        postings = commission_adjusted(balances=current.balances, promoter_id=after.promoter_id,
                                       adjustment_id=after.adjustment_id, amount_fen=after.amount_fen,
                                       credit=after.credit, at=now, reason=after.reason)
    try:
        repo.save(after, before=before, postings=postings, wallet=current,
                  audit=_audit(action, after, admin=admin, source_ip=source_ip,
                               before=before.status.value if before else None), now=now)
    except LedgerRefused:
        return False
    return True


def _after_debit(withdrawals: WithdrawalRepository, a: Adjustment, now: datetime) -> None:
    if a.status == AdjustmentStatus.APPLIED and not a.credit:
        cancel_withdrawals_for_debt(withdrawals=withdrawals, promoter_id=a.promoter_id, now=now)


def ask(command: AskAdjustment, *, repo: AdjustmentRepository, withdrawals: WithdrawalRepository) -> AdjustmentView:
    """A new adjustment: APPLIED at once below the dual-approval amount, else PENDING for a second
    admin. The same request again (same admin, promoter and key) answers the adjustment it made; the
    same key with another body is a 422."""
    c = command
    adjustment_id = rules.adjustment_id_for(admin=c.admin, promoter_id=c.promoter_id,
                                            idempotency_key=c.idempotency_key)
    for _ in range(ATTEMPTS):
        context = repo.context(c.promoter_id, adjustment_id)
        if context.adjustment is not None:
            if not context.adjustment.same_request(promoter_id=c.promoter_id, direction=c.direction,
                                                   amount_fen=c.amount_fen, reason=c.reason):
                raise InvalidInput("this Idempotency-Key was used for another adjustment",
                                   code="idempotency_key_reused",
                                   fields=[FieldProblem("header:idempotency-key", "already used with another body")])
            return view(context.adjustment)
        if context.promoter_status is None:
            raise NotFound("no such promoter", code="promoter_not_found")
        new = rules.new_adjustment(adjustment_id=adjustment_id, promoter_id=c.promoter_id,
                                   promoter_status=context.promoter_status, direction=c.direction,
                                   amount_fen=c.amount_fen, reason=c.reason, admin=c.admin, at=iso(c.now),
                                   dual_approval_from_fen=context.dual_approval_from_fen)
        if _commit(repo, new, before=None, action="adjustment.create", admin=c.admin, now=c.now,
                   source_ip=c.source_ip, wallet=context.wallet):
            logger.info("commission adjustment", extra={"adjustment_id": adjustment_id, "status": new.status.value,
                                                        "direction": new.direction, "amount_fen": new.amount_fen})
            _after_debit(withdrawals, new, c.now)
            return view(new)
    raise Conflict("the promoter's balance kept changing; retry", code="wallet_changed")


def _existing(repo: AdjustmentRepository, adjustment_id: str) -> Adjustment:
    found = repo.get(adjustment_id)
    if found is None:
        raise NotFound("no such adjustment", code="adjustment_not_found")
    return found


def approve(*, repo: AdjustmentRepository, withdrawals: WithdrawalRepository, adjustment_id: str, admin: str,
            now: datetime, source_ip: str | None) -> AdjustmentView:
    """The second admin's approval: PENDING → APPLIED with its postings, in one transaction."""
    for _ in range(ATTEMPTS):
        before = _existing(repo, adjustment_id)
        after = rules.approve(before, admin=admin, at=iso(now))
        if _commit(repo, after, before=before, action="adjustment.approve", admin=admin, now=now,
                   source_ip=source_ip):
            _after_debit(withdrawals, after, now)
            return view(after)
    raise Conflict("the adjustment or the balance kept changing; retry", code="adjustment_changed")


def reject(*, repo: AdjustmentRepository, adjustment_id: str, admin: str, reason: str, now: datetime,
           source_ip: str | None) -> AdjustmentView:
    """PENDING → REJECTED with the reason; nothing moves."""
    for _ in range(ATTEMPTS):
        before = _existing(repo, adjustment_id)
        after = rules.reject(before, admin=admin, at=iso(now), reason=reason)
        if _commit(repo, after, before=before, action="adjustment.reject", admin=admin, now=now,
                   source_ip=source_ip):
            return view(after)
    raise Conflict("the adjustment kept changing; retry", code="adjustment_changed")


def by_status(*, repo: AdjustmentRepository, status: str, limit: int, cursor: str | None) -> AdjustmentPage:
    """Adjustments in one status (PENDING: waiting for a second admin), newest first."""
    start = cursors.decode(cursor, partition=("gsi1pk", adjustment_status_partition(status)))
    page = repo.by_status(status, limit=limit, start_key=start)
    return AdjustmentPage(items=[view(adjustment_from_item(i)) for i in page.items],
                          next_cursor=cursors.encode(page.last_key))
