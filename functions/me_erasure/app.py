"""POST /me/erasure — the customer erases their own personal data (个人信息删除).

Own account only: the route takes no user id. Anonymises personal data (nickname, phone, devices,
shipping names/phones/addresses, bank account details) and keeps every financial record (orders,
commissions, ledger, withdrawals, the binding). Idempotent; audited (``customer.erase``, actor = the
customer). Refused with 409 ``withdrawal_in_flight`` while a withdrawal is still being processed, and
with 409 ``order_awaiting_delivery`` while a paid order with goods to ship is not yet received.
The account is marked erased (``erased_at``), not closed: see ``mall.services.erasure``."""

from __future__ import annotations

from mall.api.auth import current_principal, secured
from mall.api.http import entrypoint, make_resolver
from mall.api.params import error_response
from mall.clock import utc_now
from mall.dal.erasure import ErasureRepository
from mall.dal.table import main_table
from mall.domain.tokens import Role
from mall.schemas.rules import ErasureRequest, ErasureResult
from mall.services.erasure import erase_customer

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
erasure = ErasureRepository(table)

app = make_resolver()


@app.post("/me/erasure", summary="Erase my personal data (个人信息删除)",
          description="Removes the caller's nickname, phone, devices and IPs, the names, phones and addresses on "
                      "their orders and the account details of their bank withdrawals. Orders, amounts, "
                      "commissions, the ledger and the referral binding are kept (financial records). Cannot be "
                      "undone; repeating it is harmless (`already_erased`).",
          tags=["identity"],
          responses={200: {"description": "erased (or already erased)",
                           "content": {"application/json": {"model": ErasureResult}}},
                     404: error_response("`account_not_found`"),
                     409: error_response("`withdrawal_in_flight`: `details.withdrawals` lists them (id, status); "
                                         "`order_awaiting_delivery`: a paid order's parcel is not yet received (its "
                                         "address is still needed), `details.orders` lists them (id, status)")},
          **secured(Role.CUSTOMER, Role.PROMOTER))
def erase(body: ErasureRequest) -> ErasureResult:
    return erase_customer(repo=erasure, user_id=current_principal(app).subject, now=utc_now())


handler = entrypoint(app)
