"""Response models of the commission views (佣金明细) and the preview (佣金预估)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

# Examples (json_schema_extra): the L1 records of one order (2 × 西湖龙井 at the 茶叶 category's 12%, and a
# 盖碗 at the product's fixed 5 yuan, cancelled by its refund before settlement).
_SETTLED: JsonDict = {
    "commission_id": "cm_o_01m6gnbah4xat2qntjhtks_0_1", "order_id": "o_01m6gnbah4xat2qntjhtks", "line_id": "0",
    "level": 1, "product_id": "p_01m4cmckqvx119jymzac3w", "product_name": "西湖龙井 250g", "quantity": 2,
    "buyer": "王**芳", "buyer_id": "u_xp****nz2l", "base_fen": 33600, "amount_fen": 4032, "cancelled_fen": 0,
    "clawed_back_fen": 0, "current_fen": 4032, "status": "SETTLED", "created_at": "2026-11-03T12:16:04Z",
    "due_at": "2026-11-14T09:12:30Z", "settled_at": "2026-11-14T09:15:02Z", "on_hold": False,
    "explanation": "L1: 12% of 33600 fen = 4032 fen (category rate, 2% of it from the campaign “周末双倍”)",
    "rule": {"level": 1, "base_fen": 33600, "quantity": 2, "unit_price_fen": 16800, "source": "category",
             "mode": "ratio", "ratio_bp": 1200, "fixed_fen": 0, "level_points_bp": 0, "level_id": "basic",
             "product_mode": "inherit", "cap_bp": 3000, "cap_fen": 10080, "wanted_fen": 4032, "capped": False,
             "settings_version": 5, "basis": "binding", "self_purchase": False,
             "campaign": {"campaign_id": "cp_01m6a0weekend", "name": "周末双倍", "origin": "merchant",
                          "boost": {"kind": "points", "l1_points_bp": 200, "l2_points_bp": 0,
                                    "multiplier_percent": 100}},
             "campaign_bp": 200, "campaign_fen": 0}}
_CANCELLED: JsonDict = {
    "commission_id": "cm_o_01m6gnbah4xat2qntjhtks_1_1", "order_id": "o_01m6gnbah4xat2qntjhtks", "line_id": "1",
    "level": 1, "product_id": "p_01m4cmyx52990zhvaddmkr", "product_name": "白瓷盖碗 150ml", "quantity": 1,
    "buyer": "王**芳", "buyer_id": "u_xp****nz2l", "base_fen": 6800, "amount_fen": 500, "cancelled_fen": 500,
    "clawed_back_fen": 0, "current_fen": 0, "status": "CANCELLED", "created_at": "2026-11-03T12:16:04Z",
    "due_at": None, "settled_at": None, "on_hold": False, "explanation": "L1: 1 × 500 fen = 500 fen (product rate)",
    "rule": {"level": 1, "base_fen": 6800, "quantity": 1, "unit_price_fen": 6800, "source": "product",
             "mode": "fixed", "ratio_bp": 0, "fixed_fen": 500, "level_points_bp": 0, "level_id": "basic",
             "product_mode": "fixed", "cap_bp": 3000, "cap_fen": 2040, "wanted_fen": 500, "capped": False,
             "settings_version": 5, "basis": "binding", "self_purchase": False, "campaign": None, "campaign_bp": 0,
             "campaign_fen": 0}}
_ADMIN: JsonDict = {"beneficiary_id": "u_36botxbbbigbhenhtgo542dk", "hold": None}


class CampaignBoostView(BaseModel):
    kind: Literal["points", "multiplier"] = Field(description="points: bp added; multiplier: percent of the rate")
    l1_points_bp: int = 0
    l2_points_bp: int = 0
    multiplier_percent: int = Field(default=100, description="200 doubles the rate, applied once")


class CampaignReference(BaseModel):
    """The campaign that shaped a commission (its definition as it was at payment)."""

    campaign_id: str
    name: str
    origin: Literal["merchant", "wake_up"] = "merchant"
    boost: CampaignBoostView


class CommissionRule(BaseModel):
    """The rule snapshot: why this record has this amount (taken when the order was paid)."""

    level: Literal[1, 2] = Field(description="1: the buyer's promoter (直推); 2: that promoter's parent")
    base_fen: int = Field(description="the line's paid amount (after discounts, without shipping)")
    quantity: int
    unit_price_fen: int = 0
    source: Literal["override", "product", "category", "global"] = Field(
        description="where the rate came from: your own override, the product, its category, or the global rate")
    mode: Literal["ratio", "fixed"]
    ratio_bp: int = Field(description="percentage of the base in basis points (1000 = 10%), level points included")
    fixed_fen: int = Field(description="fen per unit (product mode `fixed`)")
    level_points_bp: int = Field(description="the part of `ratio_bp` your level adds")
    level_id: str = Field(description="your level when the commission was computed")
    product_mode: str = Field(default="inherit", description="the product's setting: inherit, ratio or fixed")
    cap_bp: int = Field(description="L1 + L2 of a line never exceed this share of its base")
    cap_fen: int
    wanted_fen: int = Field(description="the amount before the cap")
    capped: bool = Field(description="the cap reduced this amount")
    settings_version: int = Field(description="the rules version in force when the order was placed")
    basis: str = Field(description="why you are this order's L1/L2: binding, share_first_payment, self_purchase")
    self_purchase: bool = Field(description="the buyer is the L1 promoter themself (自购)")
    campaign: CampaignReference | None = Field(
        default=None, description="the commission campaign in force at payment that raised this rate, if any")
    campaign_bp: int = Field(default=0, description="the part of `ratio_bp` the campaign added")
    campaign_fen: int = Field(default=0, description="the part of `fixed_fen` the campaign added")


class CommissionView(BaseModel):
    """One commission record (one order line, one level)."""

    commission_id: str
    order_id: str
    line_id: str
    level: Literal[1, 2]
    product_id: str
    product_name: str
    quantity: int
    buyer: str = Field(description="the buyer's nickname, masked (微**友)")
    buyer_id: str = Field(description="the buyer's id, masked")
    base_fen: int
    amount_fen: int = Field(description="as computed when the order was paid")
    cancelled_fen: int = Field(description="taken back by refunds before settlement")
    clawed_back_fen: int = Field(description="taken back by refunds after settlement")
    current_fen: int = Field(description="what this commission is worth now: amount − cancelled − clawed back")
    status: Literal["FROZEN", "SETTLED", "CANCELLED"] = Field(
        description="FROZEN 待结算, SETTLED 已结算 (withdrawable), CANCELLED 已取消")
    created_at: str
    due_at: str | None = Field(default=None, description="when it settles: the order's completion + settlement days")
    settled_at: str | None = None
    on_hold: bool = Field(default=False, description="held by a risk review: not settled until it is resolved")
    explanation: str = Field(description="the computation in words")
    rule: CommissionRule


class AdminCommissionView(CommissionView):
    beneficiary_id: str
    hold: str | None = Field(default=None, description="the open risk case holding it")


class CommissionPage(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [_SETTLED, _CANCELLED], "next_cursor": None}]})

    items: list[CommissionView]
    next_cursor: str | None = None


class AdminCommissionPage(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"items": [{**_SETTLED, **_ADMIN}, {**_CANCELLED, **_ADMIN}], "next_cursor": None}]})

    items: list[AdminCommissionView]
    next_cursor: str | None = None


class LevelPreview(BaseModel):
    amount_fen: int = Field(description="for one unit at the list price, after the cap")
    source: Literal["override", "product", "category", "global"]
    mode: Literal["ratio", "fixed"]
    ratio_bp: int
    fixed_fen: int
    level_points_bp: int
    capped: bool
    campaign: CampaignReference | None = Field(
        default=None, description="the commission campaign in force now that raises this rate for you, if any "
                                  "(as the payment would apply it: the one paying the most)")
    campaign_bp: int = Field(default=0, description="the part of `ratio_bp` the campaign adds")
    campaign_fen: int = Field(default=0, description="the part of `fixed_fen` the campaign adds")


class SelfPurchasePreview(BaseModel):
    mode: Literal["rebate", "none", "discount"] = Field(
        description="rebate: you earn L1 on your own order; none: your parent does; discount: the L1 amount "
                    "comes off your price")
    amount_fen: int = Field(description="what you earn (rebate) or save (discount) buying one unit yourself")


class CommissionPreview(BaseModel):
    """What the caller would earn on one unit of a product (佣金预估)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "product_id": "p_01m4cmckqvx119jymzac3w", "product_name": "西湖龙井 250g", "price_fen": 16800,
        "distribution_enabled": True, "active": True, "level_id": "silver",
        "l1": {"amount_fen": 2520, "source": "category", "mode": "ratio", "ratio_bp": 1500, "fixed_fen": 0,
               "level_points_bp": 100, "capped": False,
               "campaign": {"campaign_id": "cp_01m6a0weekend", "name": "周末加佣", "origin": "merchant",
                            "boost": {"kind": "points", "l1_points_bp": 200, "l2_points_bp": 0,
                                      "multiplier_percent": 100}},
               "campaign_bp": 200, "campaign_fen": 0},
        "l2": {"amount_fen": 1092, "source": "category", "mode": "ratio", "ratio_bp": 650, "fixed_fen": 0,
               "level_points_bp": 50, "capped": False, "campaign": None, "campaign_bp": 0, "campaign_fen": 0},
        "cap_bp": 3000, "cap_fen": 5040,
        "cap_note": "L1 + L2 of an order line never exceed 30% of what the buyer paid for it (5040 fen here); when "
                    "they would, L2 is reduced first. Amounts are floored to the fen.",
        "self_purchase": {"mode": "rebate", "amount_fen": 2520}, "settings_version": 5}]})

    product_id: str
    product_name: str
    price_fen: int
    distribution_enabled: bool
    active: bool = Field(description="only an active promoter earns")
    level_id: str
    l1: LevelPreview = Field(description="when your own customer buys it")
    l2: LevelPreview = Field(description="when a customer of your direct member buys it")
    cap_bp: int
    cap_fen: int
    cap_note: str
    self_purchase: SelfPurchasePreview
    settings_version: int
