"""Order views after payment, shipping and 核销 verification."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from mall.schemas.common import ApiModel
from mall.schemas.refunds import RefundView


class _Address(ApiModel):
    name: str
    phone: str
    province: str | None = None
    city: str | None = None
    detail: str


class AddressView(_Address):
    """Always masked (张*, 138****1234, the first characters of the street address)."""


class ShippingAddress(_Address):
    """The full delivery address, for the merchant to ship (admins only; every reveal is audited)."""

    order_id: str


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
    items: list[OrderSummary]
    next_cursor: str | None = Field(default=None, description="pass as `cursor` for the next page")


class AdminOrderSummary(OrderSummary):
    buyer_id: str


class AdminOrderPage(ApiModel):
    items: list[AdminOrderSummary]
    next_cursor: str | None = None


class OrderDetail(OrderSummary):
    buyer_id: str
    shipping_fen: int
    lines: list[OrderLineView]
    address: AddressView | None = None
    carrier: str | None = None
    tracking_no: str | None = None
    completed_by: str | None = Field(default=None, description="buyer | auto | verify")
    verify_code: str | None = Field(default=None, description=(
        "the 核销 code to show at the counter (service orders, while PAID; only to the buyer)"))
    history: list[HistoryView]
    refunds: list[RefundView]


class ShipRequest(ApiModel):
    carrier: Annotated[str, Field(min_length=1, max_length=32, description="e.g. 顺丰速运, SF")]
    tracking_no: Annotated[str, Field(min_length=4, max_length=40, pattern=r"^[A-Za-z0-9-]+$")]


class VerifyRequest(ApiModel):
    code: Annotated[str, Field(min_length=4, max_length=32, pattern=r"^[0-9 \-]+$",
                               description="the buyer's 核销 code (spaces and dashes ignored)")]


class AutoConfirmResult(ApiModel):
    examined: int
    completed: int
    skipped: int
