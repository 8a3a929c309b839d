"""Withdrawal records, the daily counters and their units of work (docs/data-model.md, "withdrawals").

Keys:
- withdrawal ``WITHDRAWAL#<withdrawal_id>`` / ``WITHDRAWAL``; gsi1 ``WITHDRAWALS#<status>`` /
  ``<created_at>#<id>`` (admin queue by status), gsi2 ``PROMOTER_WITHDRAWALS#<uid>`` /
  ``<created_at>#<id>`` (a promoter's own list, an admin's per-promoter filter)
- daily counter ``USER#<uid>`` / ``WITHDRAW_DAY#<China day>``: ``count``, ``amount_fen`` (expires later)
- the risk hold ``USER#<uid>`` / ``RISK_HOLD`` (``mall.dal.risk``) is only checked here (the risk cases write it)

The request is ONE transaction through ``LedgerRepository.post``: the ``withdrawal_held`` posting
and the wallet ADD (``available_fen >= amount`` and no debt at commit time: ``no_debt``), the
record (``attribute_not_exists``), the counter
(``count < :max AND amount_fen <= :room``), and ConditionChecks that the risk hold is absent and
the promoter is active. Every later change is conditional on the status and version read, and
carries its posting (PAID: ``withdrawal_paid``; FAILED / REJECTED: ``withdrawal_returned``) and,
for admin decisions, its audit record in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal, cast

from aws_lambda_powertools import Logger

from mall.clock import china_day, epoch, iso
from mall.dal.audit import AuditEntry, AuditLog
from mall.dal.ledger import LedgerRefused, LedgerRepository, Wallet
from mall.dal.referral import promoter_key
from mall.dal.risk import RiskHoldRepository, risk_hold_key
from mall.dal.table import Item, Key, Table, TransactionCancelled, Write
from mall.domain import ledger as postings
from mall.domain.ledger import Posting
from mall.domain.settings import WithdrawalMethod, WithdrawalRules
from mall.domain.withdrawals import (
    RETURNS_FUNDS,
    WITHDRAWING_STATUSES,
    Approval,
    ReviewKind,
    TimelineEntry,
    Today,
    Withdrawal,
    WithdrawalStatus,
    can_move,
)
from mall.ids import new_id

logger = Logger(child=True)

#: Times a return of funds is recomputed when the promoter's debt moved under it.
DEBT_RACE_ATTEMPTS = 10
#: Daily counters are read for "today" only; keep them a little past the day for support questions.
COUNTER_KEEP_DAYS = 3
RECORD_FIELDS = ("rejected_by", "reason", "transfer_bill_no", "bill_state", "package_info", "fail_reason",
                 "bank_reference", "approved_at", "paying_at", "paid_at", "failed_at", "rejected_at", "cancel_reason")
#: The ``<status>_at`` field each status sets when the record enters it.
STATUS_TIME_FIELD: Mapping[WithdrawalStatus, str] = {
    WithdrawalStatus.APPROVED: "approved_at", WithdrawalStatus.PAYING: "paying_at",
    WithdrawalStatus.PAID: "paid_at", WithdrawalStatus.FAILED: "failed_at", WithdrawalStatus.REJECTED: "rejected_at",
}


def withdrawal_key(withdrawal_id: str) -> Key:
    return {"pk": f"WITHDRAWAL#{withdrawal_id}", "sk": "WITHDRAWAL"}


def bank_context(withdrawal_id: str) -> str:
    """The associated data a withdrawal's encrypted bank account is sealed with: the withdrawal's
    own partition key, so a token copied onto another record does not open."""
    return f"WITHDRAWAL#{withdrawal_id}"


def status_partition(status: str) -> str:
    return f"WITHDRAWALS#{status}"


def promoter_partition(user_id: str) -> str:
    return f"PROMOTER_WITHDRAWALS#{user_id}"


def daily_counter_key(user_id: str, day: str) -> Key:
    return {"pk": f"USER#{user_id}", "sk": f"WITHDRAW_DAY#{day}"}


def new_withdrawal_id() -> str:
    return new_id("w")


def _order_key(w: Withdrawal) -> str:
    return f"{w.created_at}#{w.withdrawal_id}"


def _entry(entry: TimelineEntry) -> dict[str, str]:
    return {"status": entry.status, "at": entry.at, "by": entry.by, "note": entry.note}


def withdrawal_item(w: Withdrawal) -> Item:
    item: Item = {
        **withdrawal_key(w.withdrawal_id), "entity": "withdrawal", "withdrawal_id": w.withdrawal_id,
        "promoter_id": w.promoter_id, "amount_fen": w.amount_fen, "fee_fen": w.fee_fen, "net_fen": w.net_fen,
        "method": w.method, "status": w.status.value, "review": w.review, "required_approvals": w.required_approvals,
        "approvals": [{"admin_id": a.admin_id, "at": a.at} for a in w.approvals], "out_bill_no": w.out_bill_no,
        "created_at": w.created_at, "timeline": [_entry(e) for e in w.timeline], "version": w.version,
        "gsi1pk": status_partition(w.status.value), "gsi1sk": _order_key(w),
        "gsi2pk": promoter_partition(w.promoter_id), "gsi2sk": _order_key(w),
    }
    for name in RECORD_FIELDS:
        value = getattr(w, name)
        if value is not None:
            item[name] = value
    if w.bank is not None:
        item["bank"] = dict(w.bank)
    return item


_KNOWN = {"pk", "sk", "entity", "withdrawal_id", "promoter_id", "amount_fen", "fee_fen", "net_fen", "method", "status",
          "review", "required_approvals", "approvals", "out_bill_no", "created_at", "timeline", "version", "gsi1pk",
          "gsi1sk", "gsi2pk", "gsi2sk", "bank", *RECORD_FIELDS}


def readable_withdrawal(item: Mapping[str, Any]) -> Withdrawal | None:
    """The withdrawal of an item, or None (logged) for one a scan cannot read: one bad record
    must not stop the scan of the others."""
    try:
        return withdrawal_from_item(dict(item))
    except (KeyError, ValueError, TypeError):
        logger.exception("unreadable withdrawal record", extra={"pk": item.get("pk")})
        return None


def withdrawal_from_item(item: Item) -> Withdrawal:
    return Withdrawal(
        withdrawal_id=str(item["withdrawal_id"]), promoter_id=str(item["promoter_id"]),
        amount_fen=int(item["amount_fen"]), fee_fen=int(item.get("fee_fen", 0)), net_fen=int(item["net_fen"]),
        method=cast(WithdrawalMethod, item["method"]), status=WithdrawalStatus(item["status"]),
        review=cast(ReviewKind, item.get("review", "manual")),
        required_approvals=int(item.get("required_approvals", 1)),
        created_at=str(item["created_at"]), out_bill_no=str(item["out_bill_no"]),
        approvals=tuple(Approval(str(a["admin_id"]), str(a["at"])) for a in item.get("approvals", [])),
        bank=item.get("bank"), version=int(item.get("version", 1)),
        timeline=tuple(TimelineEntry(str(e.get("status", "")), str(e.get("at", "")), str(e.get("by", "")),
                                     str(e.get("note", ""))) for e in item.get("timeline", [])),
        **{name: item.get(name) for name in RECORD_FIELDS},
        extra={k: v for k, v in item.items() if k not in _KNOWN},
    )


# ---- errors -------------------------------------------------------------------------------------

RefusedBy = Literal["promoter", "risk_hold", "daily_limit", "wallet", "contention", "exists"]


class RequestRefused(Exception):
    """The request's transaction was refused. ``by`` names the first failed condition in the order
    a promoter should learn of them; ``current`` is that item as DynamoDB saw it (when known)."""

    def __init__(self, by: RefusedBy, current: Item | None = None) -> None:
        super().__init__(f"withdrawal request refused by {by}")
        self.by = by
        self.current = current


class OwesDebt(Exception):
    """The promoter owed a debt when the change was to commit: nothing leaves while a debt exists."""

    def __init__(self, withdrawal_id: str) -> None:
        super().__init__(f"the promoter of withdrawal {withdrawal_id} owes a debt")
        self.withdrawal_id = withdrawal_id


class StaleWithdrawal(Exception):
    """The record was no longer in the status / version the change was computed from."""

    def __init__(self, withdrawal_id: str, current: Item | None) -> None:
        super().__init__(f"withdrawal {withdrawal_id} changed meanwhile")
        self.withdrawal_id = withdrawal_id
        self.current = current


# ---- the admin list's filters ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WithdrawalFilter:
    """Admin filters; created_* are ISO instants (``created_from`` inclusive, ``created_before`` exclusive)."""

    status: WithdrawalStatus | None = None
    promoter_id: str | None = None
    created_from: str | None = None
    created_before: str | None = None
    min_fen: int | None = None
    max_fen: int | None = None

    def partitions(self) -> list[tuple[str, str]]:
        """(index, partition) pairs to read, newest first in each; merged by the sort key."""
        if self.promoter_id is not None:
            return [("gsi2", promoter_partition(self.promoter_id))]
        statuses = [self.status] if self.status is not None else list(WithdrawalStatus)
        return [("gsi1", status_partition(s.value)) for s in statuses]


#: A partition's position in a paginated merge: the last key consumed, None (not started) or DONE.
DONE = "done"
Position = Key | str | None


@dataclass
class MergedPage:
    items: list[Item]
    positions: dict[str, Position] | None  # None: nothing more


class WithdrawalRepository:
    def __init__(self, table: Table) -> None:
        self._table = table
        self._ledger = LedgerRepository(table)

    @property
    def table(self) -> Table:
        return self._table

    @property
    def ledger(self) -> LedgerRepository:
        return self._ledger

    # ---- reads ----------------------------------------------------------------------------------

    def get(self, withdrawal_id: str, *, consistent: bool = True) -> Withdrawal | None:
        item = self._table.get(withdrawal_key(withdrawal_id), consistent=consistent)
        return withdrawal_from_item(item) if item else None

    def today(self, user_id: str, now: datetime) -> Today:
        item = self._table.get(daily_counter_key(user_id, china_day(now)), consistent=True)
        return Today(int(item.get("count", 0)), int(item.get("amount_fen", 0))) if item else Today()

    def risk_hold(self, user_id: str) -> Item | None:
        return RiskHoldRepository(self._table).get(user_id)

    def promoter_status(self, user_id: str) -> str | None:
        item = self._table.get(promoter_key(user_id), consistent=True)
        return str(item["status"]) if item else None

    def for_promoter(self, user_id: str, *, status: WithdrawalStatus | None, limit: int,
                     start_key: Key | None) -> tuple[list[Withdrawal], Key | None]:
        """A promoter's withdrawals, newest first (one page; ``status`` filters)."""
        names = {"#pk": "gsi2pk"}
        values: dict[str, Any] = {":pk": promoter_partition(user_id)}
        condition = None
        if status is not None:
            names["#status"] = "status"
            values[":status"] = status.value
            condition = "#status = :status"
        page = self._table.query_where("#pk = :pk", names=names, values=values, index="gsi2", limit=limit,
                                       start_key=start_key, newest_first=True, filter_expression=condition)
        return [withdrawal_from_item(i) for i in page.items], page.last_key

    def of_promoter_in(self, user_id: str, statuses: Iterable[WithdrawalStatus]) -> list[Withdrawal]:
        """Every withdrawal of ``user_id`` now in one of ``statuses`` (gsi2, all pages). The index
        is eventually consistent: a record written a moment ago may be missing, which is why the
        changes that let money leave check the debt in their own transaction as well."""
        wanted = sorted({s.value for s in statuses})
        names = {"#pk": "gsi2pk", "#status": "status"}
        values: dict[str, Any] = {":pk": promoter_partition(user_id), **{f":s{i}": v for i, v in enumerate(wanted)}}
        condition = f"#status IN ({', '.join(f':s{i}' for i in range(len(wanted)))})"
        found: list[Withdrawal] = []
        start: Key | None = None
        while True:
            page = self._table.query_where("#pk = :pk", names=names, values=values, index="gsi2", limit=None,
                                           start_key=start, filter_expression=condition)
            found += [withdrawal_from_item(i) for i in page.items]
            if page.last_key is None:
                return found
            start = page.last_key

    def search(self, where: WithdrawalFilter, *, limit: int, positions: Mapping[str, Position] | None) -> MergedPage:
        """One page of the admin list: each partition of ``where`` read newest first from its
        position (filters applied), merged by ``<created_at>#<id>``, the newest ``limit`` kept."""
        parts = where.partitions()
        start = dict(positions) if positions else dict.fromkeys((p for _, p in parts), None)
        candidates: list[tuple[str, Item]] = []
        exhausted: dict[str, bool] = {}
        for index, partition in parts:
            position = start.get(partition)
            if position == DONE:
                exhausted[partition] = True
                continue
            found, done = self._collect(index, partition, where, limit=limit,
                                        start_key=position if isinstance(position, dict) else None)
            candidates += [(partition, item) for item in found]
            exhausted[partition] = done
        sort_name = {p: f"{i}sk" for i, p in parts}
        candidates.sort(key=lambda pair: str(pair[1][sort_name[pair[0]]]), reverse=True)
        taken = candidates[:limit]
        left = {partition for partition, _ in candidates[limit:]}
        next_positions: dict[str, Position] = {}
        for index, partition in parts:
            mine = [item for p, item in taken if p == partition]
            if exhausted[partition] and partition not in left:
                next_positions[partition] = DONE
            elif mine:
                last = mine[-1]
                next_positions[partition] = {"pk": last["pk"], "sk": last["sk"], f"{index}pk": last[f"{index}pk"],
                                             f"{index}sk": last[f"{index}sk"]}
            else:
                next_positions[partition] = start.get(partition)
        more = any(v != DONE for v in next_positions.values())
        return MergedPage([item for _, item in taken], next_positions if more else None)

    def _collect(self, index: str, partition: str, where: WithdrawalFilter, *, limit: int,
                 start_key: Key | None) -> tuple[list[Item], bool]:
        """Up to ``limit`` matching items from one partition; True when the partition has no more."""
        names = {"#pk": f"{index}pk", "#sk": f"{index}sk"}
        # A key condition may not compare with an empty string; every stored key starts with a year.
        values: dict[str, Any] = {":pk": partition, ":low": where.created_from or "0",
                                  ":high": where.created_before or "\uffff"}
        filters: list[str] = []
        if index == "gsi2" and where.status is not None:
            names["#status"] = "status"
            values[":status"] = where.status.value
            filters.append("#status = :status")
        if where.min_fen is not None:
            names["#amount"] = "amount_fen"
            values[":min"] = where.min_fen
            filters.append("#amount >= :min")
        if where.max_fen is not None:
            names["#amount"] = "amount_fen"
            values[":max"] = where.max_fen
            filters.append("#amount <= :max")
        found: list[Item] = []
        key = start_key
        while True:
            page = self._table.query_where("#pk = :pk AND #sk BETWEEN :low AND :high", names=names, values=values,
                                           index=index, limit=max(limit, 25), start_key=key, newest_first=True,
                                           filter_expression=" AND ".join(filters) or None)
            for item in page.items:
                if len(found) == limit:
                    return found, False
                found.append(item)
            if page.last_key is None:
                return found, True
            if len(found) == limit:
                return found, False
            key = page.last_key

    def search_all(self, where: WithdrawalFilter, *, page_size: int = 200) -> Iterable[Item]:
        """Every match, newest first, a page at a time (the CSV export)."""
        positions: dict[str, Position] | None = None
        while True:
            page = self.search(where, limit=page_size, positions=positions)
            yield from page.items
            if page.positions is None:
                return
            positions = page.positions

    # ---- the request ----------------------------------------------------------------------------

    def create(self, w: Withdrawal, *, wallet: Wallet, rules: WithdrawalRules, now: datetime) -> None:
        """The request's unit of work (module docstring). Raises ``RequestRefused``."""
        name = self._table.name
        day = china_day(now)
        also = [
            Write.put(name, withdrawal_item(w), condition="attribute_not_exists(pk)"),
            Write.update(name, daily_counter_key(w.promoter_id, day),
                         "ADD #count :one, #amount :amount SET entity = :entity, #day = :day, promoter_id = :uid, "
                         "expires_at = :expires",
                         condition="attribute_not_exists(#count) OR (#count < :max AND #amount <= :room)",
                         names={"#count": "count", "#amount": "amount_fen", "#day": "day"},
                         values={":one": 1, ":amount": w.amount_fen, ":entity": "withdraw_day", ":day": day,
                                 ":uid": w.promoter_id, ":max": rules.daily_count,
                                 ":room": rules.daily_amount_fen - w.amount_fen,
                                 ":expires": epoch(now + timedelta(days=COUNTER_KEEP_DAYS))}),
            Write.check(name, risk_hold_key(w.promoter_id), "attribute_not_exists(pk)"),
            Write.check(name, promoter_key(w.promoter_id),
                        f"#status IN ({', '.join(f':may{i}' for i in range(len(WITHDRAWING_STATUSES)))})",
                        names={"#status": "status"},
                        values={f":may{i}": status for i, status in enumerate(WITHDRAWING_STATUSES)}),
        ]
        held = postings.withdrawal_held(promoter_id=w.promoter_id, withdrawal_id=w.withdrawal_id,
                                        amount_fen=w.amount_fen, at=now)
        try:
            self._ledger.post([held], also=also, no_debt={w.promoter_id}, now=now)
        except LedgerRefused as exc:
            labels = set(exc.labels)
            order: list[tuple[str, RefusedBy, int | None]] = [
                ("also:3", "promoter", 3), ("also:2", "risk_hold", 2), ("also:1", "daily_limit", 1),
                (f"wallet:{w.promoter_id}", "wallet", None), ("conflict", "contention", None),
                ("also:0", "exists", 0), (f"posting:{held.posting_id}", "exists", None),
            ]
            for label, by, index in order:
                if label in labels:
                    current = exc.items[index] if index is not None and index < len(exc.items) else None
                    raise RequestRefused(by, current) from exc
            raise RequestRefused("contention") from exc

    # ---- changes --------------------------------------------------------------------------------

    def transition(self, w: Withdrawal, *, to: WithdrawalStatus, now: datetime, by: str, note: str = "",
                   sets: Mapping[str, Any] | None = None, approvals: Sequence[Approval] | None = None,
                   audit: AuditEntry | None = None, require_no_debt: bool = False) -> Withdrawal:
        """Move ``w`` to ``to`` (or update it in place when ``to == w.status``), conditional on the
        status and version it was read with, appending a timeline entry. Entering PAID posts
        ``withdrawal_paid``; entering FAILED or REJECTED posts ``withdrawal_returned`` and, while
        the promoter owes, ``debt_repaid`` (the returned funds repay the debt first; conditional
        on the debt as read, recomputed when it moved); all in the same transaction.
        ``require_no_debt`` (a change that moves no money): the transaction also checks the
        promoter owes nothing, else ``OwesDebt``. ``sets``: other record fields (``transfer_bill_no``,
        ``bill_state``, ``package_info``, ``fail_reason``, ``bank_reference``, ``reason``,
        ``rejected_by``, ``cancel_reason`` …; None values are skipped). Raises ``StaleWithdrawal``;
        returns the record as written."""
        if to != w.status and not can_move(w.status, to):
            raise ValueError(f"a withdrawal cannot move from {w.status.value} to {to.value}")
        at = iso(now)
        fields: dict[str, Any] = {k: v for k, v in (sets or {}).items() if v is not None}
        if to != w.status and to in STATUS_TIME_FIELD:
            fields.setdefault(STATUS_TIME_FIELD[to], at)
        if approvals is not None:
            fields["approvals"] = [{"admin_id": a.admin_id, "at": a.at} for a in approvals]
        bad = set(fields) - {*RECORD_FIELDS, "approvals"}
        if bad:
            raise ValueError(f"not record fields: {sorted(bad)}")
        entry = TimelineEntry(to.value, at, by, note)
        names: dict[str, str] = {"#status": "status", "#version": "version", "#timeline": "timeline", "#g": "gsi1pk"}
        values: dict[str, Any] = {":to": to.value, ":from": w.status.value, ":v": w.version, ":one": 1,
                                  ":entry": [_entry(entry)], ":g": status_partition(to.value)}
        assignments = ["#status = :to", "#g = :g", "#version = #version + :one",
                       "#timeline = list_append(#timeline, :entry)"]
        for i, (name, value) in enumerate(sorted(fields.items())):
            names[f"#f{i}"] = name
            values[f":f{i}"] = value
            assignments.append(f"#f{i} = :f{i}")
        update = Write.update(self._table.name, withdrawal_key(w.withdrawal_id), "SET " + ", ".join(assignments),
                              condition="#status = :from AND #version = :v", names=names, values=values)
        writes = [update]
        if audit is not None:
            writes.append(self._audit_write(w, audit, now))
        if require_no_debt:
            if to != w.status and to in (WithdrawalStatus.PAID, *RETURNS_FUNDS):
                raise ValueError("a debt check goes with a change that moves no money")
            writes.append(self._ledger.no_debt_check(w.promoter_id))
        self._commit(w, to, writes, now=now, note=note, debt_check=len(writes) - 1 if require_no_debt else -1)
        updated = withdrawal_item(w) | fields | {"status": to.value, "version": w.version + 1,
                                                  "timeline": [*(_entry(e) for e in w.timeline), _entry(entry)]}
        return withdrawal_from_item(updated)

    def _commit(self, w: Withdrawal, to: WithdrawalStatus, writes: list[Write], *, now: datetime, note: str,
                debt_check: int) -> None:
        """``writes`` with the postings of entering ``to``, in one transaction (see ``transition``)."""
        for _ in range(DEBT_RACE_ATTEMPTS):
            moved, debt = self._postings(w, to, now, note) if to != w.status else ([], None)
            try:
                if moved:
                    self._ledger.post(moved, also=writes, now=now,
                                      debt_is={w.promoter_id: debt} if debt is not None else None)
                else:
                    self._table.transact(writes)
                return
            except LedgerRefused as exc:
                if exc.any("also:0") or exc.only("conflict"):
                    raise StaleWithdrawal(w.withdrawal_id, exc.items[0] if exc.items else None) from exc
                if debt is not None and exc.only(f"wallet:{w.promoter_id}"):
                    continue  # the debt moved since it was read: split the returned funds again
                raise  # a posting already recorded or an overdraft: never expected, a bug to see
            except TransactionCancelled as exc:
                if not exc.conditional_failures:
                    raise  # a conflict or throttling, not a changed record: the caller's delivery is retried
                if debt_check in exc.conditional_failures and 0 not in exc.conditional_failures:
                    raise OwesDebt(w.withdrawal_id) from exc
                raise StaleWithdrawal(w.withdrawal_id, exc.items[0] if exc.items else None) from exc
        raise StaleWithdrawal(w.withdrawal_id, None)

    def _postings(self, w: Withdrawal, to: WithdrawalStatus, now: datetime,
                  note: str) -> tuple[list[Posting], int | None]:
        """The postings of entering ``to`` and, for returned funds, the debt (``debt_fen``) they
        were split by."""
        if to == WithdrawalStatus.PAID:
            return [postings.withdrawal_paid(promoter_id=w.promoter_id, withdrawal_id=w.withdrawal_id,
                                             amount_fen=w.amount_fen, fee_fen=w.fee_fen, at=now)], None
        if to in RETURNS_FUNDS:
            balances = self._ledger.wallet(w.promoter_id).balances
            return postings.returned_funds(owed_fen=balances.owed_fen, promoter_id=w.promoter_id,
                                           withdrawal_id=w.withdrawal_id, amount_fen=w.amount_fen, at=now,
                                           reason=f"{to.value.lower()}: {note}"[:200]), balances.debt
        return [], None

    def _audit_write(self, w: Withdrawal, audit: AuditEntry, now: datetime) -> Write:
        """The general audit entry about ``w`` (its promoter as the subject, its amount in the details)."""
        entry = replace(audit, entity_type="withdrawal", entity_id=w.withdrawal_id,
                        subject_user=audit.subject_user or w.promoter_id,
                        details={"amount_fen": w.amount_fen, **audit.details})
        return AuditLog(self._table).write(entry, now)

    def record_audit(self, w: Withdrawal, audit: AuditEntry, now: datetime) -> None:
        """An audit record on its own (a reveal, not a change)."""
        self._table.transact([self._audit_write(w, audit, now)])
