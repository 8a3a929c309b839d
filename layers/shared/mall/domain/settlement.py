"""Settlement (结算), pure: which commission records are due, the postings that settle one
promoter's due records in order, how the planner cuts the due work into slices, and the report.

A record is due at ``as_of`` when it is FROZEN, has a due date (order completed + N days, T+N)
not after ``as_of``, carries no risk hold, and is still worth something (``current_fen > 0``).
Settling moves ``current_fen`` from frozen to available; when the promoter owes a debt, the
settled money repays it first (``mall.domain.ledger.commission_settled``). A promoter's records
are settled in due order against the *evolving* balances, so one wallet read serves them all.

Monthly team bonuses (``mall.domain.team_bonus.BonusRecord``) settle through the same due index and
the same code: they share the commission statuses, ``due_at``, ``hold``, ``current_fen`` and
``version``; only their postings' kind (``bonus_settled``) and reference differ.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from mall.clock import iso
from mall.domain.commission_records import CommissionRecord, CommissionStatus
from mall.domain.ledger import Account, Balances, Posting, commission_settled
from mall.domain.team_bonus import BonusRecord

#: What the settlement settles: commission records and monthly team bonus records.
type Settleable = CommissionRecord | BonusRecord


class NotDue(StrEnum):
    """Why a record found in (or named to) the settlement is left alone."""

    MISSING = "missing"  # the key names no record
    NOT_FROZEN = "not_frozen"  # already SETTLED (another run) or CANCELLED (refunded)
    NO_DUE_DATE = "no_due_date"  # its order has not completed yet
    NOT_YET_DUE = "not_yet_due"
    HELD = "held"  # an open risk case (issue 7)
    NOTHING_OWED = "nothing_owed"  # refunds took it to zero but it is not cancelled (never expected)


def not_due_reason(record: Settleable, as_of: datetime) -> NotDue | None:
    """None when ``record`` is due at ``as_of``; else why not."""
    if record.status != CommissionStatus.FROZEN:
        return NotDue.NOT_FROZEN
    if record.due_at is None:
        return NotDue.NO_DUE_DATE
    # Compared as stored (second precision), exactly like the conditional write compares them.
    if iso(record.due_at) > iso(as_of):
        return NotDue.NOT_YET_DUE
    if record.hold:
        return NotDue.HELD
    if record.current_fen <= 0:
        return NotDue.NOTHING_OWED
    return None


def settlement_ref(record: Settleable) -> dict[str, str]:
    if isinstance(record, BonusRecord):
        return {"bonus_id": record.bonus_id, "month": record.month}
    return {"commission_id": record.commission_id, "order_id": record.order_id, "line_id": record.line_id,
            "level": str(record.level)}


@dataclass(frozen=True, slots=True)
class SettledRecord:
    """One record's settlement: the amount moved and its 1–2 postings."""

    record: Settleable
    postings: tuple[Posting, ...]

    @property
    def amount_fen(self) -> int:
        return self.record.current_fen

    @property
    def repaid_fen(self) -> int:
        return sum(p.delta(Account.DEBT) for p in self.postings)


def writes_of(settled: SettledRecord) -> int:
    """DynamoDB writes the record adds to a transaction: its state change and one put per posting.
    (Settlement postings have no merchant leg, so the wallet update is the only shared write.)"""
    return 1 + len(settled.postings)


def settle_in_order(records: Sequence[Settleable], balances: Balances, *, at: datetime,
                    max_writes: int, fixed_writes: int = 1) -> tuple[list[SettledRecord], Balances]:
    """Settle a prefix of one promoter's ``records`` against ``balances``, each record's postings
    computed from the balances the previous ones left (debt repaid first), stopping before the
    transaction would exceed ``max_writes`` (``fixed_writes``: the wallet update). Always takes at
    least one record. Returns the settled prefix and the balances after it. Raises
    ``mall.domain.ledger.Overdraft`` if frozen cannot cover a record (the ledger is inconsistent)."""
    taken: list[SettledRecord] = []
    writes = fixed_writes
    for record in records:
        postings = tuple(commission_settled(balances=balances, promoter_id=record.beneficiary_id,
                                            commission_id=record.commission_id, amount_fen=record.current_fen,
                                            at=at, ref=settlement_ref(record),
                                            bonus=isinstance(record, BonusRecord)))
        settled = SettledRecord(record, postings)
        if taken and writes + writes_of(settled) > max_writes:
            break
        balances = balances.apply(*postings)
        taken.append(settled)
        writes += writes_of(settled)
    return taken, balances


def due_order(records: Iterable[Settleable]) -> list[Settleable]:
    """Oldest due first (then by id): the order a promoter's money becomes available in."""
    return sorted(records, key=lambda r: (iso(r.due_at) if r.due_at else "", r.commission_id))


def pack_slices[K: Hashable](entries: Iterable[tuple[str, K]], slice_size: int) -> list[list[K]]:
    """Cut ``(beneficiary_id, key)`` pairs into slices of at most ``slice_size`` keys, keeping a
    promoter's keys together so a worker settles them in one transaction (one wallet read, one
    wallet write). A promoter with more than ``slice_size`` due records gets slices of their own.
    Duplicate keys are dropped. Deterministic: promoters in id order."""
    if slice_size < 1:
        raise ValueError("slice_size must be at least 1")
    groups: dict[str, list[K]] = {}
    seen: set[K] = set()
    for beneficiary, key in entries:
        if key in seen:
            continue
        seen.add(key)
        groups.setdefault(beneficiary, []).append(key)
    slices: list[list[K]] = []
    current: list[K] = []
    for beneficiary in sorted(groups):
        keys = groups[beneficiary]
        while len(keys) > slice_size:  # a busy promoter: full slices of their own
            slices.append(keys[:slice_size])
            keys = keys[slice_size:]
        if len(current) + len(keys) > slice_size:
            slices.append(current)
            current = []
        current.extend(keys)
    if current:
        slices.append(current)
    return slices


@dataclass
class SettleReport:
    """What a settlement run (or one slice of it) did. Reports of slices add up (``merge``)."""

    as_of: datetime
    examined: int = 0  # keys looked at
    settled: int = 0  # records moved FROZEN → SETTLED by this run
    settled_fen: int = 0
    repaid_fen: int = 0  # of which went to repay debt
    skipped: dict[str, int] = field(default_factory=dict)  # NotDue reason → count
    promoters: int = 0  # promoter groups settled
    transactions: int = 0  # committed ledger transactions
    fallbacks: int = 0  # groups retried record by record after one of them changed
    retries: int = 0  # transactions computed again after a wallet or record moved under them

    def skip(self, reason: NotDue, count: int = 1) -> None:
        if count:
            self.skipped[reason.value] = self.skipped.get(reason.value, 0) + count

    def add(self, settled: Sequence[SettledRecord]) -> None:
        self.settled += len(settled)
        self.settled_fen += sum(s.amount_fen for s in settled)
        self.repaid_fen += sum(s.repaid_fen for s in settled)

    def merge(self, other: SettleReport) -> SettleReport:
        self.examined += other.examined
        self.settled += other.settled
        self.settled_fen += other.settled_fen
        self.repaid_fen += other.repaid_fen
        for reason, count in other.skipped.items():
            self.skipped[reason] = self.skipped.get(reason, 0) + count
        self.promoters += other.promoters
        self.transactions += other.transactions
        self.fallbacks += other.fallbacks
        self.retries += other.retries
        return self

    def as_dict(self) -> dict[str, Any]:
        return {"as_of": iso(self.as_of), "examined": self.examined, "settled": self.settled,
                "settled_fen": self.settled_fen, "repaid_fen": self.repaid_fen, "skipped": dict(self.skipped),
                "promoters": self.promoters, "transactions": self.transactions, "fallbacks": self.fallbacks,
                "retries": self.retries}


def skipped_total(skipped: Mapping[str, int]) -> int:
    return sum(skipped.values())
