"""Order views after payment: the buyer's list and an order's detail (which the merchant's views and the
receipt's confirmation answer with too), and the auto-confirmation's result. The merchant's list, an address
revealed to ship and the shipping and 核销 requests are in ``mall.schemas.fulfilment_admin``."""

from __future__ import annotations

from pydantic import ConfigDict, Field
from pydantic.config import JsonDict

from mall.schemas.common import ApiModel
from mall.schemas.countdown import CountdownView
from mall.schemas.order_address import EXAMPLE_MASKED_ADDRESS, AddressView
from mall.schemas.refund_view import EXAMPLE_REFUND, RefundView

EXAMPLE_SUMMARY: JsonDict = {
    "order_id": "o_01m6gnbah4xat2qntjhtks", "status": "COMPLETED", "fulfilment": "physical", "amount_fen": 41400,
    "refunded_fen": 6800, "title": "西湖龙井 250g", "line_count": 2, "created_at": "2026-11-03T12:15:08Z",
    "paid_at": "2026-11-03T12:16:02Z", "shipped_at": "2026-11-04T02:30:41Z", "completed_at": "2026-11-07T09:12:30Z"}
EXAMPLE_SERVICE_SUMMARY: JsonDict = {
    "order_id": "o_01m6ndv78ze0z57gcjy2d9", "status": "PAID", "fulfilment": "service", "amount_fen": 19900,
    "refunded_fen": 0, "title": "茶艺体验课 (到店核销)", "line_count": 1, "created_at": "2026-11-05T08:40:12Z",
    "paid_at": "2026-11-05T08:41:03Z", "shipped_at": None, "completed_at": None}


class OrderLineView(ApiModel):
    line_id: str
    product_id: str
    name: str
    type: str = Field(description="physical | service | virtual")
    quantity: int
    unit_price_fen: int
    paid_fen: int = Field(description="what the buyer paid for the line (without shipping)")
    refunded_fen: int
    refund_pending_fen: int = Field(description="in refunds not finished yet")
    refundable_fen: int = Field(description="what a new refund request may still ask for")


class HistoryView(ApiModel):
    status: str
    at: str
    by: str = Field(description="who or what made the change: buyer, admin:<name>, auto, payment, refund…")
    note: str | None = None


class OrderSummary(ApiModel):
    order_id: str
    status: str = Field(description="CREATED | PAID | EXPIRED | PAID_AFTER_EXPIRY | SHIPPED | COMPLETED | CLOSED")
    fulfilment: str = Field(description="physical (shipped) | service (核销 code) | virtual (delivered on payment)")
    amount_fen: int
    refunded_fen: int
    title: str = Field(description="the first line's product name")
    line_count: int
    created_at: str
    paid_at: str | None = None
    shipped_at: str | None = None
    completed_at: str | None = None


class OrderPage(ApiModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "items": [EXAMPLE_SERVICE_SUMMARY, EXAMPLE_SUMMARY],
        "next_cursor": "P20SFYJaAOwFc42ZeyJnc2kxcGsiOiJCVVlFUiN1X3hwZGlxY2FieW01ZGJ3MmdsbzN3bnoybCIsImdzaTFzayI6"
                       "IjIwMjYtMTEtMDVUMDg6NDA6MTJaIiwicGsiOiJPUkRFUiNvXzAxbTZuZHY3OHplMHo1N2djankyZDkiLCJzayI6Ik9SREVS"
                       "In0"}]})

    items: list[OrderSummary]
    next_cursor: str | None = Field(default=None, description="pass as `cursor` for the next page")


class OrderDetail(OrderSummary):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        **EXAMPLE_SUMMARY, "buyer_id": "u_xpdiqcabym5dbw2glo3wnz2l", "shipping_fen": 1000,
        "lines": [
            {"line_id": "0", "product_id": "p_01m4cmckqvx119jymzac3w", "name": "西湖龙井 250g", "type": "physical",
             "quantity": 2, "unit_price_fen": 16800, "paid_fen": 33600, "refunded_fen": 0, "refund_pending_fen": 0,
             "refundable_fen": 33600},
            {"line_id": "1", "product_id": "p_01m4cmyx52990zhvaddmkr", "name": "白瓷盖碗 150ml", "type": "physical",
             "quantity": 1, "unit_price_fen": 6800, "paid_fen": 6800, "refunded_fen": 6800, "refund_pending_fen": 0,
             "refundable_fen": 0}],
        "address": EXAMPLE_MASKED_ADDRESS, "carrier": "顺丰速运", "tracking_no": "SF1428830471952",
        "completed_by": "buyer", "verify_code": None, "auto_confirm": None,
        "history": [
            {"status": "CREATED", "at": "2026-11-03T12:15:08Z", "by": "u_xpdiqcabym5dbw2glo3wnz2l",
             "note": "order placed"},
            {"status": "PAID", "at": "2026-11-03T12:16:02Z", "by": "wechatpay",
             "note": "transaction 4200002391202611034157236489"},
            {"status": "SHIPPED", "at": "2026-11-04T02:30:41Z", "by": "admin:li.na",
             "note": "顺丰速运 SF1428830471952"},
            {"status": "COMPLETED", "at": "2026-11-07T09:12:30Z", "by": "buyer", "note": "receipt confirmed"}],
        "refunds": [EXAMPLE_REFUND]}]})

    buyer_id: str
    shipping_fen: int
    lines: list[OrderLineView]
    address: AddressView | None = None
    carrier: str | None = None
    tracking_no: str | None = None
    completed_by: str | None = Field(default=None, description="buyer | auto | verify | wechat")
    verify_code: str | None = Field(default=None, description=(
        "the 核销 code to show at the counter (service orders, while PAID; only to the buyer)"))
    auto_confirm: CountdownView | None = Field(default=None, description=(
        "while SHIPPED: from when the auto-confirm countdown runs (shipment, or delivery once tracking knows "
        "it) and when the order confirms itself"))
    history: list[HistoryView]
    refunds: list[RefundView]


class AutoConfirmResult(ApiModel):
    model_config = ConfigDict(defer_build=True)

    examined: int
    completed: int
    skipped: int
