"""Withdrawal records, the daily counters and their units of work (docs/data-model.md, "withdrawals").

The record's keys and item: ``mall.dal.withdrawal_items``; the admin list: ``mall.dal.withdrawal_search``.
The risk hold ``USER#<uid>`` / ``RISK_HOLD`` (``mall.dal.risk``) is only checked here (the risk cases write it).

The request is ONE transaction through ``LedgerRepository.post``: the ``withdrawal_held`` posting
and the wallet ADD (``available_fen >= amount`` and no debt at commit time: ``no_debt``), the
record (``attribute_not_exists``) and its entry in the list of every status, the counter
(``count < :max AND amount_fen <= :room``), the promoter's status one that may withdraw (the wallet
update's condition that its ``promoter_blocked`` flag is not ``frozen``: ``mall.dal.promoter_wallet``;
a ConditionCheck of the promoter item while ``PROMOTER_STATUS_ITEM_CHECKS=1``), and the risk hold
absent (the wallet update's condition that it carries no ``risk_hold`` flag: ``mall.dal.risk_wallet``).
The request's read decides the hold from that flag too, on the wallet it reads anyway (the hold item
only while ``RISK_HOLD_ITEM_CHECKS=1``).
Every later change is conditional on the status and version read, and carries its posting (PAID:
``withdrawal_paid``; FAILED / REJECTED: ``withdrawal_returned``) and, for admin decisions, its audit
record in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from mall.clock import china_day, epoch, iso
from mall.dal import withdrawal_search
from mall.dal.audit import AuditEntry, AuditLog
from mall.dal.keys import (
    daily_counter_key,
    promoter_key,
    risk_hold_key,
    wallet_key,
    withdrawal_key,
    withdrawal_promoter_partition,
    withdrawal_status_partition,
)
from mall.dal.ledger import RISK_HOLD_FLAG, LedgerRefused, LedgerRepository, Wallet, wallet_from_item
from mall.dal.promoter_wallet import item_checks as promoter_item_checks
from mall.dal.request_markers import MarkedRequest, MarkerState
from mall.dal.settings import SettingsRepository, SettingsVersion, current_from_item
from mall.dal.table import Item, Key, Table, TransactionCancelled, Write
from mall.dal.withdrawal_items import (
    RECORD_FIELDS,
    STATUS_TIME_FIELD,
    bank_context,
    new_withdrawal_id,
    readable_withdrawal,
    timeline_entry_item,
    withdrawal_from_item,
    withdrawal_item,
    withdrawal_list_item,
)
from mall.dal.withdrawal_search import DONE, MergedPage, Position, WithdrawalFilter
from mall.domain import ledger as postings
from mall.domain.ledger import Posting
from mall.domain.referral.model import SETTLEMENT_BLOCKING_STATUSES
from mall.domain.withdrawals import (
    RETURNS_FUNDS,
    WITHDRAWING_STATUSES,
    Approval,
    TimelineEntry,
    Today,
    Withdrawal,
    WithdrawalStatus,
    can_move,
)

if TYPE_CHECKING:
    from mall.domain.settings import WithdrawalRules

# The record's keys and item, and the admin list's filter, are used from here by other repositories.
__all__ = ["DONE", "RECORD_FIELDS", "STATUS_TIME_FIELD", "MergedPage", "OwesDebt", "Position", "RequestRefused",
           "StaleWithdrawal", "WithdrawalFilter", "WithdrawalRepository", "bank_context", "new_withdrawal_id",
           "readable_withdrawal", "withdrawal_from_item", "withdrawal_item", "withdrawal_list_item"]

#: Times a return of funds is recomputed when the promoter's debt moved under it.
DEBT_RACE_ATTEMPTS = 10
#: Daily counters are read for "today" only; keep them a little past the day for support questions.
COUNTER_KEEP_DAYS = 3
#: The wallet's promoter-blocked flags that refuse a request: the blocking statuses a promoter may not
#: withdraw in (frozen; a disabled promoter withdraws what was settled before). A promoter who passed the
#: request's check of their status (active or disabled) can only be active, frozen or disabled at its
#: commit (no status leads out of those three), so "not flagged frozen" at commit is exactly "active or
#: disabled", as the promoter item's ConditionCheck had it.
STOPPING_FLAGS: tuple[str, ...] = tuple(sorted(SETTLEMENT_BLOCKING_STATUSES - set(WITHDRAWING_STATUSES)))


# ---- errors -------------------------------------------------------------------------------------

RefusedBy = Literal["promoter", "risk_hold", "daily_limit", "wallet", "contention", "exists", "marker"]


@dataclass(frozen=True)
class RequestFacts:
    """What a withdrawal request is checked against, as read in one consistent BatchGetItem."""

    current: SettingsVersion
    promoter_status: str | None
    risk_held: bool
    today: Today
    wallet: Wallet
    marker: MarkerState | None


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


class WithdrawalRepository:
    def __init__(self, table: Table) -> None:
        self._table = table
        self._ledger = LedgerRepository(table)

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

    def request_facts(self, user_id: str, *, now: datetime, settings: SettingsRepository,
                      marked: MarkedRequest | None) -> RequestFacts:
        """The settings in force, the promoter's status, risk hold, today's counter and wallet, and the
        request's ``Idempotency-Key`` marker: one round trip for every check of the request."""
        # The wallet carries the hold as its ``risk_hold`` flag, written in the risk case's own
        # transaction; the hold item is read only while some flags may not be written yet.
        from mall.dal.risk_wallet import item_checks  # the request's path, never a payout's (as below)
        hold_item = item_checks()
        keys = [settings.current_key, promoter_key(user_id), *([risk_hold_key(user_id)] if hold_item else []),
                daily_counter_key(user_id, china_day(now)), wallet_key(user_id)]
        if marked is not None:
            keys.append(marked.marker.key)
        items = self._table.batch_get(keys, consistent=True)
        found = {(str(i["pk"]), str(i["sk"])): i for i in items}

        def at(key: Key) -> Item | None:
            return found.get((str(key["pk"]), str(key["sk"])))

        promoter = at(promoter_key(user_id))
        counter = at(daily_counter_key(user_id, china_day(now)))
        wallet = at(wallet_key(user_id))
        return RequestFacts(
            current=current_from_item(at(settings.current_key)),
            promoter_status=str(promoter["status"]) if promoter else None,
            risk_held=at(risk_hold_key(user_id)) is not None if hold_item
            else bool(wallet and wallet.get(RISK_HOLD_FLAG)),
            today=Today(int(counter.get("count", 0)), int(counter.get("amount_fen", 0))) if counter else Today(),
            wallet=wallet_from_item(user_id, wallet),
            marker=marked.found(items) if marked is not None else None)

    def risk_hold(self, user_id: str) -> Item | None:
        from mall.dal.risk import RiskHoldRepository  # the request's path, never a payout's (as below)
        return RiskHoldRepository(self._table).get(user_id)

    def promoter_status(self, user_id: str) -> str | None:
        item = self._table.get(promoter_key(user_id), consistent=True)
        return str(item["status"]) if item else None

    def for_promoter(self, user_id: str, *, status: WithdrawalStatus | None, limit: int,
                     start_key: Key | None) -> tuple[list[Withdrawal], Key | None]:
        """A promoter's withdrawals, newest first (one page; ``status`` filters)."""
        names = {"#pk": "gsi2pk"}
        values: dict[str, Any] = {":pk": withdrawal_promoter_partition(user_id)}
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
        values: dict[str, Any] = {":pk": withdrawal_promoter_partition(user_id),
                                  **{f":s{i}": v for i, v in enumerate(wanted)}}
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
        """One page of the admin list (``mall.dal.withdrawal_search.search``)."""
        return withdrawal_search.search(self._table, where, limit=limit, positions=positions)

    def search_all(self, where: WithdrawalFilter, *, page_size: int = 200) -> Iterable[Item]:
        """Every match of the admin list, newest first, a page at a time (the CSV export)."""
        return withdrawal_search.search_all(self._table, where, page_size=page_size)

    # ---- the request ----------------------------------------------------------------------------

    def status_check(self, user_id: str) -> Write:
        """The ConditionCheck that the promoter item's status still lets them withdraw (while
        ``PROMOTER_STATUS_ITEM_CHECKS=1``; otherwise the wallet's flag carries it: ``create``)."""
        values = {f":may{i}": status for i, status in enumerate(WITHDRAWING_STATUSES)}
        return Write.check(self._table.name, promoter_key(user_id), f"#status IN ({', '.join(values)})",
                           names={"#status": "status"}, values=values)

    def create(self, w: Withdrawal, *, wallet: Wallet, rules: WithdrawalRules, now: datetime,
               marker: Write | None = None) -> None:
        """The request's unit of work (module docstring), with the request's ``Idempotency-Key``
        ``marker`` put when given. Raises ``RequestRefused`` (``marker``: a live marker for the key
        was there first, in ``current``)."""
        # Imported here: a payout never checks the hold (the request's function loads these modules at its
        # cold start, through ``mall.services.withdrawals.request``).
        from mall.dal.risk import RiskHoldRepository
        name = self._table.name
        day = china_day(now)
        hold_checks, held = RiskHoldRepository(self._table).conditions({w.promoter_id: False})
        status_checks = [self.status_check(w.promoter_id)] if promoter_item_checks() else []
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
            *hold_checks,
            *status_checks,
        ]
        if marker is not None:
            also.append(marker)
        # Unconditional and last: it never fails, so the refusals above keep their indexes.
        also.append(Write.put(name, withdrawal_list_item(w)))
        posting = postings.withdrawal_held(promoter_id=w.promoter_id, withdrawal_id=w.withdrawal_id,
                                           amount_fen=w.amount_fen, at=now)
        # Without the promoter item's check, the wallet's update carries it: its promoter-blocked flag
        # must not be a status that stops withdrawals (frozen).
        not_blocked_as = {} if status_checks else {w.promoter_id: STOPPING_FLAGS}
        try:
            self._ledger.post([posting], also=also, no_debt={w.promoter_id}, held=held, now=now,
                              not_blocked_as=not_blocked_as)
        except LedgerRefused as exc:
            labels = set(exc.labels)
            if exc.wallet_held(w.promoter_id):
                labels.add("risk_hold")  # the wallet's flag refused it (whatever its balance)
            p = 2 + len(hold_checks)  # the promoter check's index (the marker's without it)
            m = p + len(status_checks)  # the marker's index
            promoter = f"also:{p}" if status_checks else "promoter"
            if not status_checks and exc.blocked_as(w.promoter_id) in STOPPING_FLAGS:
                labels.add(promoter)  # the wallet's flag refused it (whatever its balance)
            order: list[tuple[str, RefusedBy, int | None]] = [
                (f"also:{m}", "marker", m), (promoter, "promoter", p if status_checks else None),
                ("also:2" if hold_checks else "risk_hold", "risk_hold", 2 if hold_checks else None),
                ("also:1", "daily_limit", 1),
                (f"wallet:{w.promoter_id}", "wallet", None), ("conflict", "contention", None),
                ("also:0", "exists", 0), (f"posting:{posting.posting_id}", "exists", None),
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
                                  ":entry": [timeline_entry_item(entry)], ":g": withdrawal_status_partition(to.value)}
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
        timeline = [*(timeline_entry_item(e) for e in w.timeline), timeline_entry_item(entry)]
        updated = withdrawal_item(w) | fields | {"status": to.value, "version": w.version + 1, "timeline": timeline}
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
