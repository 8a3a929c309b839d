"""Placing an order (request and response models); its answer extends the payment parameters' answer
(``mall.schemas.order_payment``), which the payment route of an order placed earlier answers with alone."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from mall.domain.orders import MAX_LINES, MAX_QUANTITY
from mall.schemas.common import ApiModel
from mall.schemas.order_address import (  # the masked address, the same in every order view
    EXAMPLE_MASKED_ADDRESS,
    AddressView,
)
from mall.schemas.order_payment import AWAITING_PAYMENT, OrderPaymentResponse, PaymentParams

__all__ = ["AddressRequest", "CartLineId", "OrderLineRequest", "OrderPaymentResponse", "PaymentParams",
           "PlaceOrderRequest", "PlaceOrderResponse", "PlacedOrderLineView", "ProductId", "ShareSourceRequest"]

ProductId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
CartLineId = Annotated[str, Field(pattern=r"^cl_[0-9a-f]{20}$", description="a line's `line_id` from GET /cart")]


class OrderLineRequest(ApiModel):
    product_id: ProductId
    quantity: Annotated[int, Field(strict=True, ge=1, le=MAX_QUANTITY)]
    sku_id: Annotated[str | None, Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_-]+$", description=(
        "the SKU bought (GET /products/{id} skus[].sku_id): required for a product with specs, omitted otherwise"))] \
        = None


class AddressRequest(ApiModel):
    """收货地址. Required when any line is a physical product. Stored encrypted (name, phone, detail)."""

    name: Annotated[str, Field(min_length=1, max_length=30, description="recipient's name (收货人)")]
    phone: Annotated[str, Field(pattern=r"^\+?[0-9][0-9 -]{4,19}$", description="e.g. 13812341234")]
    province: Annotated[str, Field(min_length=1, max_length=20)]
    city: Annotated[str, Field(min_length=1, max_length=30)]
    detail: Annotated[str, Field(min_length=1, max_length=120, description="district, street, building")]


class ShareSourceRequest(ApiModel):
    """分享来源: the promoter's link, QR scene or poster the buyer came through."""

    promoter_code: Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[0-9A-Za-z]+$")]
    source: Literal["link", "qr", "poster"]
    product_id: ProductId | None = None


class PlaceOrderRequest(ApiModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "lines": [{"product_id": "p_01m4cmckqvx119jymzac3w", "quantity": 2},
                  {"product_id": "p_01m4cmyx52990zhvaddmkr", "quantity": 1}],
        "address": {"name": "王芳", "phone": "13812341234", "province": "浙江省", "city": "杭州市",
                    "detail": "西湖区文三路 478 号华星时代广场 A 座 1201"},
        "share_source": {"promoter_code": "JXZtwULX", "source": "poster", "product_id": "p_01m4cmckqvx119jymzac3w"},
        "device_id": "a8f0c2d4-5e61-4b7a-9c3e-2d1f0e9b8a76", "coupon_id": "cp_01HZX"}]})

    lines: Annotated[list[OrderLineRequest], Field(min_length=1, max_length=MAX_LINES)]
    address: AddressRequest | None = None
    address_id: Annotated[str | None, Field(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9_-]+$",
                                            description="a saved address of the caller's address book "
                                                        "(`GET /me/addresses`), instead of `address`")] = None
    share_source: ShareSourceRequest | None = None
    device_id: Annotated[str | None, Field(min_length=1, max_length=128,
                                           description="device fingerprint (or header `x-device-id`)")] = None
    cart_line_ids: Annotated[list[CartLineId] | None, Field(
        max_length=MAX_LINES,
        description="结算: the cart lines this order checks out, each matching one of `lines` (same product); "
                    "removed from the cart with the order, in its transaction")] = None
    coupon_id: Annotated[str | None, Field(
        min_length=3, max_length=80, pattern=r"^[A-Za-z0-9_-]+$",
        description="one of the caller's unused coupons (`GET /me/coupons`): its discount is spread over the "
                    "lines in its scope and it is used by this order")] = None


class PlacedOrderLineView(BaseModel):
    """A line of an order just placed (its refunds are in the order detail's `OrderLineView`)."""

    line_id: str
    product_id: str
    name: str
    type: str
    quantity: int
    unit_price_fen: int
    paid_fen: int = Field(description="the line's amount after discounts, without shipping")
    sku_id: str | None = Field(default=None, description="the SKU bought (null: a product without specs)")
    sku_label: str | None = Field(default=None, description="its spec values, e.g. 成人/250g")


class PlaceOrderResponse(OrderPaymentResponse):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        **AWAITING_PAYMENT, "goods_fen": 40400, "shipping_fen": 1000, "discount_fen": 0,
        "lines": [{"line_id": "0", "product_id": "p_01m4cmckqvx119jymzac3w", "name": "西湖龙井 250g",
                   "type": "physical", "quantity": 2, "unit_price_fen": 16800, "paid_fen": 33600,
                   "sku_id": None, "sku_label": None},
                  {"line_id": "1", "product_id": "p_01m4cmyx52990zhvaddmkr", "name": "白瓷盖碗 150ml",
                   "type": "physical", "quantity": 1, "unit_price_fen": 6800, "paid_fen": 6800,
                   "sku_id": None, "sku_label": None}],
        "address": EXAMPLE_MASKED_ADDRESS, "created_at": "2026-11-03T12:15:08Z"}]})

    goods_fen: int
    shipping_fen: int
    discount_fen: int
    lines: list[PlacedOrderLineView]
    address: AddressView | None = None
    created_at: str
