"""A refund as the views show it (the buyer's and the admin's): apart from the refund requests and lists
(``mall.schemas.refunds``) so that an order's detail, which lists its refunds, builds only these."""

from __future__ import annotations

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
