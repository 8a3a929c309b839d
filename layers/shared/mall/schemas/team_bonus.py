"""Response models of the team bonus views (团队分红)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class BonusView(BaseModel):
    """One month's team bonus of one promoter."""

    bonus_id: str
    month: str = Field(description="the China calendar month the team sales were made in, YYYY-MM")
    team_sales_fen: int = Field(description="the team's settled sales that month (own level-1 and level-2 members)")
    tier_min_team_sales_fen: int = Field(description="the threshold of the tier reached")
    bonus_bp: int = Field(description="the tier's rate in basis points of the team sales (100 = 1%)")
    amount_fen: int = Field(description="team sales × rate, floored to the fen")
    current_fen: int = Field(description="what the bonus is worth now (amount − anything voided)")
    status: Literal["FROZEN", "SETTLED", "CANCELLED"] = Field(
        description="FROZEN 待结算, SETTLED 已结算 (withdrawable), CANCELLED 已作废")
    created_at: str
    due_at: str | None = Field(default=None, description="when it settles: the month's end + settlement days")
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
