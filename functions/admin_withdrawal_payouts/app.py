"""Admin bank transfers (银行转账打款): POST /admin/withdrawals/{withdrawal_id}/mark-paid
``{reference}`` (APPROVED → PAID, withdrawing → withdrawn, the fee to the merchant) and
POST /admin/withdrawals/{withdrawal_id}/mark-failed ``{reason}`` (APPROVED → FAILED, funds back to
available). Bank-method withdrawals only; each mark is audited (who, when, from where) in the same
transaction as the change; repeating the same mark answers the withdrawal as it is."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

from mall.api.auth import current_principal, secured
from mall.api.http import entrypoint, make_resolver
from mall.clock import utc_now
from mall.dal.table import main_table
from mall.domain.tokens import Role
from mall.schemas.common import ErrorBody
from mall.schemas.payouts import MarkFailedRequest, MarkPaidRequest, PayoutView
from mall.services.payouts import mark_bank_failed, mark_bank_paid

table = main_table()
app = make_resolver()

WithdrawalIdPath = Annotated[str, Path(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9_]+$")]


def _error(description: str) -> OpenAPIResponse:
    return {"description": description, "content": {"application/json": {"model": ErrorBody}}}


def _source_ip() -> str | None:
    return app.current_event.request_context.http.source_ip or None


@app.post("/admin/withdrawals/<withdrawal_id>/mark-paid", summary="Mark a bank-transfer withdrawal paid",
          tags=["admin withdrawals"],
          responses={404: _error("`withdrawal_not_found`"),
                     409: _error("`withdrawal_not_bank` (WeChat transfers finish by notification) or "
                                 "`withdrawal_not_markable` (not APPROVED; `details.status` says what it is)")},
          **secured(Role.ADMIN))
def mark_paid(withdrawal_id: WithdrawalIdPath, body: MarkPaidRequest) -> PayoutView:
    return mark_bank_paid(table=table, withdrawal_id=withdrawal_id, reference=body.reference,
                          admin=current_principal(app).subject, now=utc_now(), source_ip=_source_ip())


@app.post("/admin/withdrawals/<withdrawal_id>/mark-failed", summary="Mark a bank-transfer withdrawal failed",
          tags=["admin withdrawals"],
          responses={404: _error("`withdrawal_not_found`"),
                     409: _error("`withdrawal_not_bank` or `withdrawal_not_markable`")},
          **secured(Role.ADMIN))
def mark_failed(withdrawal_id: WithdrawalIdPath, body: MarkFailedRequest) -> PayoutView:
    return mark_bank_failed(table=table, withdrawal_id=withdrawal_id, reason=body.reason,
                            admin=current_principal(app).subject, now=utc_now(), source_ip=_source_ip())


handler = entrypoint(app)
