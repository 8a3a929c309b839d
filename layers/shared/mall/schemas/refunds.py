"""Refund requests and views (退款)."""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field
from pydantic.config import JsonDict

from mall.domain.refunds import RefundStatus
from mall.schemas.common import ApiModel

#: A partial refund of one line, approved and paid back (the admin's view; the buyer's hides `decided_by`).
EXAMPLE_REFUND: JsonDict = {
    "refund_id": "o_01m6gnbah4xat2qntjhtks-r1", "order_id": "o_01m6gnbah4xat2qntjhtks",
    "buyer_id": "u_xpdiqcabym5dbw2glo3wnz2l", "kind": "customer", "status": "SUCCEEDED", "amount_fen": 6800,
    "shipping_fen": 0, "lines": [{"line_id": "1", "amount_fen": 6800}], "reason": "盖碗收到时有裂纹",
    "created_at": "2026-11-05T03:20:11Z", "decided_by": "admin:li.na", "decided_at": "2026-11-05T06:02:37Z",
    "reject_reason": None, "wechat_refund_id": "50302105872026110512874455931",
    "succeeded_at": "2026-11-05T06:02:59Z", "closed_at": None, "failure_code": None, "failure_message": None}
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


class RefundLineView(ApiModel):
    line_id: str
    amount_fen: int


class RefundView(ApiModel):
    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLE_REFUND]})

    refund_id: str = Field(description="also the WeChat Pay `out_refund_no`")
    order_id: str
    buyer_id: str
    kind: str = Field(description="customer | paid_after_expiry | admin | shipping (the shipping alone, opened "
                                  "when the last line's refund succeeded)")
    status: RefundStatus
    amount_fen: int = Field(description="lines plus shipping")
    shipping_fen: int = Field(description="shipping refunded with it (only a full refund carries it)")
    lines: list[RefundLineView] = Field(description="empty: the whole order (paid-after-expiry refund)")
    reason: str
    created_at: str
    decided_by: str | None = None
    decided_at: str | None = None
    reject_reason: str | None = None
    wechat_refund_id: str | None = None
    succeeded_at: str | None = None
    closed_at: str | None = None
    failure_code: str | None = None
    failure_message: str | None = None


class RefundList(ApiModel):
    model_config = ConfigDict(defer_build=True, json_schema_extra={"examples": [{"items": [EXAMPLE_REFUND]}]})

    items: list[RefundView]


class RefundPage(ApiModel):
    model_config = ConfigDict(defer_build=True, json_schema_extra={"examples": [
        {"items": [_REQUESTED, EXAMPLE_REFUND], "next_cursor": None}]})

    items: list[RefundView]
    next_cursor: str | None = Field(default=None, description="pass as `cursor` for the next page")
