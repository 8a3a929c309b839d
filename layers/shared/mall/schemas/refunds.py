"""Refund requests and lists (退款); a refund as the views show it is ``mall.schemas.refund_view``."""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field
from pydantic.config import JsonDict

from mall.schemas.common import ApiModel
from mall.schemas.refund_view import EXAMPLE_REFUND, RefundLineView, RefundView

__all__ = ["EXAMPLE_REFUND", "RefundLineIn", "RefundLineView", "RefundList", "RefundPage", "RefundRequest",
           "RefundView", "RejectRefundRequest"]

_REQUESTED: JsonDict = {
    "refund_id": "o_01m6ndv78ze0z57gcjy2d9-r1", "order_id": "o_01m6ndv78ze0z57gcjy2d9",
    "buyer_id": "u_yddqmfnx75j6mtsccnsr4l4d", "kind": "customer", "status": "REQUESTED", "amount_fen": 19900,
    "shipping_fen": 0, "lines": [{"line_id": "0", "amount_fen": 19900}], "reason": "行程有变, 无法到店体验",
    "created_at": "2026-11-06T01:48:20Z", "decided_by": None, "decided_at": None, "reject_reason": None,
    "wechat_refund_id": None, "succeeded_at": None, "closed_at": None, "failure_code": None, "failure_message": None}


class RefundLineIn(ApiModel):
    line_id: Annotated[str, Field(min_length=1, max_length=8, description="the order line's `line_id`")]
    amount_fen: Annotated[int | None, Field(ge=1, le=10_000_000_000, description=(
        "fen to refund on this line; omit for everything still refundable on it"))] = None


class RefundRequest(ApiModel):
    """A customer's refund request: some lines, each in full or in part."""

    model_config = ConfigDict(defer_build=True, json_schema_extra={"examples": [
        {"reason": "盖碗收到时有裂纹", "lines": [{"line_id": "1"}]},
        {"reason": "少发了一罐", "lines": [{"line_id": "0", "amount_fen": 16800}]}]})

    reason: Annotated[str, Field(min_length=1, max_length=200)]
    lines: Annotated[list[RefundLineIn], Field(min_length=1, max_length=20)]


class RejectRefundRequest(ApiModel):
    model_config = ConfigDict(defer_build=True,
                              json_schema_extra={"examples": [{"reason": "体验课已于 11 月 8 日核销, 不支持退款"}]})

    reason: Annotated[str, Field(min_length=1, max_length=200, description="shown to the customer")]


class RefundList(ApiModel):
    model_config = ConfigDict(defer_build=True, json_schema_extra={"examples": [{"items": [EXAMPLE_REFUND]}]})

    items: list[RefundView]


class RefundPage(ApiModel):
    model_config = ConfigDict(defer_build=True, json_schema_extra={"examples": [
        {"items": [_REQUESTED, EXAMPLE_REFUND], "next_cursor": None}]})

    items: list[RefundView]
    next_cursor: str | None = Field(default=None, description="pass as `cursor` for the next page")
