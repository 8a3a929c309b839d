"""POST /orders/{order_id}/payment — fresh ``wx.requestPayment`` parameters for the caller's own
unpaid order (after the first prepay failed, or the mini-program lost them)."""

from __future__ import annotations

from mall.api.auth import current_principal, secured
from mall.api.http import entrypoint, make_resolver
from mall.api.params import IdPath, error_response
from mall.clock import utc_now
from mall.dal.identity import CustomerRepository
from mall.dal.orders import OrderRepository
from mall.dal.table import main_table
from mall.domain.tokens import Role
from mall.integrations.wechatpay.factory import merchant_config, pay_client
from mall.schemas.order_payment import OrderPaymentResponse
from mall.services.order_payment import payment_for_order

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
orders = OrderRepository(table)
customers = CustomerRepository(table)
app = make_resolver()


@app.post("/orders/<order_id>/payment", summary="Get payment parameters for an unpaid order", tags=["orders"],
          **secured(Role.CUSTOMER, Role.PROMOTER),
          responses={200: {"description": "signed parameters for wx.requestPayment",
                           "content": {"application/json": {"model": OrderPaymentResponse}}},
                     404: error_response("no such order of yours"),
                     409: error_response("`order_not_payable`, `order_expired`, `order_already_paid`"),
                     503: error_response("WeChat Pay unavailable; retry")})
def payment(order_id: IdPath) -> OrderPaymentResponse:
    principal = current_principal(app)
    return payment_for_order(order_id=order_id, buyer_id=principal.subject, orders=orders, customers=customers,
                             pay=pay_client, notify_url=merchant_config().notify_url, now=utc_now())


handler = entrypoint(app, traced=True)  # template.yaml: Tracing: Active
