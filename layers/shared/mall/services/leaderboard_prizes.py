"""Leaderboard prizes (排行榜奖励): deciding a final month's ranking and paying its prizes, and the views.

``run_month`` (called by the team bonus's daily schedule, after the bonus): once the month has ended
and is final (``mall.domain.leaderboard_prizes.month_final``: the team bonus's definition, for every
promoter with team orders in the month), the figures are read from the money records (the team orders
index and the commission records, consistent), ranked (``ranking_order``), the active promoters take
ranks 1..N, and the ranking is stored once (put only if absent: overlapping runs all pay from the first
one stored). Each rank's prize is then paid in its own transaction: the award (put only if absent) with
its ``prize_paid`` posting (merchant → available, a debt repaid first), a check that the promoter is
still not under a risk hold, and an audit entry. Two runs at once, or a run retried, pay each rank once.

Who gets one: active promoters on the day the month is decided (frozen, disabled or not a promoter:
left out, the next promoter takes the rank — as the team bonus, not paid later). A promoter under an
open risk case is recorded HELD (no money moves) and is paid by the first run after the case closes
(``release_held``), or never if a confirmed case voids it (``void_prizes``).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Self, cast

from aws_lambda_powertools import Logger

from mall.clock import iso
from mall.dal.leaderboard_prizes import HELD, PAID, Award, PrizeRepository
from mall.dal.ledger import LedgerRefused
from mall.dal.risk import RiskHoldRepository
from mall.dal.settings import SettingsRepository
from mall.dal.team_bonus import BonusRepository, TeamOrders
from mall.domain.leaderboard_prizes import (
    Measure,
    PrizeTable,
    Standing,
    Winner,
    describe,
    month_final,
    prize_id,
    ranking_order,
    standing,
    winners,
)
from mall.domain.ledger import prize_paid
from mall.domain.stats import TEAM_SALES_SHARDS
from mall.domain.team_bonus import month_end, parse_month
from mall.schemas.leaderboard_prizes import AdminPrizeList, AdminPrizeView, PrizeStatus, PrizeTableView
from mall.services.team_bonus import RUN_THREADS, months_to_examine

if TYPE_CHECKING:
    from mall.dal.table import Table

logger = Logger(child=True)

#: A payment that keeps losing a race (the wallet moved, a hold appeared) is tried this many times a run.
PAY_ATTEMPTS = 5


@dataclass(frozen=True)
class PrizeRepositories:
    """What the leaderboard prizes read and write through."""

    prizes: PrizeRepository
    bonuses: BonusRepository  # the team orders index and the commission records
    settings: SettingsRepository
    holds: RiskHoldRepository

    @classmethod
    def on(cls, table: Table) -> Self:
        return cls(prizes=PrizeRepository(table), bonuses=BonusRepository(table), settings=SettingsRepository(table),
                   holds=RiskHoldRepository(table))


@dataclass
class PrizeRunReport:
    month: str
    enabled: bool = True
    final: bool = False
    decided: bool = False  # a ranking exists (stored by this run or an earlier one)
    paid: int = 0
    paid_fen: int = 0
    held: int = 0
    already_paid: int = 0
    promoters: list[str] = field(default_factory=list)  # paid or held by this run, for logs and tests

    def as_dict(self) -> dict[str, Any]:
        return {"month": self.month, "enabled": self.enabled, "final": self.final, "decided": self.decided,
                "paid": self.paid, "paid_fen": self.paid_fen, "held": self.held, "already_paid": self.already_paid}


def month_standings(bonuses: BonusRepository, month: str, *, threads: int | None = None) -> list[Standing]:
    """Every promoter with team orders in ``month``, with their figures from the records (consistent)."""

    def shard(number: int) -> list[Standing]:
        found: list[Standing] = []
        for page in bonuses.team_order_pages(month, number):
            found += [_standing(bonuses, orders) for orders in page]
        return found

    with ThreadPoolExecutor(max_workers=max(1, threads if threads is not None else RUN_THREADS)) as pool:
        return [s for part in pool.map(shard, range(TEAM_SALES_SHARDS)) for s in part]


def _standing(bonuses: BonusRepository, orders: TeamOrders) -> Standing:
    return standing(orders.promoter_id, orders.month, bonuses.records(orders.record_keys))


def _eligible(bonuses: BonusRepository, standings: Sequence[Standing], prize_table: PrizeTable) -> list[Winner]:
    """Ranks 1..N among the active promoters, reading statuses a page of candidates at a time."""
    ordered = ranking_order(standings, prize_table.measure)
    active: list[str] = []
    for index in range(0, len(ordered), 100):
        page = [s.promoter_id for s in ordered[index:index + 100]]
        statuses = bonuses.promoter_statuses(page)
        active += [uid for uid in page if statuses.get(uid) == "active"]
        if len(active) >= prize_table.top:
            break
    return winners(standings, prize_table, eligible=active)


def _decide(repos: PrizeRepositories, month: str, prize_table: PrizeTable, *, settings_version: int,
            final_after_days: int, now: datetime, threads: int | None) -> dict[str, Any] | None:
    """The stored ranking of ``month``, deciding it when the month is final; None while it is not."""
    stored = repos.prizes.ranking(month)
    if stored is not None:
        return stored
    standings = month_standings(repos.bonuses, month, threads=threads)
    if not month_final(standings, now=now, final_after_days=final_after_days):
        return None
    chosen = _eligible(repos.bonuses, standings, prize_table)
    return repos.prizes.decide(month, {
        "measure": prize_table.measure, "settings_version": settings_version, "decided_at": iso(now),
        "final_after_days": final_after_days, "candidates": len(standings),
        "table": [{"rank": p.rank, "amount_fen": p.amount_fen} for p in prize_table.prizes],
        "winners": [{"rank": w.rank, "promoter_id": w.promoter_id, "score_fen": w.score_fen,
                     "amount_fen": w.amount_fen} for w in chosen]})


def _award(month: str, ranking: dict[str, Any], winner: dict[str, Any], *, status: str, now: datetime) -> Award:
    measure = str(ranking["measure"])
    rank, score, amount = int(winner["rank"]), int(winner["score_fen"]), int(winner["amount_fen"])
    return Award(prize_id=prize_id(month, rank), month=month, rank=rank, promoter_id=str(winner["promoter_id"]),
                 measure=measure, score_fen=score, amount_fen=amount, status=status,
                 settings_version=int(ranking.get("settings_version", 0)), created_at=iso(now),
                 paid_at=iso(now) if status == PAID else None,
                 memo=describe(month, "sales" if measure == "sales" else "commission", rank, score, amount))


def _pay(repos: PrizeRepositories, award: Award, *, now: datetime, release: bool = False) -> bool | None:
    """Pay one award (or release a held one). True: paid now; False: paid already; None: held."""
    for _ in range(PAY_ATTEMPTS):
        if repos.holds.get(award.promoter_id) is not None:
            if release:
                return None
            return None if repos.prizes.hold(replace(award, status=HELD, paid_at=None), now=now) else False
        wallet = repos.prizes.wallet(award.promoter_id)
        postings = prize_paid(balances=wallet.balances, promoter_id=award.promoter_id, prize_id=award.prize_id,
                              amount_fen=award.amount_fen, at=now, memo=award.memo,
                              ref={"prize_id": award.prize_id, "month": award.month, "rank": str(award.rank)})
        try:
            if release:
                return repos.prizes.release(award, postings, wallet=wallet, now=now)
            return repos.prizes.pay(award, postings, wallet=wallet, now=now)
        except LedgerRefused:
            continue  # the wallet moved or a hold appeared: read again
    raise RuntimeError(f"prize {award.prize_id} still contended after {PAY_ATTEMPTS} attempts; the next run retries")


def run_month(repos: PrizeRepositories, *, month: str, now: datetime, threads: int | None = None) -> PrizeRunReport:
    """Decide and pay ``month``'s prizes if it is final (idempotent per rank; module docstring)."""
    parse_month(month)
    current = repos.settings.current(consistent=True)
    table = current.settings.leaderboard_prizes.table_for(month)
    report = PrizeRunReport(month=month, enabled=table is not None)
    stored = repos.prizes.ranking(month)
    if (table is None and stored is None) or now < month_end(month):
        return report
    ranking = stored
    if ranking is None and table is not None:
        ranking = _decide(repos, month, table, settings_version=current.version,
                          final_after_days=current.settings.team_bonus.final_after_days, now=now, threads=threads)
    if ranking is None:
        logger.info("leaderboard prizes: month not final", extra=report.as_dict())
        return report
    report.final = report.decided = True
    existing = repos.prizes.existing(month)
    for winner in ranking.get("winners") or []:
        if int(winner["amount_fen"]) <= 0:
            continue
        if int(winner["rank"]) in existing:
            report.already_paid += 1
            continue
        award = _award(month, ranking, winner, status=PAID, now=now)
        outcome = _pay(repos, award, now=now)
        if outcome is None:
            report.held += 1
            report.promoters.append(award.promoter_id)
        elif outcome:
            report.paid += 1
            report.paid_fen += award.amount_fen
            report.promoters.append(award.promoter_id)
        else:
            report.already_paid += 1
    logger.info("leaderboard prizes run", extra=report.as_dict())
    return report


def release_held(repos: PrizeRepositories, *, now: datetime) -> int:
    """Pay the held awards whose promoter's risk case has closed; returns how many were paid."""
    paid = 0
    for award in repos.prizes.held():
        if award.status == HELD and _pay(repos, award, now=now, release=True):
            paid += 1
    return paid


def run_due(repos: PrizeRepositories, *, now: datetime, threads: int | None = None) -> list[PrizeRunReport]:
    """The daily run: every month still open (the team bonus's ``months_to_examine``), oldest first,
    then the held awards."""
    final_after_days = repos.settings.current(consistent=True).settings.team_bonus.final_after_days
    reports = [run_month(repos, month=month, now=now, threads=threads)
               for month in reversed(months_to_examine(now, final_after_days))]
    release_held(repos, now=now)
    return reports


# ---- views ------------------------------------------------------------------------------------------


def admin_prizes(repos: PrizeRepositories, *, month: str) -> AdminPrizeList:
    """The month's ranking and awards (≤ 20 ranks: one page), or the table that will decide it."""
    parse_month(month)
    ranking = repos.prizes.ranking(month)
    awards = repos.prizes.existing(month)
    table = repos.settings.current().settings.leaderboard_prizes.table_for(month)
    items: list[AdminPrizeView] = []
    for winner in (ranking or {}).get("winners") or []:
        rank = int(winner["rank"])
        award = awards.get(rank)
        items.append(AdminPrizeView(
            rank=rank, promoter_id=str(winner["promoter_id"]), score_fen=int(winner["score_fen"]),
            amount_fen=int(winner["amount_fen"]),
            status=cast(PrizeStatus, award.status if award else (
                "NO_PRIZE" if int(winner["amount_fen"]) <= 0 else "PENDING")),
            prize_id=award.prize_id if award else None, paid_at=award.paid_at if award else None))
    return AdminPrizeList(month=month, decided=ranking is not None,
                          decided_at=str(ranking["decided_at"]) if ranking else None,
                          measure=cast(Measure, ranking["measure"]) if ranking else (table.measure if table else None),
                          settings_version=int(ranking["settings_version"]) if ranking else None,
                          paid_fen=sum(a.amount_fen for a in awards.values() if a.status == PAID),
                          table=PrizeTableView.of(table, month), items=items)
