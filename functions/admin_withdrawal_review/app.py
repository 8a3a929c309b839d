"""Admin review of withdrawals (提现审核): POST /admin/withdrawals/{withdrawal_id}/approve and
/reject. From the dual-approval amount two different admins must approve (maker-checker); who
and when is kept on the record and in the audit log. The final approval sends the withdrawal to
the payout queue; a rejection returns the funds to available in the same transaction."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

from mall.api.auth import current_principal, secured
from mall.api.http import entrypoint, make_resolver, metrics
from mall.clock import utc_now
from mall.dal.queues import queue_from_env
from mall.dal.table import main_table
from mall.domain.tokens import Role
from mall.schemas.common import ErrorBody
from mall.schemas.withdrawals import RejectWithdrawalRequest, WithdrawalView
from mall.services.withdrawals import approve_withdrawal, reject_withdrawal

table = main_table()
payout_queue = queue_from_env("PAYOUT_QUEUE_URL")
app = make_resolver()

WithdrawalIdPath = Annotated[str, Path(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


def _error(description: str) -> OpenAPIResponse:
    return {"description": description, "content": {"application/json": {"model": ErrorBody}}}


@app.post("/admin/withdrawals/<withdrawal_id>/approve", summary="Approve a withdrawal", tags=["admin withdrawals"],
          responses={200: {"description": "APPROVED (sent to the payout), or still PENDING_REVIEW when a second "
                                          "admin must approve",
                           "content": {"application/json": {"model": WithdrawalView}}},
                     404: _error("`withdrawal_not_found`"),
                     409: _error("`withdrawal_not_approvable` (not PENDING_REVIEW), `already_approved_by_you`")},
          **secured(Role.ADMIN))
def approve(withdrawal_id: WithdrawalIdPath) -> WithdrawalView:
    result = approve_withdrawal(table=table, withdrawal_id=withdrawal_id, admin=current_principal(app).subject,
                                now=utc_now(), source_ip=app.current_event.request_context.http.source_ip,
                                queue=payout_queue)
    metrics.add_metric(name="WithdrawalApprovals", unit="Count", value=1)
    return result


@app.post("/admin/withdrawals/<withdrawal_id>/reject", summary="Reject a withdrawal with a reason (funds returned)",
          tags=["admin withdrawals"],
          responses={404: _error("`withdrawal_not_found`"),
                     409: _error("`withdrawal_not_rejectable` (not PENDING_REVIEW: rejected once only)")},
          **secured(Role.ADMIN))
def reject(withdrawal_id: WithdrawalIdPath, body: RejectWithdrawalRequest) -> WithdrawalView:
    result = reject_withdrawal(table=table, withdrawal_id=withdrawal_id, admin=current_principal(app).subject,
                               reason=body.reason, now=utc_now(),
                               source_ip=app.current_event.request_context.http.source_ip)
    metrics.add_metric(name="WithdrawalsRejected", unit="Count", value=1)
    return result


handler = entrypoint(app)
