"""Response models of the commission views (佣金明细) and the preview (佣金预估)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


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
    items: list[CommissionView]
    next_cursor: str | None = None


class AdminCommissionPage(BaseModel):
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


class SelfPurchasePreview(BaseModel):
    mode: Literal["rebate", "none", "discount"] = Field(
        description="rebate: you earn L1 on your own order; none: your parent does; discount: the L1 amount "
                    "comes off your price")
    amount_fen: int = Field(description="what you earn (rebate) or save (discount) buying one unit yourself")


class CommissionPreview(BaseModel):
    """What the caller would earn on one unit of a product (佣金预估)."""

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
