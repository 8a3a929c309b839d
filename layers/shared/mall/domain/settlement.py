"""Settlement (结算), pure: which commission records are due, the postings that settle one
promoter's due records in order, how the planner cuts the due work into slices, and the report.

A record is due at ``as_of`` when it is FROZEN, has a due date (its order line completed + N days,
T+N: ``line_completed_at``) not after ``as_of``, carries no risk hold, and is still worth something
(``current_fen > 0``); besides, its promoter must not be frozen by an admin (held until unfrozen)
or disabled (voided instead), and no refund request may be open on its order line (it waits).
Settling moves ``current_fen`` from frozen to available; when the promoter owes a debt, the
settled money repays it first. A promoter's due records are settled in chunks (as many as one
transaction holds), each chunk by ONE posting per kind for its sum that names every record it
settles (``mall.domain.ledger.records_settled``), so a promoter settling a thousand records a second
writes a few dozen postings, not a thousand; one wallet read serves every chunk of a group.

Monthly team bonuses (``mall.domain.team_bonus.BonusRecord``) settle through the same due index and
the same code: they share the commission statuses, ``due_at``, ``hold``, ``current_fen`` and
``version``; only their postings' kind (``bonus_settled``) and reference differ.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from mall.clock import iso, parse_instant
from mall.domain.commission_records import CommissionRecord, CommissionStatus
from mall.domain.ledger import Account, Balances, Posting, records_settled
from mall.domain.referral.model import SETTLEMENT_BLOCKING_STATUSES
from mall.domain.team_bonus import BonusRecord

#: What the settlement settles: commission records and monthly team bonus records.
type Settleable = CommissionRecord | BonusRecord


class NotDue(StrEnum):
    """Why a record found in (or named to) the settlement is left alone."""

    MISSING = "missing"  # the key names no record
    NOT_FROZEN = "not_frozen"  # already SETTLED (another run) or CANCELLED (refunded)
    NO_DUE_DATE = "no_due_date"  # its order has not completed yet
    NOT_YET_DUE = "not_yet_due"
    HELD = "held"  # an open risk case (docs/risk.md)
    NOTHING_OWED = "nothing_owed"  # refunds took it to zero but it is not cancelled (never expected)
    PROMOTER_FROZEN = "promoter_frozen"  # an admin froze the promoter: held until unfrozen
    PROMOTER_DISABLED = "promoter_disabled"  # voided instead of settled (``voids_unsettled``)
    REFUND_OPEN = "refund_open"  # a refund request on the record's order line has not ended


def settles_for(promoter_status: str | None) -> bool:
    """Whether a promoter in ``promoter_status`` has their due records settled (a promoter never
    recorded, e.g. a record made without one, is not blocked: only an admin's status blocks)."""
    return promoter_status not in SETTLEMENT_BLOCKING_STATUSES


def voids_unsettled(promoter_status: str | None) -> bool:
    """A disabled promoter's unsettled records are voided (cancelled through the ledger, audited);
    what was settled before stays theirs."""
    return promoter_status == "disabled"


def refund_open_on_line(line: Mapping[str, Any] | None) -> bool:
    """A refund request holds part of the line (``refund_held_fen``: requested, processing, or
    abnormal at WeChat Pay and possibly still completing): its commission waits until it ends."""
    return line is not None and int(line.get("refund_held_fen", 0) or 0) > 0


def _record_reason(record: Settleable, as_of: datetime) -> NotDue | None:
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


def not_due_reason(record: Settleable, as_of: datetime, *, promoter_status: str | None = None,
                   refund_open: bool = False) -> NotDue | None:
    """None when ``record`` is due at ``as_of`` (its promoter in ``promoter_status``, a refund
    request open on its line or not); else why not."""
    own = _record_reason(record, as_of)
    if own is not None:
        return own
    if voids_unsettled(promoter_status):
        return NotDue.PROMOTER_DISABLED
    if not settles_for(promoter_status):
        return NotDue.PROMOTER_FROZEN
    return NotDue.REFUND_OPEN if refund_open else None


def _moment(value: Any) -> datetime | None:
    return parse_instant(str(value)) if value else None


def line_completed_at(order: Mapping[str, Any], line_id: str) -> datetime | None:
    """When a line of ``order`` (the order item) is complete, the moment its commission's T+N
    starts: a service line (服务类) at its 核销 verification (``service_verified_at``; an order
    verified before that field existed has ``completed_by = verify``); any other line when the
    order completed (receipt confirmed, auto-confirmed, virtual goods delivered). In an order mixing
    physical and service lines, receipt completes the order but not its service lines, and a
    verification does not complete its physical lines."""
    line = next((raw for raw in order.get("lines") or [] if str(raw.get("line_id")) == line_id), None)
    if line is not None and line.get("type") == "service":
        verified = order.get("service_verified_at")
        if verified:
            return _moment(verified)
        return _moment(order.get("completed_at")) if order.get("completed_by") == "verify" else None
    return _moment(order.get("completed_at"))


def settlement_ref(record: Settleable) -> dict[str, str]:
    if isinstance(record, BonusRecord):
        return {"bonus_id": record.bonus_id, "month": record.month}
    return {"commission_id": record.commission_id, "order_id": record.order_id, "line_id": record.line_id,
            "level": str(record.level)}


@dataclass(frozen=True, slots=True)
class SettledChunk:
    """A chunk of one promoter's records settled in one transaction: the records (in due order) and
    the chunk's postings, one per kind moving their sum (``mall.domain.ledger.records_settled``)."""

    records: tuple[Settleable, ...]
    postings: tuple[Posting, ...]

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[Settleable]:
        return iter(self.records)

    @property
    def settled_fen(self) -> int:
        return sum(r.current_fen for r in self.records)

    @property
    def repaid_fen(self) -> int:
        return sum(p.delta(Account.DEBT) for p in self.postings)

    def settled_by(self, record: Settleable) -> str:
        """The id of the posting that settles ``record`` (its kind's posting of this chunk)."""
        return next(p.posting_id for p in self.postings if record.commission_id in p.settles)


def settling_postings(records: Sequence[Settleable], balances: Balances, *, at: datetime) -> tuple[Posting, ...]:
    """The postings that settle ``records`` (one promoter's, in due order) from ``balances``. A
    single record keeps its own reference (order, line, level) as before; a chunk's postings name
    their records in ``settles``."""
    ref = settlement_ref(records[0]) if len(records) == 1 else {}
    return tuple(records_settled(balances=balances, promoter_id=records[0].beneficiary_id, at=at, ref=ref,
                                 records=[(r.commission_id, r.current_fen, isinstance(r, BonusRecord))
                                          for r in records]))


def postings_of(records: Sequence[Settleable], balances: Balances) -> int:
    """How many postings ``settling_postings`` makes for ``records``: one per kind among them, and
    one debt repayment while a debt is owed."""
    return len({isinstance(r, BonusRecord) for r in records}) + (1 if balances.owed_fen > 0 and records else 0)


def writes_of(chunk: SettledChunk) -> int:
    """DynamoDB writes the chunk adds to a transaction: one state change per record and one put
    per posting. (Settlement postings have no merchant leg, so the wallet update is the only
    shared write.)"""
    return len(chunk.records) + len(chunk.postings)


def settle_in_order(records: Sequence[Settleable], balances: Balances, *, at: datetime,
                    max_writes: int, fixed_writes: int = 1,
                    checks_of: Callable[[Settleable], Iterable[Hashable]] = lambda _: ()
                    ) -> tuple[SettledChunk, Balances]:
    """Settle a prefix of one promoter's ``records`` against ``balances`` as one chunk, stopping
    before the transaction would exceed ``max_writes`` (``fixed_writes``: the wallet update;
    ``checks_of``: the condition checks a record needs, each counted once per transaction however
    many records share it; the chunk's one to three postings). Always takes at least one record.
    Returns the chunk and the balances after it; the debt is repaid first, by the same total as
    record by record. Raises ``mall.domain.ledger.Overdraft`` if frozen cannot cover the chunk
    (the ledger is inconsistent)."""
    taken: list[Settleable] = []
    checks: set[Hashable] = set()
    for record in records:
        new_checks = set(checks_of(record)) - checks
        writes = (fixed_writes + len(taken) + 1 + len(checks) + len(new_checks)
                  + postings_of([*taken, record], balances))
        if taken and writes > max_writes:
            break
        taken.append(record)
        checks |= new_checks
    postings = settling_postings(taken, balances, at=at)
    return SettledChunk(tuple(taken), postings), balances.apply(*postings)


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
    voided: int = 0  # records of disabled promoters voided instead of settled
    voided_fen: int = 0

    def skip(self, reason: NotDue, count: int = 1) -> None:
        if count:
            self.skipped[reason.value] = self.skipped.get(reason.value, 0) + count

    def add(self, chunk: SettledChunk) -> None:
        self.settled += len(chunk)
        self.settled_fen += chunk.settled_fen
        self.repaid_fen += chunk.repaid_fen

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
        self.voided += other.voided
        self.voided_fen += other.voided_fen
        return self

    def as_dict(self) -> dict[str, Any]:
        return {"as_of": iso(self.as_of), "examined": self.examined, "settled": self.settled,
                "settled_fen": self.settled_fen, "repaid_fen": self.repaid_fen, "skipped": dict(self.skipped),
                "promoters": self.promoters, "transactions": self.transactions, "fallbacks": self.fallbacks,
                "retries": self.retries, "voided": self.voided, "voided_fen": self.voided_fen}


def skipped_total(skipped: Mapping[str, int]) -> int:
    return sum(skipped.values())
