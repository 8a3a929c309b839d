"""Placing an order and fetching its payment parameters (request and response models)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from mall.domain.orders import MAX_LINES, MAX_QUANTITY
from mall.schemas.common import ApiModel
from mall.schemas.fulfilment import AddressView  # the masked address, the same in every order view

ProductId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


class OrderLineRequest(ApiModel):
    product_id: ProductId
    quantity: Annotated[int, Field(strict=True, ge=1, le=MAX_QUANTITY)]


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
    lines: Annotated[list[OrderLineRequest], Field(min_length=1, max_length=MAX_LINES)]
    address: AddressRequest | None = None
    share_source: ShareSourceRequest | None = None
    device_id: Annotated[str | None, Field(min_length=1, max_length=128,
                                           description="device fingerprint (or header `x-device-id`)")] = None


class PlacedOrderLineView(BaseModel):
    """A line of an order just placed (its refunds are in the order detail's `OrderLineView`)."""

    line_id: str
    product_id: str
    name: str
    type: str
    quantity: int
    unit_price_fen: int
    paid_fen: int = Field(description="the line's amount after discounts, without shipping")


class PaymentParams(BaseModel):
    """Pass as-is to ``wx.requestPayment`` (keys exactly as WeChat names them)."""

    appId: str
    timeStamp: str
    nonceStr: str
    package: str
    signType: str
    paySign: str


class OrderPaymentResponse(BaseModel):
    order_id: str
    status: str
    amount_fen: int
    expires_at: str = Field(description="ISO-8601 UTC: unpaid orders are closed and their stock released then")
    payment: PaymentParams | None = Field(
        description="the signed `wx.requestPayment` parameters; null when WeChat Pay could not be reached "
                    "(the order stays CREATED: fetch them again with POST /orders/{order_id}/payment)")
    payment_error: str | None = None


class PlaceOrderResponse(OrderPaymentResponse):
    goods_fen: int
    shipping_fen: int
    discount_fen: int
    lines: list[PlacedOrderLineView]
    address: AddressView | None = None
    created_at: str
