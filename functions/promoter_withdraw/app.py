"""POST /promoter/withdrawals — ask to withdraw available commission (提现申请).

``Idempotency-Key`` is required: a retry returns the first result, never a second withdrawal.
Every limit (minimum, maximum, daily count and amount, method, balance, debt, risk hold, active
promoter) is checked, then enforced again by the transaction's conditions; a refusal names the
rule and its limit (``error.details``) and changes nothing. An auto-approved request is handed to
the payout queue after the commit."""

from __future__ import annotations

from http import HTTPStatus

from mall.api.auth import current_principal, secured
from mall.api.http import Response, entrypoint, make_resolver, metrics
from mall.api.params import error_response
from mall.api.request_key import IdempotencyKeyHeader, marked
from mall.clock import utc_now
from mall.dal.queues import queue_from_env
from mall.dal.request_markers import RequestMarkers
from mall.dal.settings import SettingsRepository
from mall.dal.table import main_table
from mall.dal.withdrawals import WithdrawalRepository
from mall.domain.tokens import Role
from mall.schemas.withdrawals import WithdrawalRequest, WithdrawalView
from mall.services.withdrawals.request import request_withdrawal

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
withdrawals = WithdrawalRepository(table)
settings = SettingsRepository(table)
markers = RequestMarkers(table)
payout_queue = queue_from_env("PAYOUT_QUEUE_URL")

app = make_resolver()


@app.post("/promoter/withdrawals", summary="Request a withdrawal", tags=["withdrawals"], status_code=201,
          description="`amount_fen` (fee included) leaves `available` at once. Refusals carry "
                      "`error.details.rule` and `error.details.limit`.",
          responses={201: {"description": "PENDING_REVIEW, or APPROVED at once (auto review)",
                           "content": {"application/json": {"model": WithdrawalView}}},
                     403: error_response("`promoter_not_active`"),
                     409: error_response("`insufficient_balance`, `daily_count_exceeded`, `daily_amount_exceeded`, "
                                         "`outstanding_debt`, `risk_hold`, `withdrawal_contention`"),
                     422: error_response("`amount_below_minimum`, `amount_above_maximum`, `method_not_allowed`, "
                                         "`wechat_real_name_required`, `bank_account_required`, validation errors")},
          **secured(Role.PROMOTER))
def request(body: WithdrawalRequest, idempotency_key: IdempotencyKeyHeader) -> Response[WithdrawalView]:
    principal = current_principal(app)
    now = utc_now()
    # The key's marker is read with the request's facts and written in its transaction.
    request = marked(markers, idempotency_key, principal.subject, body, now)
    result = request_withdrawal(withdrawals=withdrawals, settings=settings, promoter_id=principal.subject,
                                body=body, now=now, queue=payout_queue, marked=request)
    metrics.add_metric(name="WithdrawalsRequested", unit="Count", value=1)
    return Response(status_code=HTTPStatus.CREATED, content_type="application/json", body=result)


handler = entrypoint(app)
