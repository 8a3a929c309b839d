"""Settlement (结算, T+N) as a scheduled fan-out.

- ``plan`` (the daily ``settlement_planner``): reads the due index of every shard up to the
  as-of time, cuts the due records into slices that keep each promoter's records together, and
  sends the slices (commission keys + the as-of time) to ``SettlementQueue``, ten per
  SendMessageBatch.
- ``settle_slice`` (the ``settlement_worker``, one SQS message): settles a slice's records that
  are still due (``mall.dal.settlement.SettlementRepository.settle``).
- ``settle_due``: both inline, in this process: what tests, the end-to-end chain and the local
  stack use.
- ``void_disabled_promoter`` (after an admin disables a promoter): every unsettled record of the
  promoter is voided through the ledger, audited. A record the settlement meets later (created
  after the disable, or left by an interrupted run) is voided by the settlement instead.

A promoter frozen by an admin is skipped (``promoter_frozen``) and stays in the due index: the
first run after the unfreeze settles it. A record whose order line has a refund open waits
(``refund_open``) until the request ends. Both are checked again inside the settling transaction.

Idempotent end to end: a slice sent twice (an overlapping planner run, a redelivered message)
finds its records SETTLED and skips them; each record is settled exactly once (conditional
status change + deterministic posting ids in one transaction).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Self

from aws_lambda_powertools import Logger
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from mall.clock import iso
from mall.dal.referral import PromoterRepository
from mall.dal.risk import RiskCaseRepository
from mall.dal.settlement import SettlementRepository, SettlementStuck
from mall.dal.settlement_records import DueEntry
from mall.dal.team_bonus import BonusRepository
from mall.domain.settlement import SettleReport, voids_unsettled

if TYPE_CHECKING:
    from mall.dal.table import Table

logger = Logger(child=True)

#: Keys per slice (one SQS message, one BatchGetItem of ≤ 100 keys): ~1 s of a worker's time.
SLICE_SIZE = 100
#: Shards of the due index queried at once by the planner.
PLAN_THREADS = 4

#: ``send`` takes the bodies of up to ten messages (one SendMessageBatch).
Send = Callable[[Sequence[Mapping[str, Any]]], None]


class CommissionKey(BaseModel):
    """The key of a settleable record: a commission (``ORDER#…/COMMISSION#…``) or a monthly team
    bonus (``BONUSES#<month>/USER#<uid>``, ``mall.dal.team_bonus``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pk: Annotated[str, Field(pattern=r"^(ORDER|BONUSES)#.+", max_length=200)]
    sk: Annotated[str, Field(pattern=r"^(COMMISSION|USER)#.+", max_length=200)]


class SettleSliceMessage(BaseModel):
    """The body of one ``SettlementQueue`` message."""

    model_config = ConfigDict(extra="forbid")

    as_of: AwareDatetime
    keys: Annotated[list[CommissionKey], Field(min_length=1, max_length=1000)]
    slice: str = ""  # "<as_of>/<n>": names the slice in logs


@dataclass(frozen=True)
class SettlementRepositories:
    """What settlement reads and writes through."""

    settlement: SettlementRepository
    promoters: PromoterRepository
    risk_cases: RiskCaseRepository
    bonuses: BonusRepository

    @classmethod
    def on(cls, table: Table) -> Self:
        return cls(settlement=SettlementRepository(table), promoters=PromoterRepository(table),
                   risk_cases=RiskCaseRepository(table), bonuses=BonusRepository(table))


@dataclass
class PlanReport:
    as_of: datetime
    due: int = 0  # due index entries found
    promoters: int = 0
    slices: int = 0  # messages sent
    batches: int = 0  # SendMessageBatch calls

    def as_dict(self) -> dict[str, Any]:
        return {"as_of": iso(self.as_of), "due": self.due, "promoters": self.promoters, "slices": self.slices,
                "batches": self.batches}


def due_entries(repos: SettlementRepositories, *, as_of: datetime) -> list[DueEntry]:
    """Every due index entry at ``as_of``, all shards (queried a few at a time)."""
    repo = repos.settlement
    with ThreadPoolExecutor(max_workers=PLAN_THREADS) as pool:
        per_shard = list(pool.map(lambda shard: list(repo.due_entries(shard, as_of=as_of)), repo.shards()))
    return [entry for entries in per_shard for entry in entries]


def slice_messages(repos: SettlementRepositories, entries: Sequence[DueEntry], *, as_of: datetime,
                   slice_size: int) -> list[dict[str, Any]]:
    slices = repos.settlement.slices(entries, slice_size)
    return [{"as_of": iso(as_of), "slice": f"{iso(as_of)}/{n}", "keys": keys} for n, keys in enumerate(slices)]


def plan(repos: SettlementRepositories, *, as_of: datetime, send: Send, slice_size: int = SLICE_SIZE) -> PlanReport:
    """Find what is due at ``as_of`` and send it, in slices, to the workers."""
    entries = due_entries(repos, as_of=as_of)
    messages = slice_messages(repos, entries, as_of=as_of, slice_size=slice_size)
    report = PlanReport(as_of=as_of, due=len(entries), promoters=len({e.beneficiary_id for e in entries}),
                        slices=len(messages))
    for start in range(0, len(messages), 10):
        send(messages[start:start + 10])
        report.batches += 1
    logger.info("settlement planned", extra=report.as_dict())
    return report


def settle_slice(repos: SettlementRepositories, *, keys: Sequence[Mapping[str, Any]], as_of: datetime,
                 now: datetime) -> SettleReport:
    """Settle the records of one slice that are due at ``as_of``. Raises ``SettlementStuck``
    (after settling the rest) when some promoters' records could not be settled."""
    return repos.settlement.settle([dict(key) for key in keys], as_of=as_of, now=now)


def settle_message(repos: SettlementRepositories, *, body: str, now: datetime) -> SettleReport:
    """One ``SettlementQueue`` message (a JSON ``SettleSliceMessage``)."""
    message = SettleSliceMessage.model_validate_json(body)
    report = settle_slice(repos, keys=[k.model_dump() for k in message.keys], as_of=message.as_of, now=now)
    logger.info("settlement slice done", extra={"slice": message.slice, **report.as_dict()})
    return report


def settle_due(repos: SettlementRepositories, *, as_of: datetime, now: datetime,
               slice_size: int = SLICE_SIZE) -> SettleReport:
    """Settle everything due at ``as_of`` in this process: plan, then settle each slice. Raises
    ``SettlementStuck`` at the end if some promoters could not be settled (the rest was)."""
    slices: list[Mapping[str, Any]] = []
    plan(repos, as_of=as_of, send=slices.extend, slice_size=slice_size)
    total = SettleReport(as_of=as_of)
    failures: dict[str, str] = {}
    for message in slices:
        try:
            total.merge(settle_slice(repos, keys=message["keys"], as_of=as_of, now=now))
        except SettlementStuck as stuck:
            total.merge(stuck.report)
            failures.update(stuck.failures)
    if failures:
        raise SettlementStuck(total, failures)
    return total


#: Bonus records read per page when voiding a disabled promoter's (one per month at most).
BONUS_PAGE = 50


def void_disabled_promoter(repos: SettlementRepositories, *, promoter_id: str, by: str, now: datetime,
                           source_ip: str | None = None, status: str | None = None) -> SettleReport:
    """Void every unsettled (FROZEN) commission and team bonus record of a disabled promoter, each
    with its ``commission_voided`` posting and an audit entry in one transaction. Safe to repeat
    (a voided record is CANCELLED and skipped); does nothing unless the promoter is disabled.
    Settled money is not touched: it stays the promoter's to withdraw. ``status`` is the promoter's
    status as the caller has just written it (the disabling route's own conditional update), which
    spares a re-read; without it the stored promoter decides."""
    report = SettleReport(as_of=now)
    if status is None:
        promoter = repos.promoters.get(promoter_id, consistent=True)
        status = promoter.status if promoter is not None else None
    if status is None or not voids_unsettled(status):
        return report
    for record in repos.risk_cases.unsettled_records(promoter_id):
        report.merge(repos.settlement.void_record(record, by=by, now=now, source_ip=source_ip))
    for bonus in repos.bonuses.frozen_for_promoter(promoter_id, page_size=BONUS_PAGE):
        report.merge(repos.settlement.void_record(bonus, by=by, now=now, source_ip=source_ip))
    logger.info("a disabled promoter's unsettled money voided", extra={
        "promoter_id": promoter_id, "records": report.voided, "amount_fen": report.voided_fen})
    return report
