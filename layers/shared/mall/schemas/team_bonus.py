"""Response models of the team bonus views (团队分红)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class BonusView(BaseModel):
    """One month's team bonus of one promoter."""

    bonus_id: str
    month: str = Field(description="the China calendar month the team sales were made in, YYYY-MM")
    team_sales_fen: int = Field(description="the team's sales that month: the distribution base of the orders paid "
                                            "in it that pay the promoter level-1 or level-2 commission (not their "
                                            "own purchases), net of those orders' refunds")
    tier_min_team_sales_fen: int = Field(description="the threshold of the tier reached")
    bonus_bp: int = Field(description="the tier's rate in basis points of the team sales (100 = 1%)")
    amount_fen: int = Field(description="team sales × rate, floored to the fen")
    current_fen: int = Field(description="what the bonus is worth now (amount − anything voided or taken back after a "
                                         "later refund of the month's orders)")
    status: Literal["FROZEN", "SETTLED", "CANCELLED"] = Field(
        description="FROZEN 待结算, SETTLED 已结算 (withdrawable), CANCELLED 已作废")
    created_at: str
    due_at: str | None = Field(default=None, description="when it settles: when it was paid (the month final), at the "
                                                         "earliest the month's end + settlement days")
    settled_at: str | None = None
    explanation: str = Field(description="the computation in words")


class BonusPage(BaseModel):
    items: list[BonusView]
    next_cursor: str | None = None


class AdminBonusView(BonusView):
    promoter_id: str
    settings_version: int = Field(description="the settings version whose tiers paid it")
    risk_hold: bool = Field(description="the promoter has an open risk case: the bonus waits to settle")


class AdminBonusPage(BaseModel):
    month: str
    items: list[AdminBonusView]
    next_cursor: str | None = None
