"""Carriers and WeChat shipping-information uploads, as the admin sees them."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

_FAILED: JsonDict = {"order_id": "o_01m6gnbah4xat2qntjhtks", "revision": 1, "logistics_type": 1, "status": "FAILED",
           "attempts": 1, "requested_at": "2026-11-04T02:30:41Z", "answered_at": "2026-11-04T02:30:43Z",
           "errcode": 10060004, "errmsg": "支付单处于不可发货的状态",
           "explanation": "支付单处于不可发货的状态 (not shippable: refunded or closed)"}


class Carrier(BaseModel):
    carrier_id: str = Field(description="WeChat's delivery_id: the value of parcels[].carrier_id")
    name: str


class CarrierList(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [
        {"carrier_id": "SF", "name": "顺丰速运"}, {"carrier_id": "ZTO", "name": "中通快递"}]}]})

    items: list[Carrier]


class UploadView(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_FAILED]})

    order_id: str
    revision: int = Field(description="1: the first upload; 2: the one change WeChat allows")
    logistics_type: int = Field(description="1 express, 3 virtual, 4 self-pickup (核销)")
    status: str = Field(description="PENDING | SENDING | UPLOADED | FAILED")
    attempts: int
    requested_at: str
    answered_at: str | None = None
    errcode: int | None = Field(default=None, description="WeChat's last answer (0: accepted)")
    errmsg: str | None = None
    explanation: str | None = Field(default=None, description="what WeChat's errcode means")


class UploadPage(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [_FAILED], "next_cursor": None}]})

    items: list[UploadView]
    next_cursor: str | None = None
