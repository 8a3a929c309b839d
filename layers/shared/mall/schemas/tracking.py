"""Parcel tracking views (物流轨迹): the buyer's, the promoter's (buyer masked) and the admin's."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field

from mall.schemas.common import ApiModel
from mall.schemas.countdown import CountdownView

__all__ = ["EXAMPLE_TRACKING", "CountdownView", "ParcelView", "TrackEventView", "TrackingPushReply", "TrackingView"]

_EVENT = {"at": "2026-11-05T06:12:40Z", "context": "【杭州市】已签收，签收人：本人，如有疑问请联系派件员",
          "status": "签收", "area": "浙江,杭州市,西湖区"}
_PARCEL = {"index": 0, "carrier": "SF", "tracking_no": "SF1428830471952", "tracked": True, "state": "delivered",
           "signed": True, "signed_at": "2026-11-05T06:12:40Z", "updated_at": "2026-11-05T06:20:03Z",
           "events": [_EVENT, {"at": "2026-11-04T10:31:07Z", "context": "【杭州转运中心】已发出", "status": "在途",
                               "area": "浙江,杭州市"}]}
_COUNTDOWN = {"runs_from": "delivery", "started_at": "2026-11-05T06:12:40Z", "ends_at": "2026-11-15T06:12:40Z",
              "days": 10}
EXAMPLE_TRACKING: dict[str, Any] = {
    "order_id": "o_01m4cn2h7j3t0v9k2w5r8y4b6d", "status": "SHIPPED", "shipped_at": "2026-11-04T02:30:41Z",
                    "delivered_at": "2026-11-05T06:12:40Z", "buyer": None, "parcels": [_PARCEL],
                    "auto_confirm": _COUNTDOWN}


class TrackEventView(ApiModel):
    at: str = Field(description="when it happened (UTC)")
    context: str = Field(description="the carrier's text")
    status: str | None = Field(default=None, description="the provider's phase, e.g. 在途, 派件, 签收")
    area: str | None = Field(default=None, description="where (province, city, district), when the provider knows")


class ParcelView(ApiModel):
    index: int = Field(description="position of the parcel in its shipment (0 first)")
    carrier: str = Field(description="WeChat's delivery id of the carrier, e.g. SF, YTO, ZTO")
    tracking_no: str
    tracked: bool = Field(description="the provider accepted the parcel (pushes will come)")
    state: Literal["pending", "in_transit", "collected", "problem", "delivered", "returned_signed",
                   "out_for_delivery", "returning", "redirected", "customs", "refused", "unknown"] = Field(
        description="`pending` until the provider first reports; then its state (签收 = `delivered`)")
    signed: bool = Field(description="the provider considers the parcel signed for (ischeck)")
    signed_at: str | None = None
    updated_at: str | None = Field(default=None, description="when we last stored a newer trail")
    events: list[TrackEventView] = Field(description="newest first; the latest ones only (at most 40)")


class TrackingView(ApiModel):
    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLE_TRACKING]})

    order_id: str
    status: str
    shipped_at: str | None = None
    delivered_at: str | None = Field(default=None, description="every parcel signed for (the latest signing)")
    buyer: str | None = Field(default=None, description="the buyer, masked (promoter's view only)")
    parcels: list[ParcelView]
    auto_confirm: CountdownView | None = Field(
        default=None, description="自动确认收货: from when it runs and when it ends (while the order is SHIPPED)")


class TrackingPushReply(ApiModel):
    """What the logistics provider reads back from a push (Kuaidi100's format): stop, or push again."""

    model_config = ConfigDict(defer_build=True, json_schema_extra={"examples": [
        {"result": True, "returnCode": "200", "message": "成功"}]})

    result: bool = Field(description="true: stored or already known (the provider stops pushing this state)")
    returnCode: str = Field(description="200 when handled; else the HTTP status of the refusal")
    message: str
