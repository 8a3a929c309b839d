"""Order views after payment, shipping and 核销 verification."""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field
from pydantic.config import JsonDict

from mall.schemas.common import ApiModel
from mall.schemas.order_address import EXAMPLE_MASKED_ADDRESS, AddressFields, AddressView
from mall.schemas.refunds import EXAMPLE_REFUND, RefundView
from mall.schemas.tracking import CountdownView

_SUMMARY: JsonDict = {
    "order_id": "o_01m6gnbah4xat2qntjhtks", "status": "COMPLETED", "fulfilment": "physical", "amount_fen": 41400,
    "refunded_fen": 6800, "title": "西湖龙井 250g", "line_count": 2, "created_at": "2026-11-03T12:15:08Z",
    "paid_at": "2026-11-03T12:16:02Z", "shipped_at": "2026-11-04T02:30:41Z", "completed_at": "2026-11-07T09:12:30Z"}
_SERVICE_SUMMARY: JsonDict = {
    "order_id": "o_01m6ndv78ze0z57gcjy2d9", "status": "PAID", "fulfilment": "service", "amount_fen": 19900,
    "refunded_fen": 0, "title": "茶艺体验课 (到店核销)", "line_count": 1, "created_at": "2026-11-05T08:40:12Z",
    "paid_at": "2026-11-05T08:41:03Z", "shipped_at": None, "completed_at": None}


class ShippingAddress(AddressFields):
    """The full delivery address, for the merchant to ship (admins only; every reveal is audited)."""

    model_config = ConfigDict(defer_build=True, json_schema_extra={"examples": [
        {"name": "王芳", "phone": "13812341234", "province": "浙江省", "city": "杭州市",
         "detail": "西湖区文三路 478 号华星时代广场 A 座 1201", "order_id": "o_01m6gnbah4xat2qntjhtks"}]})

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
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "items": [_SERVICE_SUMMARY, _SUMMARY],
        "next_cursor": "P20SFYJaAOwFc42ZeyJnc2kxcGsiOiJCVVlFUiN1X3hwZGlxY2FieW01ZGJ3MmdsbzN3bnoybCIsImdzaTFzayI6"
                       "IjIwMjYtMTEtMDVUMDg6NDA6MTJaIiwicGsiOiJPUkRFUiNvXzAxbTZuZHY3OHplMHo1N2djankyZDkiLCJzayI6Ik9SREVS"
                       "In0"}]})

    items: list[OrderSummary]
    next_cursor: str | None = Field(default=None, description="pass as `cursor` for the next page")


class AdminOrderSummary(OrderSummary):
    buyer_id: str
    promoter_id: str | None = Field(default=None, description="with `promoter_id`: the promoter the row is for")
    level: int | None = Field(default=None, description="with `promoter_id`: the level they earn at (1 or 2)")
    commission_fen: int | None = Field(default=None, description="with `promoter_id`: what they earn on it now")


class AdminOrderPage(ApiModel):
    model_config = ConfigDict(defer_build=True, json_schema_extra={"examples": [{"items": [
        {**_SERVICE_SUMMARY, "buyer_id": "u_yddqmfnx75j6mtsccnsr4l4d", "promoter_id": None, "level": None,
         "commission_fen": None},
        {**_SUMMARY, "buyer_id": "u_xpdiqcabym5dbw2glo3wnz2l", "promoter_id": "u_36botxbbbigbhenhtgo542dk",
         "level": 1, "commission_fen": 4032}], "next_cursor": None}]})

    items: list[AdminOrderSummary]
    next_cursor: str | None = None


class OrderDetail(OrderSummary):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        **_SUMMARY, "buyer_id": "u_xpdiqcabym5dbw2glo3wnz2l", "shipping_fen": 1000,
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


TrackingNo = Annotated[str, Field(min_length=4, max_length=40, pattern=r"^[A-Za-z0-9-]+$")]


class ParcelIn(ApiModel):
    """One parcel: a carrier id of GET /admin/shipping/carriers, its tracking number, and the order
    lines it carries (one parcel may leave ``line_ids`` out: it carries every physical line)."""

    carrier_id: Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$",
                                     description="WeChat's delivery_id, e.g. SF, ZTO")]
    tracking_no: TrackingNo
    line_ids: Annotated[list[Annotated[str, Field(min_length=1, max_length=16)]],
                        Field(default_factory=list, max_length=50, description="order lines in this parcel")]


class ShipRequest(ApiModel):
    """Either ``parcels`` (1..15: unified or split delivery) or the single-parcel ``carrier`` +
    ``tracking_no`` (``carrier`` an id or a name of WeChat's carrier list)."""

    model_config = ConfigDict(defer_build=True, json_schema_extra={"examples": [
        {"carrier": "顺丰速运", "tracking_no": "SF1428830471952", "parcels": None},
        {"carrier": None, "tracking_no": None, "parcels": [
            {"carrier_id": "SF", "tracking_no": "SF1428830471952", "line_ids": ["0"]},
            {"carrier_id": "ZTO", "tracking_no": "75312345678901", "line_ids": ["1"]}]}]})

    carrier: Annotated[str | None, Field(default=None, min_length=1, max_length=32,
                                         description="single parcel: e.g. 顺丰速运, SF")]
    tracking_no: TrackingNo | None = None
    parcels: Annotated[list[ParcelIn] | None, Field(default=None, max_length=50,
                                                    description="at most 15 (WeChat's limit; more is 422)")]


class VerifyRequest(ApiModel):
    model_config = ConfigDict(defer_build=True, json_schema_extra={"examples": [{"code": "4827 1935 0642"}]})

    code: Annotated[str, Field(min_length=4, max_length=32, pattern=r"^[0-9 \-]+$",
                               description="the buyer's 核销 code (spaces and dashes ignored)")]


class AutoConfirmResult(ApiModel):
    model_config = ConfigDict(defer_build=True)

    examined: int
    completed: int
    skipped: int
