"""Team bonus (团队分红): the monthly run and the promoter's and admin's views.

``run_month`` (the ``team_bonus`` schedule, 03:00 China time on the 1st, for the previous China
month) reads the team sales items of the month (16 shards, one Query per page), decides each
promoter's bonus with the tiers in force (``mall.domain.team_bonus.bonus_for``) and pays it: the
bonus record and its ``bonus_frozen`` posting in ONE transaction, the record put only if absent
(``mall.dal.team_bonus.BonusRepository.create``). Running it twice, or two runs at once, pays each
promoter once per month: the second finds the record (or fails its condition) and moves on.

Who gets one: an *active* promoter (frozen, disabled — or no promoter item — get none; a promoter
frozen on the run day is not paid that month's bonus later). A promoter under an open risk case is
paid the record (it was earned on settled sales) but the bonus only settles once the case is closed
(the settlement reads the hold: ``mall.dal.settlement``); a confirmed case may void it
(``void_bonuses``).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger

from mall.api.cursor import decode_cursor, encode_cursor
from mall.clock import iso
from mall.dal.ledger import LedgerRefused, LedgerRepository
from mall.dal.referral import promoter_key
from mall.dal.risk import RiskHoldRepository
from mall.dal.settings import SettingsRepository
from mall.dal.table import Table, Write
from mall.dal.team_bonus import (
    TEAM_SALES_SHARDS,
    BonusRepository,
    TeamSales,
    bonus_from_item,
    bonus_key,
    month_partition,
    promoter_partition,
)
from mall.domain.commission_records import CommissionStatus
from mall.domain.ledger import commission_cancelled
from mall.domain.team_bonus import BonusRecord, TeamBonusRules, bonus_for, bonus_id, due_at, explain, parse_month
from mall.errors import FieldProblem, InvalidInput
from mall.schemas.team_bonus import AdminBonusPage, AdminBonusView, BonusPage, BonusView

logger = Logger(child=True)

#: Shards of the team sales read at once.
RUN_THREADS = 4


@dataclass
class BonusRunReport:
    """What one monthly run did. Reports of shards add up (``merge``)."""

    month: str
    enabled: bool = True
    settings_version: int = 0
    examined: int = 0  # team sales items read
    paid: int = 0  # bonus records created by this run
    paid_fen: int = 0
    already_paid: int = 0  # found a record (an earlier or a concurrent run)
    below_tier: int = 0  # team sales under the first tier (or ≤ 0)
    not_active: int = 0  # frozen, disabled or not a promoter: no bonus
    due_at: str | None = None
    promoters: list[str] = field(default_factory=list)  # paid by this run (for logs and tests)

    def merge(self, other: BonusRunReport) -> BonusRunReport:
        self.examined += other.examined
        self.paid += other.paid
        self.paid_fen += other.paid_fen
        self.already_paid += other.already_paid
        self.below_tier += other.below_tier
        self.not_active += other.not_active
        self.promoters += other.promoters
        return self

    def as_dict(self) -> dict[str, Any]:
        return {"month": self.month, "enabled": self.enabled, "settings_version": self.settings_version,
                "examined": self.examined, "paid": self.paid, "paid_fen": self.paid_fen,
                "already_paid": self.already_paid, "below_tier": self.below_tier, "not_active": self.not_active,
                "due_at": self.due_at}


def _statuses(table: Table, promoter_ids: Sequence[str]) -> dict[str, str]:
    if not promoter_ids:
        return {}
    items = table.batch_get([promoter_key(uid) for uid in promoter_ids], consistent=True)
    return {str(item["user_id"]): str(item.get("status", "")) for item in items}


def _pay_page(repo: BonusRepository, page: Sequence[TeamSales], *, month: str, rules: TeamBonusRules,
              settings_version: int, settlement_days: int, now: datetime) -> BonusRunReport:
    report = BonusRunReport(month=month, examined=len(page))
    decided: list[tuple[TeamSales, int, int, int]] = []  # sales, tier threshold, bp, amount
    for sales in page:
        tier, amount = bonus_for(sales.team_sales_fen, rules)
        if tier is None or amount <= 0:
            report.below_tier += 1
            continue
        decided.append((sales, tier.min_team_sales_fen, tier.bonus_bp, amount))
    if not decided:
        return report
    ids = [sales.promoter_id for sales, *_ in decided]
    existing = repo.existing(ids, month)
    statuses = _statuses(repo.table, [uid for uid in ids if uid not in existing])
    due = due_at(month, settlement_days)
    for sales, threshold, bp, amount in decided:
        uid = sales.promoter_id
        if uid in existing:
            report.already_paid += 1
            continue
        if statuses.get(uid) != "active":
            report.not_active += 1
            continue
        record = BonusRecord(
            bonus_id=bonus_id(uid, month), beneficiary_id=uid, month=month, team_sales_fen=sales.team_sales_fen,
            amount_fen=amount, status=CommissionStatus.FROZEN, created_at=now, due_at=due,
            rule={"basis": "team_sales", "min_team_sales_fen": threshold, "bonus_bp": bp,
                  "settings_version": settings_version, "settlement_days": settlement_days,
                  "orders": sales.orders},
            history=[{"at": iso(now), "status": CommissionStatus.FROZEN.value, "amount_fen": amount}])
        if repo.create(record, now=now):
            report.paid += 1
            report.paid_fen += amount
            report.promoters.append(uid)
        else:
            report.already_paid += 1
    return report


def run_month(*, table: Table, month: str, now: datetime, threads: int | None = None) -> BonusRunReport:
    """Pay ``month``'s team bonuses (idempotent per promoter per month; see the module docstring)."""
    parse_month(month)
    current = SettingsRepository(table).current(consistent=True)
    rules = current.settings.team_bonus
    report = BonusRunReport(month=month, enabled=rules.enabled, settings_version=current.version)
    if not rules.enabled:
        logger.info("team bonus disabled: nothing paid", extra=report.as_dict())
        return report
    settlement_days = (rules.settlement_days if rules.settlement_days is not None
                       else current.settings.commission.settlement_days)
    report.due_at = iso(due_at(month, settlement_days))
    repo = BonusRepository(table)

    def shard(number: int) -> BonusRunReport:
        done = BonusRunReport(month=month)
        for page in repo.team_sales_pages(month, number):
            done.merge(_pay_page(repo, page, month=month, rules=rules, settings_version=current.version,
                                 settlement_days=settlement_days, now=now))
        return done

    with ThreadPoolExecutor(max_workers=max(1, threads if threads is not None else RUN_THREADS)) as pool:
        for part in pool.map(shard, range(TEAM_SALES_SHARDS)):
            report.merge(part)
    logger.info("team bonus run", extra=report.as_dict())
    return report


# ---- voiding (a confirmed risk case) ----------------------------------------------------------------


def void_bonuses(*, table: Table, promoter_id: str, case_id: str, now: datetime, limit: int = 24) -> int:
    """Cancel the promoter's FROZEN bonuses (frozen → merchant, ``commission_voided``), each in one
    transaction conditional on its state: for the risk cases when a case is confirmed. Returns the
    number voided; repeating it voids nothing twice (deterministic posting id, status condition)."""
    repo = BonusRepository(table)
    ledger = LedgerRepository(table)
    voided = 0
    for item in repo.for_promoter(promoter_id, limit=limit, start_key=None).items:
        record = bonus_from_item(item)
        if record.status != CommissionStatus.FROZEN or record.current_fen <= 0:
            continue
        posting = commission_cancelled(promoter_id=promoter_id, commission_id=record.bonus_id,
                                       amount_fen=record.current_fen, at=now,
                                       ref={"bonus_id": record.bonus_id, "month": record.month, "case_id": case_id},
                                       step="void", voided=True)
        write = Write.update(
            table.name, bonus_key(promoter_id, record.month),
            "SET #status = :cancelled, cancelled_fen = :all, updated_at = :now, #version = #version + :one, "
            "history = list_append(history, :entry) REMOVE gsi2pk, gsi2sk",
            condition="#status = :frozen AND #version = :v",
            names={"#status": "status", "#version": "version"},
            values={":cancelled": CommissionStatus.CANCELLED.value, ":frozen": CommissionStatus.FROZEN.value,
                    ":all": record.amount_fen, ":now": iso(now), ":one": 1, ":v": record.version,
                    ":entry": [{"at": iso(now), "status": CommissionStatus.CANCELLED.value, "case_id": case_id}]})
        try:
            ledger.post([posting], also=[write], now=now)
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


def my_bonuses(*, table: Table, user_id: str, limit: int, cursor: str | None, cursor_key: bytes) -> BonusPage:
    """The caller's own bonuses, newest month first (one gsi1 Query per page)."""
    start = decode_cursor(cursor, key=cursor_key, partition=("gsi1pk", promoter_partition(user_id)))
    page = BonusRepository(table).for_promoter(user_id, limit=limit, start_key=start)
    return BonusPage(items=[BonusView(**_view_fields(bonus_from_item(i))) for i in page.items],
                     next_cursor=encode_cursor(page.last_key, key=cursor_key))


def admin_bonuses(*, table: Table, month: str, limit: int, cursor: str | None, cursor_key: bytes) -> AdminBonusPage:
    """One month's bonuses of every promoter, in promoter id order, with each promoter's open risk hold."""
    try:
        parse_month(month)
    except ValueError as exc:
        raise InvalidInput("month is not YYYY-MM", code="invalid_month",
                           fields=[FieldProblem("query:month", "not a month (YYYY-MM)")]) from exc
    start = decode_cursor(cursor, key=cursor_key, partition=("pk", month_partition(month)))
    page = BonusRepository(table).for_month(month, limit=limit, start_key=start)
    records = [bonus_from_item(i) for i in page.items]
    held = RiskHoldRepository(table).get_many(r.beneficiary_id for r in records)
    return AdminBonusPage(
        month=month,
        items=[AdminBonusView(**_view_fields(r), promoter_id=r.beneficiary_id,
                              settings_version=int(r.rule.get("settings_version", 0)),
                              risk_hold=r.beneficiary_id in held) for r in records],
        next_cursor=encode_cursor(page.last_key, key=cursor_key))
