"""Admin review of withdrawals (提现审核): POST /admin/withdrawals/{withdrawal_id}/approve and
/reject. From the dual-approval amount two different admins must approve (maker-checker); who
and when is kept on the record and in the audit log. The final approval sends the withdrawal to
the payout queue; a rejection returns the funds to available in the same transaction."""

from __future__ import annotations

from mall.api.auth import current_principal, staff
from mall.api.http import entrypoint, make_resolver, metrics
from mall.api.params import IdPath, error_response, source_ip
from mall.clock import utc_now
from mall.dal.queues import queue_from_env
from mall.dal.table import main_table
from mall.dal.withdrawals import WithdrawalRepository
from mall.domain.staff import Capability
from mall.schemas.withdrawals import RejectWithdrawalRequest, WithdrawalView
from mall.services.withdrawals.review import approve_withdrawal, reject_withdrawal

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
withdrawals = WithdrawalRepository(table)
payout_queue = queue_from_env("PAYOUT_QUEUE_URL")

app = make_resolver()


@app.post("/admin/withdrawals/<withdrawal_id>/approve", summary="Approve a withdrawal", tags=["admin withdrawals"],
          responses={200: {"description": "APPROVED (sent to the payout), or still PENDING_REVIEW when a second "
                                          "admin must approve",
                           "content": {"application/json": {"model": WithdrawalView}}},
                     404: error_response("`withdrawal_not_found`"),
                     409: error_response("`withdrawal_not_approvable` (not PENDING_REVIEW), "
                                         "`already_approved_by_you`")},
          **staff(Capability.MONEY_OPERATIONS))
def approve(withdrawal_id: IdPath) -> WithdrawalView:
    principal = current_principal(app)
    result = approve_withdrawal(withdrawals=withdrawals, withdrawal_id=withdrawal_id, admin=principal.subject,
                                now=utc_now(), source_ip=source_ip(app), queue=payout_queue, roles=principal.roles)
    metrics.add_metric(name="WithdrawalApprovals", unit="Count", value=1)
    return result


@app.post("/admin/withdrawals/<withdrawal_id>/reject", summary="Reject a withdrawal with a reason (funds returned)",
          tags=["admin withdrawals"],
          responses={404: error_response("`withdrawal_not_found`"),
                     409: error_response("`withdrawal_not_rejectable` (not PENDING_REVIEW: rejected once only)")},
          **staff(Capability.MONEY_OPERATIONS))
def reject(withdrawal_id: IdPath, body: RejectWithdrawalRequest) -> WithdrawalView:
    result = reject_withdrawal(withdrawals=withdrawals, withdrawal_id=withdrawal_id,
                               admin=current_principal(app).subject, reason=body.reason, now=utc_now(),
                               source_ip=source_ip(app))
    metrics.add_metric(name="WithdrawalsRejected", unit="Count", value=1)
    return result


handler = entrypoint(app)
