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

Besides the records, step 1 reads (one BatchGetItem, consistent) the promoters and the commission
records' orders. A record whose promoter an admin froze is skipped (``promoter_frozen``: it stays in
the due index and settles on the first run after the unfreeze); one whose promoter is disabled is
voided instead (``void_one``: FROZEN → CANCELLED, ``commission_voided`` posting and audit entry in one
transaction); one whose order line holds an open refund request (``refund_held_fen``) waits
(``refund_open``). Every settling transaction checks both again: a ConditionCheck that the promoter
is neither frozen nor disabled, and per order one that the settled lines hold no refund. A freeze or
a refund request committed between the read and the settlement refuses it, and the records settled
one by one find them.

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
from typing import Any

from aws_lambda_powertools import Logger

from mall.clock import iso
from mall.dal.audit import AuditEntry, AuditLog
from mall.dal.commissions import commission_from_item, commission_key, due_partition
from mall.dal.ledger import LedgerRefused, LedgerRepository, Wallet, wallet_from_item, wallet_key
from mall.dal.orders import order_key
from mall.dal.referral import promoter_key
from mall.dal.risk import RiskHoldRepository
from mall.dal.table import Item, Key, Page, Table, Write
from mall.dal.team_bonus import bonus_from_item, bonus_key
from mall.domain.commission_records import SETTLE_SHARDS, CommissionRecord, CommissionStatus
from mall.domain.ledger import Overdraft, Posting, commission_cancelled
from mall.domain.settlement import (
    SETTLEMENT_BLOCKING_STATUSES,
    NotDue,
    Settleable,
    SettleReport,
    due_order,
    not_due_reason,
    refund_open_on_line,
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


#: ``voided_by`` of the records voided because their promoter was disabled.
VOIDED_DISABLED = "promoter_disabled"


@dataclass(frozen=True, slots=True)
class SettleContext:
    """What decides a record besides its own item, read (consistently) before the transaction and
    checked again inside it: its promoter's status and its order line's open refunds."""

    statuses: Mapping[str, str | None]  # promoter id → status (None: no promoter item)
    orders: Mapping[str, Item]  # order id → the order item, for commission records

    def status(self, record: Settleable) -> str | None:
        return self.statuses.get(record.beneficiary_id)

    def line(self, record: Settleable) -> tuple[int, Mapping[str, Any]] | None:
        """The record's order line and its position in the order's ``lines`` (None for a bonus, or
        a record whose order or line is not there: no refund can be open on it)."""
        if not isinstance(record, CommissionRecord) or record.order_id not in self.orders:
            return None
        for index, line in enumerate(self.orders[record.order_id].get("lines") or []):
            if str(line.get("line_id")) == record.line_id:
                return index, line
        return None

    def refund_open(self, record: Settleable) -> bool:
        found = self.line(record)
        return found is not None and refund_open_on_line(found[1])

    def reason(self, record: Settleable, as_of: datetime) -> NotDue | None:
        return not_due_reason(record, as_of, promoter_status=self.status(record),
                              refund_open=self.refund_open(record))

    def order_check_key(self, record: Settleable) -> tuple[str, ...]:
        """The order a record's transaction checks for open refunds (none for a bonus)."""
        if isinstance(record, CommissionRecord) and self.line(record) is not None:
            return (record.order_id,)
        return ()


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

    def context(self, records: Sequence[Settleable]) -> SettleContext:
        """The promoters' statuses and the commission records' orders: one consistent BatchGetItem."""
        promoters = sorted({r.beneficiary_id for r in records})
        orders = sorted({r.order_id for r in records if isinstance(r, CommissionRecord)})
        statuses: dict[str, str | None] = dict.fromkeys(promoters)
        found_orders: dict[str, Item] = {}
        keys = [promoter_key(uid) for uid in promoters] + [order_key(oid) for oid in orders]
        for item in self._table.batch_get(keys, consistent=True) if keys else []:
            if item.get("sk") == "PROMOTER":
                statuses[str(item["pk"]).removeprefix("USER#")] = str(item.get("status"))
            elif item.get("sk") == "ORDER":
                found_orders[str(item["pk"]).removeprefix("ORDER#")] = item
        return SettleContext(statuses, found_orders)

    def status_check(self, beneficiary_id: str) -> Write:
        """The ConditionCheck that an admin has not frozen or disabled the promoter since the read:
        a freeze committed first refuses the settlement, which then finds the records held."""
        blocking = sorted(SETTLEMENT_BLOCKING_STATUSES)
        values = {f":blocked{i}": status for i, status in enumerate(blocking)}
        return Write.check(self._table.name, promoter_key(beneficiary_id),
                           f"NOT (#status IN ({', '.join(values)}))", names={"#status": "status"}, values=values)

    def refund_checks(self, records: Sequence[Settleable], context: SettleContext) -> list[Write]:
        """Per order of ``records``, the ConditionCheck that none of their lines holds a refund
        (``refund_held_fen`` 0 or absent; the line still at the position read). A refund request
        committed between the read and the settlement refuses it; the record then waits."""
        lines: dict[str, dict[int, str]] = {}
        for record in records:
            found = context.line(record)
            if found is not None and isinstance(record, CommissionRecord):
                lines.setdefault(record.order_id, {})[found[0]] = record.line_id
        checks: list[Write] = []
        for order_id in sorted(lines):
            names = {"#lines": "lines", "#held": "refund_held_fen", "#line_id": "line_id"}
            values: dict[str, Any] = {":zero": 0}
            conditions: list[str] = []
            for index, line_id in sorted(lines[order_id].items()):
                path = f"#lines[{index}]"
                values[f":line{index}"] = line_id
                conditions.append(f"{path}.#line_id = :line{index} AND (attribute_not_exists({path}.#held) "
                                  f"OR {path}.#held = :zero)")
            checks.append(Write.check(self._table.name, order_key(order_id), " AND ".join(conditions),
                                      names=names, values=values))
        return checks

    def checks(self, beneficiary_id: str, records: Sequence[Settleable], context: SettleContext) -> list[Write]:
        """Everything a settling transaction checks besides the records and the wallet."""
        return [*self.hold_checks(beneficiary_id, records), self.status_check(beneficiary_id),
                *self.refund_checks(records, context)]

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
        context = self.context(records)
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
        wallets = self.wallets(list(groups))
        failures: dict[str, str] = {}
        for beneficiary_id in sorted(groups):
            try:
                report.merge(self.settle_group(beneficiary_id, groups[beneficiary_id], as_of=as_of, now=now,
                                               wallet=wallets[beneficiary_id], context=context))
            except (LedgerRefused, Overdraft) as exc:
                logger.error("settlement of a promoter's records failed", extra={
                    "promoter_id": beneficiary_id, "records": len(groups[beneficiary_id]), "error": str(exc)})
                failures[beneficiary_id] = str(exc)
        if failures:
            raise SettlementStuck(report, failures)
        return report

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
            fixed = 1 + len(self.hold_checks(beneficiary_id, pending)) + 1  # wallet, hold, promoter status
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
                self._ledger.post([p for s in chunk for p in s.postings],
                                  also=[*(self.settle_write(s.record, as_of=as_of, now=now) for s in chunk),
                                        *self.checks(beneficiary_id, [s.record for s in chunk], context)],
                                  expect={beneficiary_id: wallet}, now=now)
            except LedgerRefused as refused:
                if refused.any("also:") or refused.any("posting:"):
                    # A record changed since it was read, or the promoter was frozen or a refund
                    # opened meanwhile: settle this chunk's records one by one, each decided again.
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
                self._ledger.post(list(chunk[0].postings),
                                  also=[self.settle_write(record, as_of=as_of, now=now),
                                        *self.checks(record.beneficiary_id, [record], context)],
                                  expect={record.beneficiary_id: wallet}, now=now)
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

    def void_write(self, record: Settleable, *, now: datetime) -> Write:
        """FROZEN → CANCELLED (``voided_by`` promoter_disabled), from the version read, out of the
        due index: the ``also`` of the transaction posting its ``commission_voided`` reversal."""
        amount = record.current_fen
        return Write.update(
            self._table.name, key_of(record),
            "SET #status = :cancelled, cancelled_fen = :cancelled_fen, voided_by = :why, voided_fen = :amount, "
            "updated_at = :now, history = list_append(if_not_exists(history, :empty), :entry) "
            "REMOVE gsi2pk, gsi2sk ADD #version :one",
            condition="#status = :frozen AND #version = :v",
            names={"#status": "status", "#version": "version"},
            values={":cancelled": CommissionStatus.CANCELLED.value, ":cancelled_fen": record.cancelled_fen + amount,
                    ":why": VOIDED_DISABLED, ":amount": amount, ":now": iso(now), ":empty": [], ":one": 1,
                    ":v": record.version, ":frozen": CommissionStatus.FROZEN.value,
                    ":entry": [{"at": iso(now), "status": CommissionStatus.CANCELLED.value, "voided_fen": amount,
                                "reason": VOIDED_DISABLED}]})

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
            if self.context([record]).status(record) != "disabled":
                return report  # only a disabled promoter's money is voided
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
