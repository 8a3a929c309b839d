"""Settlement (结算) in the single table: the due index and the unit of work that settles.

The due index is gsi2 ``SETTLE_DUE#<shard 00-15>`` / ``<due_at>#<commission_id>`` (sparse: only
FROZEN records with a due date and no hold are in it, ``mall.dal.commissions.due_index_fields``).
Everything due at ``as_of`` is ``gsi2sk <= "<as_of>#~"`` (``~`` sorts after every id character).

Settling a set of records (``SettlementRepository.settle``):
1. the records are re-read (BatchGetItem, consistent: the index is eventually consistent and
   may be stale) and the ones no longer due are skipped;
2. the rest are grouped by promoter; the groups' wallets are read (one BatchGetItem, consistent)
   and per group the records' postings are computed in due order against the evolving balances
   (debt repaid first);
3. per group ONE ledger transaction (``LedgerRepository.post``): per record a conditional update
   FROZEN → SETTLED (still FROZEN, still due, no hold, same version; the due index attributes
   removed) plus its postings, and the wallet update conditional on the version read (``expect``).
   A group too big for one transaction (100 writes) is settled in consecutive chunks.
4. If the transaction is refused because a record changed meanwhile (a refund cancelled or
   reduced it, a hold was set, another run settled it), the group's records are settled one by
   one, each re-read, skipping the ones no longer due. A stale wallet (another posting landed
   since it was read) is re-read and the group retried.

Every write is conditional on the state it was computed from, and posting ids are deterministic
(``<commission_id>.settled``), so overlapping runs and redelivered slices settle each record once.

Monthly team bonus records (``BONUSES#<month>/USER#<uid>``, ``mall.dal.team_bonus``) are in the same
due index and settle the same way (``bonus_settled`` postings). A bonus carries no ``hold`` of its own:
while its promoter has an open risk hold (``USER#<uid>/RISK_HOLD``, read before the transaction) it is
skipped as HELD and stays in the due index, so it settles on the first run after the case is closed.
A transaction that settles a bonus also checks that the hold is still absent, so a case opened between
that read and the commit refuses it (the records are then re-read one by one and the bonus is HELD).
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from aws_lambda_powertools import Logger

from mall.clock import iso
from mall.dal.commissions import commission_from_item, commission_key, due_partition
from mall.dal.ledger import LedgerRefused, LedgerRepository, Wallet, wallet_from_item, wallet_key
from mall.dal.risk import RiskHoldRepository
from mall.dal.table import Item, Key, Page, Table, Write
from mall.dal.team_bonus import bonus_from_item, bonus_key
from mall.domain.commission_records import SETTLE_SHARDS, CommissionStatus
from mall.domain.ledger import Overdraft
from mall.domain.settlement import (
    NotDue,
    Settleable,
    SettleReport,
    due_order,
    not_due_reason,
    settle_in_order,
)
from mall.domain.team_bonus import BonusRecord

logger = Logger(child=True)

DUE_INDEX = "gsi2"
MAX_TRANSACTION_WRITES = 100  # DynamoDB's limit per TransactWriteItems
#: Re-reads of a wallet that changed between the read and the write (another posting landed).
STALE_WALLET_ATTEMPTS = 25
#: Re-reads of one record settled alone whose transaction keeps being refused.
RECORD_ATTEMPTS = 10


def key_of(record: Settleable) -> Key:
    if isinstance(record, BonusRecord):
        return bonus_key(record.beneficiary_id, record.month)
    return commission_key(record.order_id, record.line_id, record.level)


def settleable_from_item(item: Item | None) -> Settleable | None:
    """A commission or bonus record from its item (None for anything else)."""
    if item is None:
        return None
    if item.get("entity") == "commission":
        return commission_from_item(item)
    if item.get("entity") == "bonus":
        return bonus_from_item(item)
    return None


@dataclass(frozen=True, slots=True)
class DueEntry:
    """One entry of the due index (the projection carries the whole record)."""

    key: Key
    commission_id: str
    beneficiary_id: str
    due_at: str


class SettlementStuck(Exception):
    """Some promoters' records could not be settled (their ledger transaction kept being refused,
    or their wallet cannot cover them). The rest of the slice was settled; re-running is safe.
    Raised so the slice is retried and, if it keeps failing, reaches the dead-letter queue."""

    def __init__(self, report: SettleReport, failures: Mapping[str, str]) -> None:
        super().__init__(f"settlement incomplete for {len(failures)} promoter(s): {dict(failures)}")
        self.report = report
        self.failures = dict(failures)


class SettlementRepository:
    def __init__(self, table: Table) -> None:
        self._table = table
        self._ledger = LedgerRepository(table)

    @property
    def table(self) -> Table:
        return self._table

    # ---- the due index ---------------------------------------------------------------------------

    def due_page(self, shard: int, *, as_of: datetime, start_key: Key | None = None,
                 limit: int | None = None) -> Page:
        """One page of the shard's entries due at ``as_of``, oldest first."""
        return self._table.query_where("#pk = :pk AND #sk <= :upto", names={"#pk": "gsi2pk", "#sk": "gsi2sk"},
                                       values={":pk": due_partition(shard), ":upto": f"{iso(as_of)}#~"},
                                       index=DUE_INDEX, limit=limit, start_key=start_key)

    def due_entries(self, shard: int, *, as_of: datetime, page_size: int | None = None) -> Iterator[DueEntry]:
        """Every entry of the shard due at ``as_of`` (all pages)."""
        start: Key | None = None
        while True:
            page = self.due_page(shard, as_of=as_of, start_key=start, limit=page_size)
            for item in page.items:
                record_id = item.get("commission_id") or item["bonus_id"]
                yield DueEntry(key={"pk": item["pk"], "sk": item["sk"]}, commission_id=str(record_id),
                               beneficiary_id=str(item["beneficiary_id"]), due_at=str(item.get("due_at", "")))
            if page.last_key is None:
                return
            start = page.last_key

    @staticmethod
    def shards() -> range:
        return range(SETTLE_SHARDS)

    # ---- reads -----------------------------------------------------------------------------------

    def records(self, keys: Sequence[Key]) -> list[Settleable]:
        """The commission (and bonus) records named by ``keys`` that exist (consistent reads)."""
        found = (settleable_from_item(item) for item in self._table.batch_get(keys, consistent=True))
        return [record for record in found if record is not None]

    def record(self, key: Key) -> Settleable | None:
        return settleable_from_item(self._table.get(key, consistent=True))

    def held_bonus_promoters(self, records: Sequence[Settleable]) -> set[str]:
        """The promoters among the bonus records' whose risk hold is open (bonuses have no hold of their own)."""
        promoters = {r.beneficiary_id for r in records if isinstance(r, BonusRecord)}
        return set(RiskHoldRepository(self._table).get_many(promoters)) if promoters else set()

    def hold_checks(self, beneficiary_id: str, records: Sequence[Settleable]) -> list[Write]:
        """The ConditionCheck that the promoter is still not held, when ``records`` include a bonus
        (a commission record's own ``hold`` attribute is in its settle condition already)."""
        if not any(isinstance(r, BonusRecord) for r in records):
            return []
        return [RiskHoldRepository(self._table).check_write(beneficiary_id, held=False)]

    def wallets(self, user_ids: Sequence[str]) -> dict[str, Wallet]:
        """The promoters' wallets, all in one BatchGetItem (consistent): one read per group."""
        found = {str(item["pk"]).removeprefix("USER#"): item for item in self._table.batch_get(
            [wallet_key(uid) for uid in user_ids], consistent=True)}
        return {uid: wallet_from_item(uid, found.get(uid)) for uid in user_ids}

    # ---- the unit of work ------------------------------------------------------------------------

    def settle_write(self, record: Settleable, *, as_of: datetime, now: datetime) -> Write:
        """FROZEN → SETTLED, conditional on the state the postings were computed from."""
        return Write.update(
            self._table.name, key_of(record),
            "SET #status = :settled, settled_at = :now, settled_fen = :amount, updated_at = :now, "
            "#version = #version + :one, history = list_append(if_not_exists(history, :empty), :entry) "
            "REMOVE gsi2pk, gsi2sk",
            condition="#status = :frozen AND #due <= :as_of AND attribute_not_exists(#hold) AND #version = :v",
            names={"#status": "status", "#version": "version", "#due": "due_at", "#hold": "hold"},
            values={":settled": CommissionStatus.SETTLED.value, ":frozen": CommissionStatus.FROZEN.value,
                    ":now": iso(now), ":amount": record.current_fen, ":one": 1, ":as_of": iso(as_of),
                    ":v": record.version, ":empty": [],
                    ":entry": [{"at": iso(now), "status": CommissionStatus.SETTLED.value,
                                "settled_fen": record.current_fen}]})

    def settle(self, keys: Sequence[Key], *, as_of: datetime, now: datetime) -> SettleReport:
        """Settle the records named by ``keys`` that are due at ``as_of`` (see the module docstring).
        Raises ``SettlementStuck`` after doing everything else when some promoters could not be
        settled; any other error (the table unreachable) propagates at once: a re-run resumes."""
        report = SettleReport(as_of=as_of)
        unique = list({(str(k["pk"]), str(k["sk"])): k for k in keys}.values())
        report.examined = len(unique)
        if not unique:
            return report
        records = self.records(unique)
        report.skip(NotDue.MISSING, len(unique) - len(records))
        groups: dict[str, list[Settleable]] = {}
        held = self.held_bonus_promoters(records)
        for record in records:
            reason = not_due_reason(record, as_of)
            if reason is None and isinstance(record, BonusRecord) and record.beneficiary_id in held:
                reason = NotDue.HELD
            if reason is not None:
                report.skip(reason)
            else:
                groups.setdefault(record.beneficiary_id, []).append(record)
        wallets = self.wallets(list(groups))
        failures: dict[str, str] = {}
        for beneficiary_id in sorted(groups):
            try:
                report.merge(self.settle_group(beneficiary_id, groups[beneficiary_id], as_of=as_of, now=now,
                                               wallet=wallets[beneficiary_id]))
            except (LedgerRefused, Overdraft) as exc:
                logger.error("settlement of a promoter's records failed", extra={
                    "promoter_id": beneficiary_id, "records": len(groups[beneficiary_id]), "error": str(exc)})
                failures[beneficiary_id] = str(exc)
        if failures:
            raise SettlementStuck(report, failures)
        return report

    def settle_group(self, beneficiary_id: str, records: Sequence[Settleable], *, as_of: datetime,
                     now: datetime, wallet: Wallet | None = None) -> SettleReport:
        """One promoter's due records: one transaction per chunk of ≤ 100 writes, the wallet read
        once (``wallet``, if the caller read it already; again only when it changed under us)."""
        report = SettleReport(as_of=as_of, promoters=1)
        pending = due_order(records)
        stale = 0
        while pending:
            if wallet is None:
                wallet = self._ledger.wallet(beneficiary_id)
            checks = self.hold_checks(beneficiary_id, pending)
            try:
                chunk, after = settle_in_order(pending, wallet.balances, at=now,
                                               max_writes=MAX_TRANSACTION_WRITES - len(checks))
            except Overdraft:
                # Frozen cannot cover the records as they were read: a refund took some of them
                # back since. Each is read again and settled alone (a real shortfall raises there).
                report.fallbacks += 1
                for record in pending:
                    report.merge(self.settle_one(key_of(record), as_of=as_of, now=now))
                return report
            try:
                self._ledger.post([p for s in chunk for p in s.postings],
                                  also=[*(self.settle_write(s.record, as_of=as_of, now=now) for s in chunk),
                                        *self.hold_checks(beneficiary_id, [s.record for s in chunk])],
                                  expect={beneficiary_id: wallet}, now=now)
            except LedgerRefused as refused:
                if refused.any("also:") or refused.any("posting:"):
                    # A record changed since it was read: settle this chunk's records one by one.
                    logger.info("a record changed during settlement; settling one by one", extra={
                        "promoter_id": beneficiary_id, "labels": refused.labels[:10]})
                    report.fallbacks += 1
                    for settled in chunk:
                        report.merge(self.settle_one(key_of(settled.record), as_of=as_of, now=now))
                    pending = pending[len(chunk):]
                    wallet = None
                    continue
                stale += 1
                report.retries += 1
                if stale >= STALE_WALLET_ATTEMPTS:
                    raise
                _backoff(stale)
                wallet = None  # another posting moved the wallet: re-read and recompute
                continue
            report.add(chunk)
            report.transactions += 1
            pending = pending[len(chunk):]
            # The wallet now holds what we computed, one version on (no re-read for the next chunk).
            wallet = Wallet(beneficiary_id, after, wallet.version + 1)
        return report

    def settle_one(self, key: Key, *, as_of: datetime, now: datetime) -> SettleReport:
        """One record in its own transaction, re-read first (skipped when no longer due)."""
        report = SettleReport(as_of=as_of)
        for attempt in range(RECORD_ATTEMPTS):
            record = self.record(key)
            reason = NotDue.MISSING if record is None else not_due_reason(record, as_of)
            if reason is None and record is not None and self.held_bonus_promoters([record]):
                reason = NotDue.HELD
            if reason is not None or record is None:
                report.skip(reason or NotDue.MISSING)
                return report
            wallet = self._ledger.wallet(record.beneficiary_id)
            try:
                chunk, _ = settle_in_order([record], wallet.balances, at=now, max_writes=MAX_TRANSACTION_WRITES)
                self._ledger.post(list(chunk[0].postings),
                                  also=[self.settle_write(record, as_of=as_of, now=now),
                                        *self.hold_checks(record.beneficiary_id, [record])],
                                  expect={record.beneficiary_id: wallet}, now=now)
            except (LedgerRefused, Overdraft):
                if attempt + 1 == RECORD_ATTEMPTS:
                    raise
                report.retries += 1
                _backoff(attempt + 1)
                continue  # the record or the wallet changed: read both again
            report.add(chunk)
            report.transactions += 1
            return report
        return report  # unreachable: the last attempt returns or raises


def _backoff(attempt: int) -> None:
    time.sleep(random.uniform(0, min(0.01 * 2 ** attempt, 0.5)))  # noqa: S311 - jitter, not security
