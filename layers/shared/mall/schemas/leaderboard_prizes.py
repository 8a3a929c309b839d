"""Response models of the leaderboard prizes (排行榜奖励)."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from mall.domain.leaderboard_prizes import TIE_RULE, PrizeTable, table_text

PRIZE_TABLE_EXAMPLE: JsonDict = {
    "month": "2026-11", "measure": "sales", "total_fen": 80000,
    "ranks": [{"rank": 1, "amount_fen": 50000}, {"rank": 2, "amount_fen": 20000}, {"rank": 3, "amount_fen": 10000}],
    "text": "销售榜前3名：第1名 ¥500.00，第2名 ¥200.00，第3名 ¥100.00",
    "tie_rule": "同分时，先达到该成绩者（其最后一笔计入订单的支付时间更早）排名在前；仍相同时按推广员编号排序"}


PrizeStatus = Literal["PAID", "HELD", "VOIDED", "PENDING", "NO_PRIZE"]


class PrizeRankView(BaseModel):
    rank: int = Field(description="1 = first place")
    amount_fen: int = Field(description="the prize of this rank (fen); 0: ranked, no prize")


class PrizeTableView(BaseModel):
    """The prizes of one month: which ranks win what."""

    model_config = ConfigDict(json_schema_extra={"examples": [PRIZE_TABLE_EXAMPLE]})

    month: str = Field(description="China calendar month, YYYY-MM")
    measure: Literal["sales", "commission"] = Field(
        description="`sales`: distribution base, net of refunds, of level-1 orders paid in the month; `commission`: "
                    "current value of level-1 and level-2 commission on orders paid in the month (own purchases "
                    "excluded)")
    ranks: list[PrizeRankView]
    total_fen: int
    text: str = Field(description="the table in words")
    tie_rule: str = Field(description="how equal scores are ordered")

    @classmethod
    def of(cls, table: PrizeTable | None, month: str) -> Self | None:
        """The view of the table that pays ``month`` (None: no prizes)."""
        if table is None:
            return None
        return cls(month=month, measure=table.measure, text=table_text(table), tie_rule=TIE_RULE,
                   total_fen=table.total_fen,
                   ranks=[PrizeRankView(rank=p.rank, amount_fen=p.amount_fen) for p in table.prizes])


class AdminPrizeView(BaseModel):
    rank: int
    promoter_id: str
    score_fen: int = Field(description="the promoter's figure of the measure, from the final month's records")
    amount_fen: int
    status: PrizeStatus = Field(
        description="PAID: credited to available; HELD: waiting for an open risk case to close; VOIDED: the case was "
                    "confirmed, never paid; PENDING: decided, not paid yet (the next run pays it); NO_PRIZE: the "
                    "rank's prize is 0")
    prize_id: str | None = None
    paid_at: str | None = None


class AdminPrizeList(BaseModel):
    """One month's leaderboard prizes."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "month": "2026-11", "decided": True, "decided_at": "2026-12-16T19:00:03Z", "measure": "sales",
        "settings_version": 12, "paid_fen": 70000, "table": PRIZE_TABLE_EXAMPLE,
        "items": [
            {"rank": 1, "promoter_id": "u_cpk4nizqohonwxfnikf4bplx", "score_fen": 1182000, "amount_fen": 50000,
             "status": "PAID", "prize_id": "pz_202611_01", "paid_at": "2026-12-16T19:00:03Z"},
            {"rank": 2, "promoter_id": "u_36botxbbbigbhenhtgo542dk", "score_fen": 954000, "amount_fen": 20000,
             "status": "HELD", "prize_id": "pz_202611_02", "paid_at": None}]}]})

    month: str
    decided: bool = Field(description="the month was final and its ranking is fixed")
    decided_at: str | None = None
    measure: Literal["sales", "commission"] | None = None
    settings_version: int | None = Field(default=None, description="the settings version whose table decided it")
    paid_fen: int = Field(description="Σ of the PAID awards")
    table: PrizeTableView | None = Field(default=None, description="the table in force for this month now "
                                                                   "(null: no prizes)")
    items: list[AdminPrizeView] = Field(description="ranks 1..N, empty until decided")
