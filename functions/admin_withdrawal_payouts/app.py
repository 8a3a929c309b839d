"""Admin bank transfers (银行转账打款): POST /admin/withdrawals/{withdrawal_id}/mark-paid
``{reference}`` (APPROVED → PAID, withdrawing → withdrawn, the fee to the merchant) and
POST /admin/withdrawals/{withdrawal_id}/mark-failed ``{reason}`` (APPROVED → FAILED, funds back to
available). Bank-method withdrawals only; each mark is audited (who, when, from where) in the same
transaction as the change; repeating the same mark answers the withdrawal as it is."""

from __future__ import annotations

from mall.api.auth import current_principal, staff
from mall.api.http import entrypoint, make_resolver
from mall.api.params import IdPath, error_response, source_ip
from mall.clock import utc_now
from mall.dal.payouts import PayoutRepository
from mall.dal.table import main_table
from mall.domain.staff import Capability
from mall.schemas.payouts import MarkFailedRequest, MarkPaidRequest, PayoutView
from mall.services.payouts.bank import mark_bank_failed, mark_bank_paid

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
payouts = PayoutRepository(table)

app = make_resolver()


@app.post("/admin/withdrawals/<withdrawal_id>/mark-paid", summary="Mark a bank-transfer withdrawal paid",
          tags=["admin withdrawals"],
          responses={404: error_response("`withdrawal_not_found`"),
                     409: error_response("`withdrawal_not_bank` (WeChat transfers finish by notification) or "
                                         "`withdrawal_not_markable` (not APPROVED; `details.status` says what it is)")},
          **staff(Capability.MONEY_OPERATIONS))
def mark_paid(withdrawal_id: IdPath, body: MarkPaidRequest) -> PayoutView:
    return mark_bank_paid(payouts=payouts, withdrawal_id=withdrawal_id, reference=body.reference,
                          admin=current_principal(app).subject, now=utc_now(), source_ip=source_ip(app))


@app.post("/admin/withdrawals/<withdrawal_id>/mark-failed", summary="Mark a bank-transfer withdrawal failed",
          tags=["admin withdrawals"],
          responses={404: error_response("`withdrawal_not_found`"),
                     409: error_response("`withdrawal_not_bank` or `withdrawal_not_markable`")},
          **staff(Capability.MONEY_OPERATIONS))
def mark_failed(withdrawal_id: IdPath, body: MarkFailedRequest) -> PayoutView:
    return mark_bank_failed(payouts=payouts, withdrawal_id=withdrawal_id, reason=body.reason,
                            admin=current_principal(app).subject, now=utc_now(), source_ip=source_ip(app))


handler = entrypoint(app)
