"""Response models of a promoter's attributed orders (推广订单)."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field
from pydantic.config import JsonDict

from mall.schemas.common import ApiModel

_ROW: JsonDict = {
    "order_id": "o_01m6gnbah4xat2qntjhtks", "level": 1, "status": "completed", "order_status": "COMPLETED",
    "title": "西湖龙井 250g", "line_count": 2, "buyer": "王**芳", "buyer_id": "u_xp****nz2l", "amount_fen": 41400,
    "base_fen": 40400, "refunded_fen": 6800, "commission_fen": 4032, "created_at": "2026-11-03T12:15:08Z",
    "paid_at": "2026-11-03T12:16:02Z", "shipped_at": "2026-11-04T02:30:41Z", "completed_at": "2026-11-07T09:12:30Z"}
_PAID_L2: JsonDict = {
    **_ROW, "order_id": "o_01m6ndv78ze0z57gcjy2d9", "level": 2, "status": "paid", "order_status": "PAID",
    "title": "茶艺体验课 (到店核销)", "line_count": 1, "buyer": "李*", "buyer_id": "u_yd****7l4d", "amount_fen": 19900,
    "base_fen": 19900, "refunded_fen": 0, "commission_fen": 995, "created_at": "2026-11-05T08:40:12Z",
    "paid_at": "2026-11-05T08:41:03Z", "shipped_at": None, "completed_at": None}


class PromoterOrderView(ApiModel):
    """One order the promoter earns on, at one level, with the buyer masked."""

    order_id: str
    level: Literal[1, 2] = Field(description="1: the buyer is the promoter's own member; 2: a member's member")
    status: Literal["placed", "paid", "shipped", "completed", "refunded", "closed"] = Field(
        description="the order's status as the promoter sees it (refunded: closed by a refund of everything)")
    order_status: str = Field(description="the order's own status (CREATED … CLOSED)")
    title: str = Field(description="the first line's product name")
    line_count: int
    buyer: str = Field(description="the buyer's nickname, masked")
    buyer_id: str = Field(description="the buyer's user id, masked")
    amount_fen: int = Field(description="what the buyer paid, shipping included")
    base_fen: int = Field(description="the lines the promoter earns on (the commission base)")
    refunded_fen: int
    commission_fen: int = Field(description="what the promoter earns on the order now (refunds taken off)")
    created_at: str
    paid_at: str | None = None
    shipped_at: str | None = None
    completed_at: str | None = None


class PromoterOrderPage(ApiModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [_PAID_L2, _ROW], "next_cursor": None}]})

    items: list[PromoterOrderView]
    next_cursor: str | None = Field(default=None, description="pass as `cursor` for the next page")
