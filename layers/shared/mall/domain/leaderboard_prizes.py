"""Leaderboard prizes (排行榜奖励): the month's top N promoters by sales or by commission receive a
prize per rank, in integer fen, once the month is final. Part of the settings document
(``settings.leaderboard_prizes``): a standing table and, optionally, a table for a given month
(which replaces the standing one for that month).

The figures are read from the money records, never from the statistics' boards: for each promoter
with team orders in the month (``mall.domain.team_bonus``), over their commission records of orders
*paid* in the month, own purchases excluded (``counts_for_team``):

- ``sales`` (销售榜): Σ of the distribution base net of refunds (``net_base``) of their **level-1**
  records — what their own customers paid, refunds taken off, as the leaderboard's sales board counts;
- ``commission`` (佣金榜): Σ of the current value (amount − cancelled − clawed back) of their level-1
  and level-2 records, as the leaderboard's commission board counts.

The month is final for the ranking when it is final (``TeamMonth.final``, the team bonus's one
definition) for **every** promoter with team orders in it: no figure can move any more. Ties are broken
by ``ranking_order``. Pay is only ever for sales: there is no measure that counts people, and the
document refuses a key that tries (the team bonus's ``HEADCOUNT_KEY``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mall.domain.commission_records import CommissionRecord, CommissionStatus
from mall.domain.money import yuan_ungrouped
from mall.domain.team_bonus import (
    HEADCOUNT_REASON,
    TeamMonth,
    _headcount_keys,
    _rule_errors,
    counts_for_team,
    net_base,
    parse_month,
    team_month,
)

#: At most this many ranks win a prize.
MAX_PRIZE_RANKS = 20
#: The prizes of one month add up to at most ¥100,000 (10,000,000 fen): a typo (an extra zero) is
#: refused at save rather than paid.
PRIZE_TOTAL_CAP_FEN = 10_000_000
#: Month tables kept in the document (older months can be removed once paid).
MAX_MONTH_TABLES = 24

_NEVER = datetime.max.replace(tzinfo=UTC)
Measure = Literal["sales", "commission"]
MEASURE_NAMES: dict[str, str] = {"sales": "销售榜", "commission": "佣金榜"}
#: The tie rule, in words (GET /rules and docs/leaderboard-prizes.md say it from here).
TIE_RULE = ("同分时，先达到该成绩者（其最后一笔计入订单的支付时间更早）排名在前；仍相同时按推广员编号排序")


class _Document(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class RankPrize(_Document):
    rank: Annotated[int, Field(ge=1, le=MAX_PRIZE_RANKS, description="1 = first place")]
    amount_fen: Annotated[int, Field(ge=0, le=PRIZE_TOTAL_CAP_FEN, description="the prize (fen); 0: no prize")]


class PrizeTable(_Document):
    """One month's prizes: the measure and a prize per rank 1..N."""

    measure: Measure = "sales"
    prizes: Annotated[list[RankPrize], Field(min_length=1, max_length=MAX_PRIZE_RANKS,
                                             description="ranks 1..N in order, each once")]

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        problems: list[tuple[tuple[str | int, ...], str, object]] = []
        for index, prize in enumerate(self.prizes):
            if prize.rank != index + 1:
                problems.append((("prizes", index, "rank"), f"ranks run 1..N in order: expected {index + 1}",
                                 prize.rank))
        total = sum(p.amount_fen for p in self.prizes)
        if total > PRIZE_TOTAL_CAP_FEN:
            problems.append((("prizes",), f"the prizes add up to {total} fen, above the monthly cap of "
                                          f"{PRIZE_TOTAL_CAP_FEN} fen", total))
        if problems:
            raise _rule_errors("PrizeTable", problems)
        return self

    @property
    def top(self) -> int:
        return len(self.prizes)

    def amount(self, rank: int) -> int:
        return self.prizes[rank - 1].amount_fen if 1 <= rank <= self.top else 0

    @property
    def total_fen(self) -> int:
        return sum(p.amount_fen for p in self.prizes)


class LeaderboardPrizes(_Document):
    """排行榜奖励. Disabled by default."""

    enabled: bool = False
    standing: PrizeTable | None = Field(default=None, description="every month's table unless a month has its own")
    months: Annotated[dict[Annotated[str, Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")], PrizeTable],
                      Field(max_length=MAX_MONTH_TABLES, description="YYYY-MM → that month's table")] = {}

    @model_validator(mode="before")
    @classmethod
    def _refuse_headcount(cls, data: Any) -> Any:
        found = _headcount_keys(data)
        if found:
            raise _rule_errors("LeaderboardPrizes", [(loc, HEADCOUNT_REASON, value) for loc, value in found])
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.enabled and self.standing is None and not self.months:
            raise _rule_errors("LeaderboardPrizes", [(("standing",), "a prize table is required when leaderboard "
                                                                     "prizes are enabled", None)])
        return self

    def table_for(self, month: str) -> PrizeTable | None:
        """The table that pays ``month``: its own, else the standing one; None when disabled."""
        if not self.enabled:
            return None
        return self.months.get(month, self.standing)


# ---- figures and ranking ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Standing:
    """One promoter's figures for one month, from the money records."""

    promoter_id: str
    sales_fen: int
    commission_fen: int
    reached_at: datetime | None  # the latest counted record: when the promoter reached their figures
    team: TeamMonth

    def score(self, measure: Measure) -> int:
        return self.sales_fen if measure == "sales" else self.commission_fen


def standing(promoter_id: str, month: str, records: Sequence[CommissionRecord]) -> Standing:
    """``promoter_id``'s figures in ``month`` (module docstring); the records are the month's (by
    the team orders), others are ignored."""
    counted = [r for r in records if r.beneficiary_id == promoter_id and counts_for_team(r)]
    sales = sum(net_base(r) for r in counted if r.level == 1)
    commission = sum(max(r.current_fen, 0) for r in counted if r.status != CommissionStatus.CANCELLED)
    scored = [r for r in counted if net_base(r) > 0]
    return Standing(promoter_id=promoter_id, sales_fen=sales, commission_fen=commission,
                    reached_at=max((r.created_at for r in scored), default=None),
                    team=team_month(promoter_id, month, list(records)))


def month_final(standings: Iterable[Standing], *, now: datetime, final_after_days: int) -> bool:
    """The ranking may be decided: the month is final (the team bonus's ``TeamMonth.final``) for every
    promoter with team orders in it."""
    return all(s.team.final(now=now, final_after_days=final_after_days) for s in standings)


def ranking_order(standings: Iterable[Standing], measure: Measure) -> list[Standing]:
    """Positive scores only, highest first; ties: who reached the score first (the earlier latest
    counted record), then the promoter id (``TIE_RULE``)."""
    scored = [s for s in standings if s.score(measure) > 0]
    return sorted(scored, key=lambda s: (-s.score(measure), s.reached_at or _NEVER, s.promoter_id))


@dataclass(frozen=True, slots=True)
class Winner:
    rank: int
    promoter_id: str
    score_fen: int
    amount_fen: int


def winners(standings: Iterable[Standing], table: PrizeTable, *, eligible: Iterable[str]) -> list[Winner]:
    """Ranks 1..N of the eligible promoters (active, on the day the month is decided), each with its
    prize; a promoter who is not eligible is left out and the next one takes the rank. Ranks whose
    prize is 0 are listed (the ranking) but pay nothing."""
    allowed = set(eligible)
    ranked = [s for s in ranking_order(standings, table.measure) if s.promoter_id in allowed][:table.top]
    return [Winner(rank=index + 1, promoter_id=s.promoter_id, score_fen=s.score(table.measure),
                   amount_fen=table.amount(index + 1)) for index, s in enumerate(ranked)]


def prize_id(month: str, rank: int) -> str:
    """Deterministic per month and rank: a second run can only ever find the same award."""
    parse_month(month)
    return f"pz_{month.replace('-', '')}_{rank:02d}"


def describe(month: str, measure: Measure, rank: int, score_fen: int, amount_fen: int) -> str:
    """The award in words (the posting's memo and the views)."""
    return (f"{month} {MEASURE_NAMES[measure]}第{rank}名（{yuan_ungrouped(score_fen)}），"
            f"奖励 {yuan_ungrouped(amount_fen)}")


def table_text(table: PrizeTable) -> str:
    """The table in words, for GET /rules and the leaderboard."""
    parts = [f"第{p.rank}名 {yuan_ungrouped(p.amount_fen)}" for p in table.prizes if p.amount_fen > 0]
    return f"{MEASURE_NAMES[table.measure]}前{table.top}名：" + "，".join(parts)
