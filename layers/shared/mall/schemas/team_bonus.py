"""Response models of the team bonus views (团队分红)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

_BONUS: JsonDict = {
    "bonus_id": "bn_202610_u_cpk4nizqohonwxfnikf4bplx", "month": "2026-10", "team_sales_fen": 1182000,
    "tier_min_team_sales_fen": 1000000, "bonus_bp": 100, "amount_fen": 11820, "current_fen": 11820,
    "status": "SETTLED", "created_at": "2026-11-15T18:00:05Z", "due_at": "2026-11-15T18:00:05Z",
    "settled_at": "2026-11-15T18:10:02Z",
    "explanation": "2026-10 团队销售额 ¥11820.00，达到 ¥10000.00 档，按 1.00% 计分红 ¥118.20"}


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
    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [_BONUS], "next_cursor": None}]})

    items: list[BonusView]
    next_cursor: str | None = None


class AdminBonusView(BonusView):
    promoter_id: str
    settings_version: int = Field(description="the settings version whose tiers paid it")
    risk_hold: bool = Field(description="the promoter has an open risk case: the bonus waits to settle")


class AdminBonusPage(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"month": "2026-10", "items": [
        {**_BONUS, "promoter_id": "u_cpk4nizqohonwxfnikf4bplx", "settings_version": 5, "risk_hold": False}],
        "next_cursor": None}]})

    month: str
    items: list[AdminBonusView]
    next_cursor: str | None = None
