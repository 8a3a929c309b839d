"""Risk cases (风控案件) and risk holds (风控冻结) in the single table (docs/data-model.md, "risk").

- case ``RISK_CASE#<case_id>`` / ``CASE``: gsi1 ``RISK_CASES#<status>`` / ``<opened_at>#<case_id>``
  (the admin's queue per status, newest first), gsi2 ``PROMOTER_RISK_CASES#<uid>`` /
  ``<opened_at>#<case_id>`` (one promoter's cases). ``evidence_json`` holds the scan's evidence.
- hold ``USER#<uid>`` / ``RISK_HOLD`` (``case_id``, ``opened_at``, ``open_cases`` {case id → opened
  at}, ``confirmed_case_id``, ``version``): exists while a case on that promoter is open (or one
  was confirmed). While it exists, new commission records of that promoter carry ``hold=<case_id>``
  (kept out of the settlement due index), withdrawals are refused and the wallet carries the flag
  ``risk_hold`` (``mall.dal.risk_wallet``). Rules: ``mall.domain.risk``; changes are conditional on ``version``.

Commission records (``mall.dal.commissions``) are changed here by three conditional updates, each from the exact
state read (FROZEN, same ``version``) and each bumping ``version`` so a concurrent writer that read the record
before (a settlement, a commission sync) fails its own condition: hold (sets ``hold``, leaves the due index),
release (removes ``hold``, back into the due index when it has a due date) and void (FROZEN → CANCELLED, with its
ledger reversal in the same transaction). Hold and release go with a ConditionCheck on the hold item (present /
absent), so a record is never held without an open case nor released while a new case is open."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from mall.clock import iso, parse_instant
from mall.dal.audit import AuditEntry, AuditLog
from mall.dal.commission_index import CommissionIndex, Where
from mall.dal.commissions import UNREAD_RECORD_ATTRIBUTES, commission_from_item, due_index_fields
from mall.dal.keys import (
    commission_key,
    promoter_cases_partition,
    promoter_key,
    risk_case_key,
    risk_hold_key,
    risk_status_partition,
    wallet_key,
)
from mall.dal.ledger import wallet_from_item
from mall.dal.promoter_wallet import fold_wallet_writes
from mall.dal.referral.records import promoter_from_item
from mall.dal.risk_wallet import hold_conditions, hold_item_check, with_flag
from mall.dal.table import ConditionFailed, Item, Key, Page, Table, TransactionCancelled, Write
from mall.domain.commission_records import CommissionRecord, CommissionStatus
from mall.domain.referral.model import Promoter
from mall.domain.risk import (
    Hold,
    RiskCase,
    RiskCaseStatus,
    evidence_from_json,
    evidence_json,
)

#: Records read per page of a promoter's commissions (gsi1) and per consistent BatchGetItem.
RECORD_PAGE = 100


def _dt(value: Any) -> datetime | None:
    return parse_instant(str(value)) if value else None


# ---- items ------------------------------------------------------------------------------------


def case_item(case: RiskCase) -> Item:
    sort = f"{iso(case.opened_at)}#{case.case_id}"
    item: Item = {
        **risk_case_key(case.case_id), "entity": "risk_case", "case_id": case.case_id,
        "promoter_id": case.promoter_id, "rule": case.rule, "window_key": case.window_key,
        "evidence_json": evidence_json(case.evidence), "status": case.status.value, "opened_at": iso(case.opened_at),
        "resolved_at": iso(case.resolved_at) if case.resolved_at else None, "resolved_by": case.resolved_by,
        "note": case.note, "finished_at": iso(case.finished_at) if case.finished_at else None,
        "version": case.version,
        "gsi1pk": risk_status_partition(case.status.value), "gsi1sk": sort,
        "gsi2pk": promoter_cases_partition(case.promoter_id), "gsi2sk": sort,
    }
    return {k: v for k, v in item.items() if v is not None}


def case_from_item(item: Item) -> RiskCase:
    return RiskCase(
        case_id=str(item["case_id"]), promoter_id=str(item["promoter_id"]), rule=str(item["rule"]),
        window_key=str(item["window_key"]), evidence=evidence_from_json(item.get("evidence_json")),
        status=RiskCaseStatus(item["status"]), opened_at=_dt(item["opened_at"]) or datetime.min,
        resolved_at=_dt(item.get("resolved_at")), resolved_by=item.get("resolved_by"), note=item.get("note"),
        finished_at=_dt(item.get("finished_at")), version=int(item.get("version", 1)))


def hold_item(hold: Hold) -> Item:
    item: Item = {
        **risk_hold_key(hold.promoter_id), "entity": "risk_hold", "promoter_id": hold.promoter_id,
        "case_id": hold.case_id, "opened_at": iso(hold.opened_at),
        "open_cases": {cid: iso(at) for cid, at in sorted(hold.open_cases.items())},
        "confirmed_case_id": hold.confirmed_case_id, "version": hold.version,
    }
    return {k: v for k, v in item.items() if v is not None}


def hold_from_item(item: Item) -> Hold:
    opened = _dt(item.get("opened_at")) or datetime.min
    cases: dict[str, Any] = dict(item.get("open_cases") or {})
    if not cases and item.get("case_id") and not item.get("confirmed_case_id"):
        cases = {str(item["case_id"]): item.get("opened_at")}  # a hold written before open_cases existed
    return Hold(promoter_id=str(item.get("promoter_id") or str(item["pk"]).removeprefix("USER#")),
                case_id=str(item.get("case_id") or ""), opened_at=opened,
                open_cases={str(cid): _dt(at) or opened for cid, at in cases.items()},
                confirmed_case_id=item.get("confirmed_case_id"), version=int(item.get("version", 1)))


# ---- errors ------------------------------------------------------------------------------------


class CaseExists(Exception):
    """A case with this id is already stored (the same promoter, rule and window)."""


class StaleCase(Exception):
    """The case is no longer in the state it was read in (another admin resolved it)."""


class StaleHold(Exception):
    """The promoter's hold changed since it was read (another case opened or was resolved)."""


class HoldMismatch(Exception):
    """The hold ConditionCheck refused a record's hold write: the hold item is (not) where it should be."""


class StaleRecord(Exception):
    """The commission record changed since it was read."""


# ---- repositories -----------------------------------------------------------------------------


class RiskHoldRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    def get(self, uid: str) -> dict[str, Any] | None:
        """The open hold on ``uid`` (``case_id``, ``opened_at`` …), or None."""
        return self._table.get(risk_hold_key(uid), consistent=True)

    def get_many(self, uids: Iterable[str], *, consistent: bool = True) -> dict[str, dict[str, Any]]:
        """The open holds among ``uids``, by user id (users without a hold are absent)."""
        wanted = list(dict.fromkeys(uids))
        if not wanted:
            return {}
        found = self._table.batch_get([risk_hold_key(uid) for uid in wanted], consistent=consistent)
        return {str(item["pk"]).removeprefix("USER#"): item for item in found}

    def hold(self, uid: str) -> Hold | None:
        item = self.get(uid)
        return hold_from_item(item) if item else None

    def hold_and_promoter(self, uid: str, *, frozen: bool = False) -> tuple[Hold | None, Promoter | None, int]:
        """The hold on ``uid``, their promoter and (``frozen``; else 0) their frozen fen: one consistent BatchGet."""
        keys = [risk_hold_key(uid), promoter_key(uid), *([wallet_key(uid)] if frozen else [])]
        found = {str(item["sk"]): item for item in self._table.batch_get(keys, consistent=True)}
        hold, promoter = found.get(str(keys[0]["sk"])), found.get(str(keys[1]["sk"]))
        return ((hold_from_item(hold) if hold else None), (promoter_from_item(promoter) if promoter else None),
                wallet_from_item(uid, found.get(str(wallet_key(uid)["sk"]))).balances.frozen)

    def check_write(self, uid: str, *, held: bool) -> Write:
        """A ConditionCheck that ``uid`` is (``held``) or is not held, for a writer that decided
        from a read of the hold (e.g. commission creation) and must not commit if it changed."""
        return hold_item_check(self._table.name, uid, held=held)

    def conditions(self, held: Mapping[str, bool]) -> tuple[list[Write], dict[str, bool]]:
        return hold_conditions(self._table, held)  # for a ledger transaction updating their wallets


class RiskCaseRepository:
    def __init__(self, table: Table) -> None:
        self._table = table
        self._audit = AuditLog(table)

    # ---- cases: reads -------------------------------------------------------------------------

    def get(self, case_id: str, *, consistent: bool = True) -> RiskCase | None:
        item = self._table.get(risk_case_key(case_id), consistent=consistent)
        return case_from_item(item) if item and item.get("entity") == "risk_case" else None

    def by_status(self, status: str, *, limit: int, start_key: Key | None) -> Page:
        """Cases of one status, newest first (gsi1)."""
        return self._table.query(partition=("gsi1pk", risk_status_partition(status)), index="gsi1", limit=limit,
                                 start_key=start_key, newest_first=True)

    def for_promoter(self, uid: str, *, status: str | None, limit: int, start_key: Key | None) -> Page:
        """One promoter's cases, newest first (gsi2); ``status`` filters (a page may be short)."""
        names = {"#pk": "gsi2pk"}
        values: dict[str, Any] = {":pk": promoter_cases_partition(uid)}
        filter_expression = None
        if status:
            names["#status"] = "status"
            values[":status"] = status
            filter_expression = "#status = :status"
        return self._table.query_where("#pk = :pk", names=names, values=values, index="gsi2", limit=limit,
                                       start_key=start_key, newest_first=True, filter_expression=filter_expression)

    def open_cases_of(self, uid: str) -> list[RiskCase]:
        """Every OPEN case of the promoter (all pages, then consistent reads of each)."""
        found: list[str] = []
        start: Key | None = None
        while True:
            page = self.for_promoter(uid, status=RiskCaseStatus.OPEN.value, limit=100, start_key=start)
            found += [str(i["case_id"]) for i in page.items]
            start = page.last_key
            if start is None:
                break
        cases = [self.get(cid) for cid in found]
        return [c for c in cases if c is not None and c.is_open]

    # ---- cases: writes ------------------------------------------------------------------------

    def _hold_write(self, before: Hold | None, after: Hold) -> Write:
        """Put ``after`` (or delete it when lifted), conditional on the version ``before`` had."""
        name = self._table.name
        key = risk_hold_key(after.promoter_id)
        if before is None or before.version == 0:
            if after.lifted:
                return Write.check(name, key, "attribute_not_exists(pk)")
            return Write.put(name, hold_item(replace(after, version=1)), condition="attribute_not_exists(pk)")
        condition = "version = :v"
        values = {":v": before.version}
        if after.lifted:
            return Write.delete(name, key, condition=condition, values=values)
        return Write.put(name, hold_item(replace(after, version=before.version + 1)), condition=condition,
                         values=values)

    def open(self, case: RiskCase, *, hold_before: Hold | None, hold_after: Hold, audit: AuditEntry,
             now: datetime) -> None:
        """Store the new case, the promoter's hold and the audit entry: one transaction. Raises
        ``CaseExists`` (nothing written) or ``StaleHold`` (re-read the hold and retry)."""
        writes = [Write.put(self._table.name, case_item(case), condition="attribute_not_exists(pk)"),
                  self._hold_write(hold_before, hold_after), self._audit.write(audit, now)]
        try:
            self._table.transact(with_flag(writes, self._table.name, hold_before, hold_after))
        except TransactionCancelled as exc:
            failed = exc.conditional_failures
            if 0 in failed:
                raise CaseExists(case.case_id) from exc
            if 1 in failed:
                raise StaleHold(case.promoter_id) from exc
            raise StaleHold(case.promoter_id) from exc  # a conflicting transaction: read again and retry

    def resolve(self, before: RiskCase, after: RiskCase, *, hold_before: Hold | None, hold_after: Hold | None,
                audit: AuditEntry, now: datetime, also: Sequence[Write] = (), finished: bool = False) -> None:
        """OPEN → RELEASED | CONFIRMED (``finished``: its follow-up done too), the hold's new state,
        the audit entry and ``also`` (a confirmed case's freeze of the promoter): one transaction.
        Raises ``StaleCase`` (the case changed: read it again) or ``StaleHold`` (the hold or what
        ``also`` expected changed: retry)."""
        name = self._table.name
        sets = ["#status = :to", "gsi1pk = :g1", "resolved_at = :at", "resolved_by = :by", "#note = :note",
                "updated_at = :at", *(["finished_at = :at"] if finished else [])]
        values: dict[str, Any] = {":to": after.status.value, ":g1": risk_status_partition(after.status.value),
                                  ":at": iso(now), ":by": after.resolved_by, ":note": after.note or "",
                                  ":open": RiskCaseStatus.OPEN.value, ":v": before.version, ":one": 1}
        writes = [Write.update(name, risk_case_key(before.case_id), f"SET {', '.join(sets)} ADD version :one",
                               condition="#status = :open AND version = :v",
                               names={"#status": "status", "#note": "note"}, values=values)]
        if hold_after is not None:
            writes.append(self._hold_write(hold_before, hold_after))
        writes.append(self._audit.write(audit, now))
        writes += also
        # The hold's flag, the freeze's promoter-blocked flag and a check of the same wallet: one write.
        writes = fold_wallet_writes(with_flag(writes, self._table.name, hold_before, hold_after), before.promoter_id)
        try:
            self._table.transact(writes)
        except TransactionCancelled as exc:
            failed = exc.conditional_failures
            if 0 in failed:
                raise StaleCase(before.case_id) from exc
            raise StaleHold(before.promoter_id) from exc

    def finish(self, case: RiskCase, now: datetime) -> bool:
        """Mark the resolution's follow-up done (once). False if it already was, or the case is
        not in the resolved status it was read in."""
        try:
            self._table.update(risk_case_key(case.case_id), "SET finished_at = :at",
                               condition="#status = :s AND attribute_not_exists(finished_at)",
                               names={"#status": "status"}, values={":at": iso(now), ":s": case.status.value})
        except ConditionFailed:
            return False
        return True

    def lift_hold(self, hold: Hold) -> None:
        """Delete a hold nothing keeps any more (conditional on its version); ``StaleHold`` if it changed."""
        try:
            lifted = replace(hold, open_cases={}, confirmed_case_id=None)
            self._table.transact(with_flag([self._hold_write(hold, lifted)], self._table.name, hold, lifted))
        except TransactionCancelled as exc:
            raise StaleHold(hold.promoter_id) from exc

    # ---- commission records -------------------------------------------------------------------

    def unsettled_records(self, uid: str) -> Iterator[CommissionRecord]:
        """The promoter's FROZEN commission records: keys from gsi1 ``COMMISSIONS#<uid>`` (its shards,
        filtered on status, eventually consistent), then the records themselves by consistent
        BatchGetItem, so each is seen as it is now (still FROZEN, its current version and hold).
        None when the wallet, read first and consistently, holds nothing frozen: every FROZEN record
        has money left (one with nothing left is CANCELLED) and its money is frozen in the same
        transaction that writes it, so one GetItem answers for the promoter's index shards."""
        if wallet_from_item(uid, self._table.get(wallet_key(uid), consistent=True)).balances.frozen == 0:
            return
        frozen = Where(expression="#status = :frozen", names={"#status": "status"},
                       values={":frozen": CommissionStatus.FROZEN.value})
        found = CommissionIndex(self._table).items(uid, where=frozen, page_size=RECORD_PAGE)
        for chunk in itertools.batched(found, RECORD_PAGE, strict=False):
            keys = [{"pk": i["pk"], "sk": i["sk"]} for i in chunk]
            for item in self._table.batch_get(keys, consistent=True):
                if item.get("entity") == "commission" and item.get("status") == CommissionStatus.FROZEN.value:
                    yield commission_from_item(item)

    def record(self, record: CommissionRecord) -> CommissionRecord | None:
        item = self._table.get(commission_key(record.order_id, record.line_id, record.level), consistent=True)
        return commission_from_item(item) if item and item.get("entity") == "commission" else None

    def case_records(self, uid: str, case_id: str) -> tuple[list[CommissionRecord], list[int]]:
        """The promoter's held records and the amounts ``case_id`` voided: a gsi1 Query per index
        shard (all pages), filtered; eventually consistent (a view, not a decision)."""
        held: list[CommissionRecord] = []
        voided: list[int] = []
        where = Where(expression="(#status = :frozen AND attribute_exists(#hold)) OR voided_by = :case",
                      names={"#status": "status", "#hold": "hold"},
                      values={":frozen": CommissionStatus.FROZEN.value, ":case": case_id})
        for item in CommissionIndex(self._table).items(uid, newest_first=True, where=where, page_size=RECORD_PAGE):
            if item.get("voided_by") == case_id:
                voided.append(int(item.get("voided_fen", 0)))
            else:
                held.append(commission_from_item(item))
        return held, voided

    def _record_transact(self, writes: list[Write]) -> None:
        """[hold ConditionCheck, record update]: which one failed decides the error."""
        try:
            self._table.transact(writes)
        except TransactionCancelled as exc:
            failed = exc.conditional_failures
            if 0 in failed:
                raise HoldMismatch from exc
            raise StaleRecord from exc

    def hold_record(self, record: CommissionRecord, *, case_id: str, now: datetime) -> None:
        """Mark a FROZEN record held (out of the due index) while the promoter's hold exists."""
        name = self._table.name
        self._record_transact([
            hold_item_check(name, record.beneficiary_id, held=True),
            Write.update(
                name, commission_key(record.order_id, record.line_id, record.level),
                "SET #hold = :case, history = list_append(if_not_exists(history, :empty), :entry) "
                f"REMOVE gsi2pk, gsi2sk, {', '.join(UNREAD_RECORD_ATTRIBUTES)} ADD version :one",
                condition="#status = :frozen AND version = :v AND attribute_not_exists(#hold)",
                names={"#status": "status", "#hold": "hold"},
                values={":case": case_id, ":empty": [], ":one": 1, ":v": record.version,
                        ":frozen": CommissionStatus.FROZEN.value,
                        ":entry": [{"at": iso(now), "hold": case_id}]}),
        ])

    def release_record(self, record: CommissionRecord, *, now: datetime) -> None:
        """Take the hold off a FROZEN record (back into the due index when it has a due date),
        only while the promoter has no hold."""
        name = self._table.name
        due = due_index_fields(replace(record, hold=None))
        sets = ["history = list_append(if_not_exists(history, :empty), :entry)"]
        values: dict[str, Any] = {":empty": [], ":one": 1, ":v": record.version,
                                  ":frozen": CommissionStatus.FROZEN.value,
                                  ":entry": [{"at": iso(now), "hold_released": record.hold}]}
        if due:
            sets += ["gsi2pk = :g2pk", "gsi2sk = :g2sk"]
            values.update({":g2pk": due["gsi2pk"], ":g2sk": due["gsi2sk"]})
        self._record_transact([
            hold_item_check(name, record.beneficiary_id, held=False),
            Write.update(name, commission_key(record.order_id, record.line_id, record.level),
                         f"SET {', '.join(sets)} REMOVE #hold, {', '.join(UNREAD_RECORD_ATTRIBUTES)} ADD version :one",
                         condition="#status = :frozen AND version = :v AND attribute_exists(#hold)",
                         names={"#status": "status", "#hold": "hold"}, values=values),
        ])

    def void_write(self, record: CommissionRecord, *, case_id: str, now: datetime) -> Write:
        """FROZEN → CANCELLED (voided by ``case_id``), from the version read: the ``also`` of the
        ledger transaction that posts its ``commission_voided`` reversal."""
        amount = record.current_fen
        return Write.update(
            self._table.name, commission_key(record.order_id, record.line_id, record.level),
            "SET #status = :cancelled, cancelled_fen = :cancelled_fen, voided_by = :case, voided_fen = :amount, "
            "history = list_append(if_not_exists(history, :empty), :entry) "
            f"REMOVE gsi2pk, gsi2sk, {', '.join(UNREAD_RECORD_ATTRIBUTES)} ADD version :one",
            condition="#status = :frozen AND version = :v",
            names={"#status": "status"},
            values={":cancelled": CommissionStatus.CANCELLED.value, ":cancelled_fen": record.cancelled_fen + amount,
                    ":case": case_id, ":amount": amount, ":empty": [], ":one": 1,
                    ":v": record.version, ":frozen": CommissionStatus.FROZEN.value,
                    ":entry": [{"at": iso(now), "status": CommissionStatus.CANCELLED.value, "voided_fen": amount,
                                "case_id": case_id}]})
