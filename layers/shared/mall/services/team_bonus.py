"""Team bonus (团队分红): the daily decision, the recomputation after a refund, and the views.

``run_due`` (the ``team_bonus`` schedule, daily at 03:00 China time) examines every month that has
ended and whose final date (``final_after_days`` after its end) passed at most ``LATE_RUN_DAYS`` ago;
``run_month`` examines one. A month's team orders are listed from ``TEAM_ORDERS#<month>#<shard>`` (16
shards, one Query per page); for each promoter not yet paid for that month, their commission records are
read (consistent) and ``mall.domain.team_bonus.team_month`` gives the team sales and whether the month
is final for them. Once it is, the bonus is decided with the tiers in force and paid: the bonus record
and its ``bonus_frozen`` posting in ONE transaction, the record put only if absent
(``mall.dal.team_bonus.BonusRepository.create``). Running it twice, or two runs at once, pays each
promoter once per month: the second finds the record (or fails its condition) and moves on.

``recompute_month`` (called by the commission sync after it applied a refund to the records of an order
whose month was paid): the team sales are read again from the records and the bonus is recomputed with
the tiers that paid it; the overpaid part is cancelled from frozen (the bonus has not settled) or clawed
back from available, a shortfall becoming debt (settled), like commission. One conditional update of
the record's ``version`` in the transaction of its posting (id ``<bonus_id>.cancel|clawback.r<version>``):
redelivered or concurrent recomputations take each reduction once.

Who gets one: an *active* promoter on the day the month is final (frozen, disabled — or no promoter
item — get none; a promoter frozen that day is not paid that month's bonus later). A promoter under an
open risk case is paid the record but the bonus only settles once the case is closed (the settlement
reads the hold: ``mall.dal.settlement``); a confirmed case may void it (``void_bonuses``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Self

from aws_lambda_powertools import Logger

from mall.api.cursor import cursors
from mall.clock import CHINA, iso, parse_instant
from mall.dal.keys import bonus_month_partition, bonus_promoter_partition
from mall.dal.ledger import LedgerRefused, LedgerRepository
from mall.dal.risk import RiskHoldRepository
from mall.dal.settings import SettingsRepository
from mall.dal.team_bonus import BonusRepository, TeamOrders, bonus_from_item
from mall.domain.commission_records import CommissionRecord, CommissionStatus
from mall.domain.ledger import Posting, commission_cancelled, commission_clawed_back
from mall.domain.stats import TEAM_SALES_SHARDS
from mall.domain.team_bonus import (
    BonusRecord,
    TeamBonusRules,
    TeamMonth,
    bonus_for,
    bonus_id,
    bonus_reduction,
    china_month,
    counts_for_team,
    due_at,
    explain,
    final_by,
    month_end,
    parse_month,
    team_month,
)
from mall.errors import FieldProblem, InvalidInput
from mall.schemas.team_bonus import AdminBonusPage, AdminBonusView, BonusPage, BonusView

if TYPE_CHECKING:
    from mall.dal.table import Table

logger = Logger(child=True)

#: Shards of the team orders read at once.
RUN_THREADS = 4
#: The daily run keeps examining a month this many days after its final date, so a run that failed
#: on that day (or a day the schedule did not fire) still pays it.
LATE_RUN_DAYS = 7


@dataclass(frozen=True)
class TeamBonusRepositories:
    """What the team bonus reads and writes through."""

    bonuses: BonusRepository
    settings: SettingsRepository
    ledger: LedgerRepository
    holds: RiskHoldRepository

    @classmethod
    def on(cls, table: Table) -> Self:
        return cls(bonuses=BonusRepository(table), settings=SettingsRepository(table), ledger=LedgerRepository(table),
                   holds=RiskHoldRepository(table))


@dataclass
class BonusRunReport:
    """What one monthly run did. Reports of shards add up (``merge``)."""

    month: str
    enabled: bool = True
    settings_version: int = 0
    examined: int = 0  # promoters with team orders in the month
    not_final: int = 0  # some of the month's orders still open, before the final date: decided later
    paid: int = 0  # bonus records created by this run
    paid_fen: int = 0
    already_paid: int = 0  # found a record (an earlier or a concurrent run)
    below_tier: int = 0  # team sales under the first tier (or ≤ 0)
    not_active: int = 0  # frozen, disabled or not a promoter: no bonus
    due_at: str | None = None
    promoters: list[str] = field(default_factory=list)  # paid by this run (for logs and tests)

    def merge(self, other: BonusRunReport) -> BonusRunReport:
        self.examined += other.examined
        self.not_final += other.not_final
        self.paid += other.paid
        self.paid_fen += other.paid_fen
        self.already_paid += other.already_paid
        self.below_tier += other.below_tier
        self.not_active += other.not_active
        self.promoters += other.promoters
        return self

    def as_dict(self) -> dict[str, Any]:
        return {"month": self.month, "enabled": self.enabled, "settings_version": self.settings_version,
                "examined": self.examined, "not_final": self.not_final, "paid": self.paid, "paid_fen": self.paid_fen,
                "already_paid": self.already_paid, "below_tier": self.below_tier, "not_active": self.not_active,
                "due_at": self.due_at}


def _month_of(repo: BonusRepository, orders: TeamOrders, *, recorded_by: datetime | None = None) -> TeamMonth:
    """The month's team sales; with ``recorded_by``, only from the records that existed then."""
    records = repo.records(orders.record_keys)
    if recorded_by is not None:
        records = [r for r in records if r.created_at <= recorded_by]
    return team_month(orders.promoter_id, orders.month, records)


def _pay_page(repo: BonusRepository, page: Sequence[TeamOrders], *, month: str, rules: TeamBonusRules,
              settings_version: int, settlement_days: int, now: datetime) -> BonusRunReport:
    report = BonusRunReport(month=month, examined=len(page))
    if not page:
        return report
    existing = repo.existing([orders.promoter_id for orders in page], month)
    decided: list[tuple[TeamMonth, int, int, int]] = []  # team month, tier threshold, bp, amount
    for orders in page:
        if orders.promoter_id in existing:
            report.already_paid += 1
            continue
        sales = _month_of(repo, orders)
        if not sales.final(now=now, final_after_days=rules.final_after_days):
            report.not_final += 1
            continue
        tier, amount = bonus_for(sales.team_sales_fen, rules)
        if tier is None or amount <= 0:
            report.below_tier += 1
            continue
        decided.append((sales, tier.min_team_sales_fen, tier.bonus_bp, amount))
    statuses = repo.promoter_statuses([sales.promoter_id for sales, *_ in decided])
    # Paid when final, and never before the month's end + settlement days (the settlement's floor).
    due = max(now, due_at(month, settlement_days))
    for sales, threshold, bp, amount in decided:
        uid = sales.promoter_id
        if statuses.get(uid) != "active":
            report.not_active += 1
            continue
        record = BonusRecord(
            bonus_id=bonus_id(uid, month), beneficiary_id=uid, month=month, team_sales_fen=sales.team_sales_fen,
            amount_fen=amount, status=CommissionStatus.FROZEN, created_at=now, due_at=due,
            rule={"basis": "team_orders", "min_team_sales_fen": threshold, "bonus_bp": bp,
                  "settings_version": settings_version, "settlement_days": settlement_days,
                  "final_after_days": rules.final_after_days, "orders": sales.orders,
                  "open_records": sales.open_records},
            history=[{"at": iso(now), "status": CommissionStatus.FROZEN.value, "amount_fen": amount,
                      "team_sales_fen": sales.team_sales_fen}])
        if repo.create(record, now=now):
            report.paid += 1
            report.paid_fen += amount
            report.promoters.append(uid)
        else:
            report.already_paid += 1
    return report


def run_month(repos: TeamBonusRepositories, *, month: str, now: datetime, threads: int | None = None) -> BonusRunReport:
    """Pay ``month``'s team bonuses of the promoters for whom it is final (idempotent per promoter per
    month; see the module docstring). A month that has not ended pays nothing."""
    parse_month(month)
    current = repos.settings.current(consistent=True)
    rules = current.settings.team_bonus
    report = BonusRunReport(month=month, enabled=rules.enabled, settings_version=current.version)
    if not rules.enabled:
        logger.info("team bonus disabled: nothing paid", extra=report.as_dict())
        return report
    if now < month_end(month):
        logger.info("team bonus month not over: nothing paid", extra=report.as_dict())
        return report
    settlement_days = (rules.settlement_days if rules.settlement_days is not None
                       else current.settings.commission.settlement_days)
    report.due_at = iso(max(now, due_at(month, settlement_days)))
    repo = repos.bonuses

    def shard(number: int) -> BonusRunReport:
        done = BonusRunReport(month=month)
        for page in repo.team_order_pages(month, number):
            done.merge(_pay_page(repo, page, month=month, rules=rules, settings_version=current.version,
                                 settlement_days=settlement_days, now=now))
        return done

    with ThreadPoolExecutor(max_workers=max(1, threads if threads is not None else RUN_THREADS)) as pool:
        for part in pool.map(shard, range(TEAM_SALES_SHARDS)):
            report.merge(part)
    logger.info("team bonus run", extra=report.as_dict())
    return report


def months_to_examine(now: datetime, final_after_days: int) -> list[str]:
    """The months the daily run examines: ended, and final at most ``LATE_RUN_DAYS`` ago."""
    months: list[str] = []
    month = china_month(now.astimezone(CHINA).replace(day=1) - timedelta(days=1))
    while now <= final_by(month, final_after_days) + timedelta(days=LATE_RUN_DAYS):
        months.append(month)
        month = china_month(month_end(month) - timedelta(days=32))
    return months


def run_due(repos: TeamBonusRepositories, *, now: datetime, threads: int | None = None) -> list[BonusRunReport]:
    """The daily run: every month still to decide (``months_to_examine``), oldest first."""
    rules = repos.settings.current(consistent=True).settings.team_bonus
    return [run_month(repos, month=month, now=now, threads=threads)
            for month in reversed(months_to_examine(now, rules.final_after_days))]


# ---- recomputing a paid month after a refund ----------------------------------------------------


class RecomputeIncomplete(RuntimeError):
    """A reduction kept losing races: raised so the commission sync's message is retried, and a retry
    recomputes from the state then (nothing was taken twice)."""


@dataclass
class Recomputed:
    promoter_id: str
    month: str
    team_sales_fen: int = 0
    taken_back_fen: int = 0  # cancelled from frozen or clawed back by this call
    outcome: str = "unchanged"  # unchanged | reduced | not_paid


def recompute_month(repos: TeamBonusRepositories, *, promoter_id: str, month: str, now: datetime,
                    attempts: int = 5) -> Recomputed:
    """Recompute a paid bonus from the records as they are now and take back what it overpays (module
    docstring). Idempotent: a second call with nothing new changes nothing. Raises
    ``RecomputeIncomplete`` when every attempt lost a race (the caller's message is retried)."""
    repo = repos.bonuses
    ledger = repos.ledger
    result = Recomputed(promoter_id=promoter_id, month=month)
    for _ in range(attempts):
        record = repo.get(promoter_id, month)
        if record is None or record.status == CommissionStatus.CANCELLED or record.current_fen <= 0:
            result.outcome = "not_paid" if record is None else "unchanged"
            return result
        # Over the orders the bonus was paid on: a record created after the payment counts for nothing,
        # so what a refund takes back does not depend on whether a late record came before it or after.
        sales = _month_of(repo, repo.team_orders(promoter_id, month), recorded_by=record.created_at)
        result.team_sales_fen = sales.team_sales_fen
        paid_by = repos.settings.get(int(record.rule.get("settings_version", 0)))
        if paid_by is None:  # never deleted: a missing version is a data error, not a zero bonus
            raise LookupError(f"settings version {record.rule.get('settings_version')} does not exist")
        take = bonus_reduction(record, sales.team_sales_fen, paid_by.settings.team_bonus)
        if take <= 0:
            return result
        step = f"r{record.version}"
        ref = {"bonus_id": record.bonus_id, "month": month, "revision": str(record.version)}
        expect = None
        posting: Posting
        if record.status == CommissionStatus.FROZEN:
            posting = commission_cancelled(promoter_id=promoter_id, commission_id=record.bonus_id, amount_fen=take,
                                           at=now, ref=ref, step=step)
        else:
            wallet = ledger.wallet(promoter_id)
            posting = commission_clawed_back(balances=wallet.balances, promoter_id=promoter_id,
                                             commission_id=record.bonus_id, amount_fen=take, at=now, ref=ref,
                                             step=step)
            expect = {promoter_id: wallet}
        try:
            ledger.post([posting], also=[repo.reduction_write(record, take, team_sales_fen=sales.team_sales_fen,
                                                              now=now)], expect=expect, now=now)
        except LedgerRefused:
            continue  # settled, reduced, or the wallet moved meanwhile: read again
        result.taken_back_fen += take
        result.outcome = "reduced"
        logger.info("team bonus reduced after a refund", extra={"bonus_id": record.bonus_id, "taken_back_fen": take,
                                                                "team_sales_fen": sales.team_sales_fen})
        return result
    raise RecomputeIncomplete(f"team bonus of {promoter_id} for {month} still changing after {attempts} attempts")


def recompute_for_order(repos: TeamBonusRepositories, *, order: Mapping[str, Any],
                        records: Sequence[CommissionRecord], now: datetime) -> list[Recomputed]:
    """After the commission sync brought an order's records in step: when the order has refunds,
    recompute the paid bonus of its month for each promoter it counts for (one GetItem each when the
    month was not paid)."""
    refunded = any(int(line.get("refunded_fen", 0) or 0) > 0 for line in order.get("lines") or [])
    paid_at = order.get("paid_at")
    if not refunded or not paid_at:
        return []
    month = china_month(parse_instant(str(paid_at)))
    done: list[Recomputed] = []
    for uid in sorted({r.beneficiary_id for r in records if counts_for_team(r)}):
        if repos.bonuses.get(uid, month) is not None:
            done.append(recompute_month(repos, promoter_id=uid, month=month, now=now))
    return done


# ---- voiding (a confirmed risk case) ----------------------------------------------------------------


def void_bonuses(repos: TeamBonusRepositories, *, promoter_id: str, case_id: str, now: datetime,
                 limit: int = 24) -> int:
    """Cancel the promoter's FROZEN bonuses (frozen → merchant, ``commission_voided``), each in one
    transaction conditional on its state: for the risk cases when a case is confirmed. Returns the
    number voided; repeating it voids nothing twice (deterministic posting id, status condition)."""
    repo = repos.bonuses
    voided = 0
    for item in repo.for_promoter(promoter_id, limit=limit, start_key=None).items:
        record = bonus_from_item(item)
        if record.status != CommissionStatus.FROZEN or record.current_fen <= 0:
            continue
        posting = commission_cancelled(promoter_id=promoter_id, commission_id=record.bonus_id,
                                       amount_fen=record.current_fen, at=now,
                                       ref={"bonus_id": record.bonus_id, "month": record.month, "case_id": case_id},
                                       step="void", voided=True)
        try:
            repos.ledger.post([posting], also=[repo.void_write(record, case_id=case_id, now=now)], now=now)
        except LedgerRefused:
            continue  # settled or voided meanwhile: nothing to take back here
        voided += 1
    return voided


# ---- views --------------------------------------------------------------------------------------


def _view_fields(record: BonusRecord) -> dict[str, Any]:
    return {"bonus_id": record.bonus_id, "month": record.month, "team_sales_fen": record.team_sales_fen,
            "tier_min_team_sales_fen": int(record.rule.get("min_team_sales_fen", 0)),
            "bonus_bp": int(record.rule.get("bonus_bp", 0)), "amount_fen": record.amount_fen,
            "current_fen": record.current_fen, "status": record.status.value, "created_at": iso(record.created_at),
            "due_at": iso(record.due_at) if record.due_at else None,
            "settled_at": iso(record.settled_at) if record.settled_at else None, "explanation": explain(record)}


def my_bonuses(repos: TeamBonusRepositories, *, user_id: str, limit: int, cursor: str | None) -> BonusPage:
    """The caller's own bonuses, newest month first (one gsi1 Query per page)."""
    start = cursors.decode(cursor, partition=("gsi1pk", bonus_promoter_partition(user_id)))
    page = repos.bonuses.for_promoter(user_id, limit=limit, start_key=start)
    return BonusPage(items=[BonusView(**_view_fields(bonus_from_item(i))) for i in page.items],
                     next_cursor=cursors.encode(page.last_key))


def admin_bonuses(repos: TeamBonusRepositories, *, month: str, limit: int, cursor: str | None) -> AdminBonusPage:
    """One month's bonuses of every promoter, in promoter id order, with each promoter's open risk hold."""
    try:
        parse_month(month)
    except ValueError as exc:
        raise InvalidInput("month is not YYYY-MM", code="invalid_month",
                           fields=[FieldProblem("query:month", "not a month (YYYY-MM)")]) from exc
    start = cursors.decode(cursor, partition=("pk", bonus_month_partition(month)))
    page = repos.bonuses.for_month(month, limit=limit, start_key=start)
    records = [bonus_from_item(i) for i in page.items]
    held = repos.holds.get_many(r.beneficiary_id for r in records)
    return AdminBonusPage(
        month=month,
        items=[AdminBonusView(**_view_fields(r), promoter_id=r.beneficiary_id,
                              settings_version=int(r.rule.get("settings_version", 0)),
                              risk_hold=r.beneficiary_id in held) for r in records],
        next_cursor=cursors.encode(page.last_key))
