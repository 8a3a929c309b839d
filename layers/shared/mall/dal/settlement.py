"""Settlement (结算) in the single table: the due index and the unit of work that settles.

The due index is gsi2 ``SETTLE_DUE#<shard 00-03>`` / ``<due_at>#<commission_id>`` (sparse: only
FROZEN records with a due date and no hold are in it, ``mall.dal.commissions.due_index_fields``).
Everything due at ``as_of`` is ``gsi2sk <= "<as_of>#~"`` (``~`` sorts after every id character).

Settling a set of records (``SettlementRepository.settle``):
1. the records are re-read (BatchGetItem, eventually consistent: the index entry may be older
   than the record) with their orders (known from the keys), and the ones no longer due are skipped;
2. the rest are grouped by promoter; their wallets, which carry the promoters' blocking status,
   are read (one BatchGetItem, eventually consistent) and per group the records' postings are
   computed in due order against the evolving balances (debt repaid first). Every write of step 3
   is conditional on what these reads said, so an answer older than the item is refused, never
   written (``SettlementRecords.read_slice``);
3. ONE ledger transaction (``LedgerRepository.post``) for as many whole groups as fit in DynamoDB's
   100 writes (``packs``: 10 records of a promoter make ~13 writes, so ~7 promoters share a
   transaction): per record a conditional update FROZEN → SETTLED (still FROZEN, still due, no hold,
   same version; the due index attributes removed; ``settled_by`` the posting that settles it), per
   promoter ONE settlement posting for the sum of its records (one per kind, commission or bonus,
   naming them in ``settles``; a ``debt_repaid`` beside it while a debt is owed) and the wallet
   update conditional on the version read (``expect``) and on the promoter not being blocked. A
   refused pack wrote nothing: each of its promoters is then settled on its own (``settle_group``,
   below). A group too big for one transaction is settled alone, in consecutive chunks.
4. If the transaction is refused because a record changed meanwhile (a refund cancelled or
   reduced it, a hold was set, another run settled it), the group's records are settled one by
   one, each re-read, skipping the ones no longer due. A stale wallet (another posting landed
   since it was read) is re-read and the group retried.

Besides the records, steps 1 and 2 read the commission records' orders and the promoters' wallets; step
4 and voiding decide on consistent reads. A record whose promoter an admin froze is skipped
(``promoter_frozen``: it stays in the due index and settles on the first run after the unfreeze); one
whose promoter is disabled is voided instead (``void_one``: FROZEN → CANCELLED, ``commission_voided``
posting and audit entry in one transaction); one whose order line holds an open refund request
(``refund_held_fen``) waits (``refund_open``). The promoter's status is read from the
``promoter_blocked`` flag of the wallet read anyway (``mall.dal.promoter_wallet``). Every settling
transaction checks both again: the wallet update carries ``attribute_not_exists(promoter_blocked)`` (a
ConditionCheck of the promoter item while ``PROMOTER_STATUS_ITEM_CHECKS=1``), and per order a
ConditionCheck that the settled lines hold no refund. A freeze or a refund request committed between the
read and the settlement refuses it, and the records settled one by one find them.

Every write is conditional on the state it was computed from, and posting ids are deterministic
(``<id of the chunk's first record>.settled``), so overlapping runs and redelivered slices settle
each record once: a record already SETTLED is skipped before any posting is computed, and a chunk
that meets one settled meanwhile is refused whole (its record's condition) and decided again. A
slice interrupted between two chunks resumes with the records still FROZEN: the committed chunk's
records are skipped, the rest make new chunks (new first records, new posting ids).

Monthly team bonus records (``BONUSES#<month>/USER#<uid>``, ``mall.dal.team_bonus``) are in the same
due index and settle the same way (``bonus_settled`` postings). A bonus carries no ``hold`` of its own:
while its promoter has an open risk hold (``USER#<uid>/RISK_HOLD``, read before the transaction) it is
skipped as HELD and stays in the due index, so it settles on the first run after the case is closed.
A transaction that settles a bonus also checks that the hold is still absent, so a case opened between
that read and the commit refuses it (the records are then re-read one by one and the bonus is HELD): on
the wallet it updates anyway (``risk_hold`` absent, ``mall.dal.risk_wallet``), not with a ConditionCheck
of the hold item (2 write units), except while ``RISK_HOLD_ITEM_CHECKS=1``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from aws_lambda_powertools import Logger

from mall.dal.audit import AuditEntry, AuditLog
from mall.dal.ledger import LedgerRefused, LedgerRepository, Wallet
from mall.dal.settlement_records import VOIDED_DISABLED, SettleContext, SettlementRecords, key_of
from mall.dal.table import Key, Table, Write
from mall.domain.commission_records import CommissionStatus
from mall.domain.ledger import Overdraft, Posting, commission_cancelled
from mall.domain.settlement import (
    NotDue,
    Settleable,
    SettledChunk,
    SettleReport,
    due_order,
    settle_in_order,
    writes_of,
)
from mall.domain.team_bonus import BonusRecord

logger = Logger(child=True)

MAX_TRANSACTION_WRITES = 100  # DynamoDB's limit per TransactWriteItems
#: Re-reads of a wallet that changed between the read and the write (another posting landed).
STALE_WALLET_ATTEMPTS = 25
#: Re-reads of one record settled alone whose transaction keeps being refused.
RECORD_ATTEMPTS = 10


@dataclass(frozen=True, slots=True)
class PlannedGroup:
    """One promoter's whole due group, computed against the wallet as read: its part of a packed
    transaction."""

    beneficiary_id: str
    wallet: Wallet
    chunk: SettledChunk


class SettlementStuck(Exception):
    """Some promoters' records could not be settled (their ledger transaction kept being refused,
    or their wallet cannot cover them). The rest of the slice was settled; re-running is safe.
    Raised so the slice is retried and, if it keeps failing, reaches the dead-letter queue."""

    def __init__(self, report: SettleReport, failures: Mapping[str, str]) -> None:
        super().__init__(f"settlement incomplete for {len(failures)} promoter(s): {dict(failures)}")
        self.report = report
        self.failures = dict(failures)


class SettlementRepository(SettlementRecords):
    """The units of work: settling a slice, a promoter's group, one record; voiding one record."""

    def __init__(self, table: Table) -> None:
        super().__init__(table)
        self._ledger = LedgerRepository(table)

    # ---- the unit of work ------------------------------------------------------------------------

    def settle(self, keys: Sequence[Key], *, as_of: datetime, now: datetime) -> SettleReport:
        """Settle the records named by ``keys`` that are due at ``as_of`` (see the module docstring).
        Raises ``SettlementStuck`` after doing everything else when some promoters could not be
        settled; any other error (the table unreachable) propagates at once: a re-run resumes."""
        report = SettleReport(as_of=as_of)
        unique = list({(str(k["pk"]), str(k["sk"])): k for k in keys}.values())
        report.examined = len(unique)
        if not unique:
            return report
        records, context, wallets = self.read_slice(unique)
        report.skip(NotDue.MISSING, len(unique) - len(records))
        groups: dict[str, list[Settleable]] = {}
        held = self.held_bonus_promoters(records)
        for record in records:
            reason = context.reason(record, as_of)
            if reason is None and isinstance(record, BonusRecord) and record.beneficiary_id in held:
                reason = NotDue.HELD
            if reason == NotDue.PROMOTER_DISABLED:
                report.merge(self.void_one(key_of(record), by="system", now=now, as_of=as_of))
            elif reason is not None:
                report.skip(reason)
            else:
                groups.setdefault(record.beneficiary_id, []).append(record)
        failures: dict[str, str] = {}
        alone: list[str] = []
        refused: set[str] = set()  # in a refused pack: their wallets may have moved, read again
        for pack in self.packs(groups, wallets, context, now=now, alone=alone):
            if not self.settle_pack(pack, as_of=as_of, now=now, context=context, report=report):
                refused.update(group.beneficiary_id for group in pack)
        for beneficiary_id in sorted([*alone, *refused]):
            try:
                report.merge(self.settle_group(beneficiary_id, groups[beneficiary_id], as_of=as_of, now=now,
                                               wallet=None if beneficiary_id in refused else wallets[beneficiary_id],
                                               context=context))
            except (LedgerRefused, Overdraft) as exc:
                logger.error("settlement of a promoter's records failed", extra={
                    "promoter_id": beneficiary_id, "records": len(groups[beneficiary_id]), "error": str(exc)})
                failures[beneficiary_id] = str(exc)
        if failures:
            raise SettlementStuck(report, failures)
        return report

    def packs(self, groups: Mapping[str, Sequence[Settleable]], wallets: Mapping[str, Wallet],
              context: SettleContext, *, now: datetime, alone: list[str]) -> list[list[PlannedGroup]]:
        """Several promoters' groups per transaction, up to DynamoDB's 100 writes: a small group
        (10 records → ~13 writes) alone would leave the transaction mostly empty, and each
        transaction is a round trip. A group too big for one transaction, or whose frozen balance
        does not cover it as read, is appended to ``alone`` (``settle_group`` handles those)."""
        packs: list[list[PlannedGroup]] = []
        current: list[PlannedGroup] = []
        for beneficiary_id in sorted(groups):
            records = due_order(groups[beneficiary_id])
            wallet = wallets[beneficiary_id]
            fixed = 1 + len(self.checks(beneficiary_id, records, context))
            try:
                chunk, _ = settle_in_order(records, wallet.balances, at=now, max_writes=MAX_TRANSACTION_WRITES,
                                           fixed_writes=fixed)
            except Overdraft:
                alone.append(beneficiary_id)
                continue
            group = PlannedGroup(beneficiary_id, wallet, chunk)
            if len(chunk) < len(records) or fixed + writes_of(chunk) > MAX_TRANSACTION_WRITES:
                alone.append(beneficiary_id)
                continue
            if current and self.pack_writes([*current, group], context) > MAX_TRANSACTION_WRITES:
                packs.append(current)
                current = []
            current.append(group)
        if current:
            packs.append(current)
        return packs

    def pack_checks(self, pack: Sequence[PlannedGroup], context: SettleContext) -> list[Write]:
        """The pack's checks: per promoter its status (and hold), per order ONE refund check over every
        settled line of it (two promoters' records of one order, L1 and L2, share the order item, and
        a transaction may name an item once)."""
        records = [record for group in pack for record in group.chunk]
        return [*(check for group in pack for check in self.hold_checks(group.beneficiary_id,
                                                                         group.chunk.records)),
                *(check for group in pack for check in self.status_checks(group.beneficiary_id)),
                *self.refund_checks(records, context)]

    def pack_writes(self, pack: Sequence[PlannedGroup], context: SettleContext) -> int:
        return len(pack) + len(self.pack_checks(pack, context)) + sum(writes_of(g.chunk) for g in pack)

    def settle_writes(self, chunk: SettledChunk, *, as_of: datetime, now: datetime) -> list[Write]:
        """Each record of ``chunk`` FROZEN → SETTLED, naming the posting that settles it."""
        return [self.settle_write(record, as_of=as_of, now=now, settled_by=chunk.settled_by(record))
                for record in chunk]

    def settle_pack(self, pack: Sequence[PlannedGroup], *, as_of: datetime, now: datetime, context: SettleContext,
                    report: SettleReport) -> bool:
        """One transaction for the planned groups of ``pack``: every record's state change and
        postings, every wallet conditional on the version read, every check. All or nothing: when
        refused (a record, a wallet, a promoter or an order changed since the read) nothing was
        written and False is returned, so each group is settled on its own path, decided again."""
        try:
            self._ledger.post([p for group in pack for p in group.chunk.postings],
                              also=[*(w for group in pack for w in self.settle_writes(group.chunk, as_of=as_of,
                                                                                       now=now)),
                                    *self.pack_checks(pack, context)],
                              expect={group.beneficiary_id: group.wallet for group in pack}, now=now,
                              held={uid: on for group in pack
                                    for uid, on in self.hold_flags(group.beneficiary_id, group.chunk.records).items()},
                              unblocked=self.unblocked([group.beneficiary_id for group in pack]))
        except LedgerRefused as refused:
            logger.info("a packed settlement transaction was refused; settling its promoters one by one", extra={
                "promoters": len(pack), "labels": refused.labels[:10]})
            report.retries += 1
            return False
        for group in pack:
            report.add(group.chunk)
            report.promoters += 1
        report.transactions += 1
        return True

    def settle_group(self, beneficiary_id: str, records: Sequence[Settleable], *, as_of: datetime,
                     now: datetime, wallet: Wallet | None = None, context: SettleContext | None = None
                     ) -> SettleReport:
        """One promoter's due records: one transaction per chunk of ≤ 100 writes, the wallet read
        once (``wallet``, if the caller read it already; again only when it changed under us).
        ``context`` (the promoter's status, the orders' refunds as read) is read here if not given."""
        report = SettleReport(as_of=as_of, promoters=1)
        pending = due_order(records)
        if context is None:
            context = self.context(pending)
        stale = 0
        while pending:
            if wallet is None:
                wallet = self._ledger.wallet(beneficiary_id)
            fixed = 1 + len(self.hold_checks(beneficiary_id, pending)) + len(self.status_checks(beneficiary_id))
            try:
                chunk, after = settle_in_order(pending, wallet.balances, at=now,
                                               max_writes=MAX_TRANSACTION_WRITES, fixed_writes=fixed,
                                               checks_of=context.order_check_key)
            except Overdraft:
                # Frozen cannot cover the records as they were read: a refund took some of them
                # back since. Each is read again and settled alone (a real shortfall raises there).
                report.fallbacks += 1
                for record in pending:
                    report.merge(self.settle_one(key_of(record), as_of=as_of, now=now))
                return report
            try:
                self._ledger.post(list(chunk.postings),
                                  also=[*self.settle_writes(chunk, as_of=as_of, now=now),
                                        *self.checks(beneficiary_id, chunk.records, context)],
                                  expect={beneficiary_id: wallet}, now=now,
                                  held=self.hold_flags(beneficiary_id, chunk.records),
                                  unblocked=self.unblocked([beneficiary_id]))
            except LedgerRefused as refused:
                if (refused.any("also:") or refused.any("posting:") or refused.wallet_held(beneficiary_id)
                        or refused.wallet_blocked(beneficiary_id)):
                    # A record changed since it was read, or the promoter was frozen, held or a refund
                    # opened meanwhile: settle this chunk's records one by one, each decided again.
                    logger.info("a record changed during settlement; settling one by one", extra={
                        "promoter_id": beneficiary_id, "labels": refused.labels[:10]})
                    report.fallbacks += 1
                    for record in chunk:
                        report.merge(self.settle_one(key_of(record), as_of=as_of, now=now))
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
        """One record in its own transaction, re-read first (skipped when no longer due; voided
        when its promoter was disabled)."""
        report = SettleReport(as_of=as_of)
        for attempt in range(RECORD_ATTEMPTS):
            record = self.record(key)
            if record is None:
                report.skip(NotDue.MISSING)
                return report
            context = self.context([record])
            reason = context.reason(record, as_of)
            if reason is None and self.held_bonus_promoters([record]):
                reason = NotDue.HELD
            if reason == NotDue.PROMOTER_DISABLED:
                return report.merge(self.void_one(key, by="system", now=now, as_of=as_of))
            if reason is not None:
                report.skip(reason)
                return report
            wallet = self._ledger.wallet(record.beneficiary_id)
            try:
                chunk, _ = settle_in_order([record], wallet.balances, at=now, max_writes=MAX_TRANSACTION_WRITES)
                self._ledger.post(list(chunk.postings),
                                  also=[*self.settle_writes(chunk, as_of=as_of, now=now),
                                        *self.checks(record.beneficiary_id, [record], context)],
                                  expect={record.beneficiary_id: wallet}, now=now,
                                  held=self.hold_flags(record.beneficiary_id, [record]),
                                  unblocked=self.unblocked([record.beneficiary_id]))
            except (LedgerRefused, Overdraft):
                if attempt + 1 == RECORD_ATTEMPTS:
                    raise
                report.retries += 1
                _backoff(attempt + 1)
                continue  # the record, the wallet, the promoter or the order changed: read them again
            report.add(chunk)
            report.transactions += 1
            return report
        return report  # unreachable: the last attempt returns or raises

    # ---- a disabled promoter's unsettled records ---------------------------------------------------

    def void_record(self, record: Settleable, *, by: str, now: datetime,
                    source_ip: str | None = None) -> SettleReport:
        """``void_one`` of a record as read (it is read again before anything is written)."""
        return self.void_one(key_of(record), by=by, now=now, source_ip=source_ip)

    def void_one(self, key: Key, *, by: str, now: datetime, as_of: datetime | None = None,
                 source_ip: str | None = None) -> SettleReport:
        """Void one unsettled record of a disabled promoter: its state change, its ``commission_voided``
        posting (frozen → back to the merchant) and the audit entry in one transaction, re-read on
        each attempt. Idempotent: a record already settled, cancelled or voided is left alone (the
        status condition and the deterministic posting id ``<id>.cancel.disabled``)."""
        report = SettleReport(as_of=as_of or now)
        for attempt in range(RECORD_ATTEMPTS):
            record = self.record(key)
            if record is None or record.status != CommissionStatus.FROZEN:
                return report
            if self.promoter_status(record.beneficiary_id) != "disabled":
                return report  # only a disabled promoter's money is voided (as the promoter item says)
            amount = record.current_fen
            ref = {"bonus_id": record.bonus_id, "month": record.month} if isinstance(record, BonusRecord) else {
                "order_id": record.order_id, "line_id": record.line_id, "level": str(record.level),
                "commission_id": record.commission_id}
            postings: list[Posting] = [commission_cancelled(
                promoter_id=record.beneficiary_id, commission_id=record.commission_id, amount_fen=amount, at=now,
                ref={**ref, "reason": VOIDED_DISABLED}, step="disabled", voided=True)] if amount > 0 else []
            audit = AuditEntry(
                action="commission.void", actor=by, entity_type="bonus" if isinstance(record, BonusRecord)
                else "commission", entity_id=record.commission_id, source_ip=source_ip,
                before={"status": CommissionStatus.FROZEN.value, "current_fen": amount},
                after={"status": CommissionStatus.CANCELLED.value, "voided_fen": amount},
                details={"reason": VOIDED_DISABLED, **ref}, subject_user=record.beneficiary_id)
            try:
                self._ledger.post(postings, also=[self.void_write(record, now=now),
                                                  AuditLog(self._table).write(audit, now)], now=now)
            except LedgerRefused:
                if attempt + 1 == RECORD_ATTEMPTS:
                    raise
                report.retries += 1
                _backoff(attempt + 1)
                continue  # refunded, settled or voided meanwhile: decide again
            report.voided += 1
            report.voided_fen += amount
            report.transactions += 1
            return report
        return report  # unreachable: the last attempt returns or raises


def _backoff(attempt: int) -> None:
    time.sleep(random.uniform(0, min(0.01 * 2 ** attempt, 0.5)))  # noqa: S311 - jitter, not security
