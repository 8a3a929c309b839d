"""The promoter's funnel (推广漏斗): ``GET /promoter/funnel``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class FunnelRowView(BaseModel):
    key: str = Field(description="the China day (group=day), the source (group=source: link, qr, poster, invite_code, "
                                 "admin, direct, unknown) or the product id (group=product; `-`: no product)")
    name: str | None = Field(default=None, description="group=product: the product's name as sold")
    visits: int = Field(description="counted share visits (分享访问: each source once per day)")
    bindings: int = Field(description="customers who became bound to you (新增绑定)")
    orders: int = Field(description="paid orders where you were level 1 (group=product: orders with that product)")
    paid_fen: int = Field(description="their paid amount (group=product: the product's lines)")
    commission_fen: int = Field(description="your level-1 commission on them, net of refunds (佣金)")


class FunnelTotalsView(BaseModel):
    visits: int
    bindings: int
    orders: int
    paid_fen: int
    commission_fen: int


class PromoterFunnelResponse(BaseModel):
    """Your funnel over China days ``from``..``to``, grouped by day, source or product."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "date_from": "2026-11-01", "date_to": "2026-11-07", "group": "source",
        "rows": [
            {"key": "poster", "name": None, "visits": 41, "bindings": 3, "orders": 4, "paid_fen": 51200,
             "commission_fen": 5120},
            {"key": "qr", "name": None, "visits": 12, "bindings": 1, "orders": 1, "paid_fen": 12800,
             "commission_fen": 1280}],
        "totals": {"visits": 53, "bindings": 4, "orders": 5, "paid_fen": 64000, "commission_fen": 6400},
        "as_of": "2026-11-07T09:41:27Z"}]})

    date_from: str
    date_to: str
    group: Literal["day", "source", "product"]
    rows: list[FunnelRowView] = Field(description="sorted by key; group=day lists every day of the range")
    totals: FunnelTotalsView = Field(description="the range's totals (each order once)")
    as_of: str = Field(description="when this was read (the figures run a few seconds behind)")
