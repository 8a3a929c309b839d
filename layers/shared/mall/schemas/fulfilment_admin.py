"""The merchant console's order models: its list (with the promoter's columns), the full address revealed to
ship, and the shipping and 核销 requests. Apart from the order views (``mall.schemas.fulfilment``) so that the
buyer's functions do not build them."""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field

from mall.schemas.common import ApiModel
from mall.schemas.fulfilment import EXAMPLE_SERVICE_SUMMARY, EXAMPLE_SUMMARY, OrderSummary
from mall.schemas.order_address import AddressFields


class ShippingAddress(AddressFields):
    """The full delivery address, for the merchant to ship (admins only; every reveal is audited)."""

    model_config = ConfigDict(defer_build=True, json_schema_extra={"examples": [
        {"name": "王芳", "phone": "13812341234", "province": "浙江省", "city": "杭州市",
         "detail": "西湖区文三路 478 号华星时代广场 A 座 1201", "order_id": "o_01m6gnbah4xat2qntjhtks"}]})

    order_id: str


class AdminOrderSummary(OrderSummary):
    buyer_id: str
    promoter_id: str | None = Field(default=None, description="with `promoter_id`: the promoter the row is for")
    level: int | None = Field(default=None, description="with `promoter_id`: the level they earn at (1 or 2)")
    commission_fen: int | None = Field(default=None, description="with `promoter_id`: what they earn on it now")


class AdminOrderPage(ApiModel):
    model_config = ConfigDict(defer_build=True, json_schema_extra={"examples": [{"items": [
        {**EXAMPLE_SERVICE_SUMMARY, "buyer_id": "u_yddqmfnx75j6mtsccnsr4l4d", "promoter_id": None, "level": None,
         "commission_fen": None},
        {**EXAMPLE_SUMMARY, "buyer_id": "u_xpdiqcabym5dbw2glo3wnz2l", "promoter_id": "u_36botxbbbigbhenhtgo542dk",
         "level": 1, "commission_fen": 4032}], "next_cursor": None}]})

    items: list[AdminOrderSummary]
    next_cursor: str | None = None


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
