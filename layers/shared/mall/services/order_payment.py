"""Paying an order placed earlier: fresh ``wx.requestPayment`` parameters (``POST /orders/{id}/payment``),
and the prepay that placing an order makes too.

Apart from ``mall.services.orders`` so that the payment route does not load what placing an order
needs (the cart, the placement reads, addresses, coupons, attribution): about a fifth of its cold start.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from mall.clock import iso
from mall.dal.identity import CustomerRepository
from mall.dal.orders import OrderRepository
from mall.domain.orders import Order, OrderStatus
from mall.errors import Conflict, NotFound, UpstreamUnavailable
from mall.integrations.wechatpay.errors import WeChatPayError
from mall.schemas.order_payment import OrderPaymentResponse, PaymentParams

if TYPE_CHECKING:
    from mall.integrations.wechatpay.client import WeChatPayClient


def payment_description(names: Sequence[str]) -> str:
    first = names[0]
    text = first if len(names) == 1 else f"{first} 等{len(names)}件商品"
    return text[:127]


def prepay(pay: WeChatPayClient, *, order_id: str, names: Sequence[str], amount_fen: int,
           openid: str, notify_url: str, expires_at: datetime) -> PaymentParams:
    """Raises ``WeChatPayError`` (or ``ValueError`` for a value WeChat Pay would refuse)."""
    prepay_id = pay.jsapi_prepay(order_id, description=payment_description(names), amount_fen=amount_fen,
                                 payer_openid=openid, notify_url=notify_url, time_expire=expires_at)
    return PaymentParams(**pay.pay_params(prepay_id))


def payment_for_order(*, order_id: str, buyer_id: str, orders: OrderRepository, customers: CustomerRepository,
                      pay: Callable[[], WeChatPayClient], notify_url: str, now: datetime) -> OrderPaymentResponse:
    """Fresh ``wx.requestPayment`` parameters for the caller's own unpaid order (a new prepay with
    the same ``out_trade_no``: WeChat Pay keeps one payment per order)."""
    order: Order | None = orders.get(order_id)
    if order is None or order.buyer_id != buyer_id:
        raise NotFound("no such order", code="order_not_found")
    if order.status != OrderStatus.CREATED:
        raise Conflict(f"order is {order.status.value}, not awaiting payment", code="order_not_payable",
                       details={"status": order.status.value})
    if now >= order.expires:
        raise Conflict("the order expired before payment", code="order_expired",
                       details={"status": order.status.value, "expires_at": iso(order.expires)})
    customer = customers.get(buyer_id)
    if customer is None:
        raise NotFound("account no longer exists", code="account_not_found")
    try:
        payment = prepay(pay(), order_id=order.order_id, names=[line.name for line in order.lines],
                          amount_fen=order.amount_fen, openid=customer.openid, notify_url=notify_url,
                          expires_at=order.expires)
    except WeChatPayError as exc:
        if exc.code == "ORDERPAID":
            raise Conflict("the order is paid; its confirmation is on its way", code="order_already_paid",
                           details={"status": order.status.value}) from exc
        if exc.code == "ORDER_CLOSED":
            raise Conflict("the order was closed before payment", code="order_expired",
                           details={"status": order.status.value}) from exc
        raise UpstreamUnavailable("WeChat Pay is unavailable; retry shortly", code="payment_unavailable",
                                  details={"wechatpay_code": exc.code}) from exc
    return OrderPaymentResponse(order_id=order.order_id, status=order.status.value, amount_fen=order.amount_fen,
                                expires_at=iso(order.expires), payment=payment)
