"""Refund requests and views (退款)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from mall.domain.refunds import RefundStatus
from mall.schemas.common import ApiModel


class RefundLineIn(ApiModel):
    line_id: Annotated[str, Field(min_length=1, max_length=8, description="the order line's `line_id`")]
    amount_fen: Annotated[int | None, Field(ge=1, le=10_000_000_000, description=(
        "fen to refund on this line; omit for everything still refundable on it"))] = None


class RefundRequest(ApiModel):
    """A customer's refund request: some lines, each in full or in part."""

    reason: Annotated[str, Field(min_length=1, max_length=200)]
    lines: Annotated[list[RefundLineIn], Field(min_length=1, max_length=20)]


class RejectRefundRequest(ApiModel):
    reason: Annotated[str, Field(min_length=1, max_length=200, description="shown to the customer")]


class RefundLineView(ApiModel):
    line_id: str
    amount_fen: int


class RefundView(ApiModel):
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
    items: list[RefundView]


class RefundPage(ApiModel):
    items: list[RefundView]
    next_cursor: str | None = Field(default=None, description="pass as `cursor` for the next page")
