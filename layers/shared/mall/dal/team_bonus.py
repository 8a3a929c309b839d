"""Team bonus (团队分红) in the single table (docs/data-model.md, "team bonus and exports").

- bonus record ``BONUSES#<yyyy-mm>`` / ``USER#<uid>``: deterministic per promoter per month, put with
  ``attribute_not_exists`` in ONE ledger transaction with its ``bonus_frozen`` posting (id
  ``<bonus_id>.frozen``), so a second or overlapping run can only fail its condition and pay nothing.
  One partition per month: the admin's list of a month is one Query.
- gsi1 ``PROMOTER_BONUSES#<uid>`` / ``<yyyy-mm>#<bonus_id>``: a promoter's bonuses, newest first.
- gsi2 ``SETTLE_DUE#<shard>`` / ``<due_at>#<bonus_id>``: the settlement due index shared with commission
  records (sparse: only while FROZEN with a due date), so the settlement planner and workers settle
  bonuses with commissions (``mall.dal.settlement``).

Team orders (the month index of the money records): ``TEAM_ORDERS#<yyyy-mm>#<shard 00-15>`` /
``USER#<uid>#ORDER#<order_id>``, one per promoter per order paid in that China month on which the
promoter earns level-1 or level-2 commission (not their own purchase), with ``commission_sks`` (a string
set of the sort keys of those commission records, in ``ORDER#<order_id>``). Written in the transaction
that creates the commission records (``team_order_writes``); never changed afterwards (refunds and
settlement change the records, which are read through it). One Query per shard lists a month's
promoters; one Query (``begins_with USER#<uid>#``) lists one promoter's orders of the month; one
BatchGetItem per 100 records reads them (consistent).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mall.clock import iso, parse_instant
from mall.dal.commissions import commission_from_item
from mall.dal.keys import (
    bonus_key,
    bonus_month_partition,
    bonus_promoter_partition,
    commission_sk,
    due_partition,
    order_pk,
    promoter_key,
    team_order_key,
    team_orders_partition,
)
from mall.dal.ledger import LedgerRefused, LedgerRepository
from mall.dal.table import Item, Key, Page, Table, Write
from mall.domain.commission_records import CommissionRecord, CommissionStatus, settle_shard
from mall.domain.ledger import commission_frozen
from mall.domain.team_bonus import BonusRecord, china_month, counts_for_team


def team_order_item(promoter_id: str, month: str, order_id: str, paid_at: datetime, sort_keys: Iterable[str]) -> Item:
    return {**team_order_key(promoter_id, month, order_id), "entity": "team_order", "promoter_id": promoter_id,
            "month": month, "order_id": order_id, "paid_at": iso(paid_at), "commission_sks": set(sort_keys)}


def team_order_writes(table_name: str, records: Sequence[CommissionRecord], *, paid_at: datetime) -> list[Write]:
    """The team order items of a paid order's new commission records (one per promoter who earns on
    it at level 1 or 2, not on their own purchase), for the transaction that creates the records."""
    by_promoter: dict[str, list[CommissionRecord]] = {}
    for record in records:
        if counts_for_team(record):
            by_promoter.setdefault(record.beneficiary_id, []).append(record)
    month = china_month(paid_at)
    return [Write.put(table_name, team_order_item(uid, month, mine[0].order_id, paid_at,
                                                  (commission_sk(r.line_id, r.level) for r in mine)))
            for uid, mine in sorted(by_promoter.items())]


def _dt(value: Any) -> datetime | None:
    return parse_instant(str(value)) if value else None


def due_index_fields(record: BonusRecord) -> dict[str, str]:
    if record.status != CommissionStatus.FROZEN or record.due_at is None or record.hold:
        return {}
    return {"gsi2pk": due_partition(settle_shard(record.bonus_id)),
            "gsi2sk": f"{iso(record.due_at)}#{record.bonus_id}"}


def bonus_item(record: BonusRecord) -> Item:
    item: Item = {
        **bonus_key(record.beneficiary_id, record.month), "entity": "bonus", "bonus_id": record.bonus_id,
        "beneficiary_id": record.beneficiary_id, "promoter_id": record.beneficiary_id, "month": record.month,
        "team_sales_fen": record.team_sales_fen, "amount_fen": record.amount_fen, "status": record.status.value,
        "rule": record.rule, "created_at": iso(record.created_at), "cancelled_fen": record.cancelled_fen,
        "clawed_back_fen": record.clawed_back_fen,
        "due_at": iso(record.due_at) if record.due_at else None,
        "settled_at": iso(record.settled_at) if record.settled_at else None, "hold": record.hold,
        "version": record.version, "history": record.history,
        "gsi1pk": bonus_promoter_partition(record.beneficiary_id), "gsi1sk": f"{record.month}#{record.bonus_id}",
        **due_index_fields(record),
    }
    return {k: v for k, v in item.items() if v is not None}


def bonus_from_item(item: Item) -> BonusRecord:
    created = _dt(item["created_at"])
    assert created is not None  # noqa: S101 - a stored record always has it
    return BonusRecord(
        bonus_id=str(item["bonus_id"]), beneficiary_id=str(item["beneficiary_id"]), month=str(item["month"]),
        team_sales_fen=int(item["team_sales_fen"]), amount_fen=int(item["amount_fen"]),
        status=CommissionStatus(item["status"]), rule=dict(item.get("rule") or {}), created_at=created,
        due_at=_dt(item.get("due_at")), cancelled_fen=int(item.get("cancelled_fen", 0)),
        settled_at=_dt(item.get("settled_at")), clawed_back_fen=int(item.get("clawed_back_fen", 0)),
        hold=item.get("hold"), version=int(item.get("version", 1)), history=list(item.get("history") or []))


@dataclass
class TeamOrders:
    """One promoter's team order items of one month (their commission records' keys)."""

    promoter_id: str
    month: str
    record_keys: list[Key] = field(default_factory=list)


def _record_keys(item: Item) -> list[Key]:
    return [{"pk": order_pk(item["order_id"]), "sk": str(sk)} for sk in sorted(item.get("commission_sks") or ())]


class BonusRepository:
    def __init__(self, table: Table) -> None:
        self._table = table
        self._ledger = LedgerRepository(table)

    @property
    def table(self) -> Table:
        return self._table

    # ---- team orders (the month index of the commission records) ------------------------------

    def team_order_pages(self, month: str, shard: int, *, page_size: int = 500) -> Iterator[list[TeamOrders]]:
        """Every promoter with team orders in one shard of ``month``, a page at a time (one Query per
        page). A promoter whose items straddle two pages is yielded once, whole, with the later page."""
        start: Key | None = None
        pending: TeamOrders | None = None
        while True:
            page = self._prefix(team_orders_partition(month, shard), "USER#", limit=page_size, start=start)
            done: list[TeamOrders] = []
            for item in page.items:
                uid = str(item["promoter_id"])
                if pending is None or pending.promoter_id != uid:
                    if pending is not None:
                        done.append(pending)
                    pending = TeamOrders(promoter_id=uid, month=month)
                pending.record_keys += _record_keys(item)
            if page.last_key is None:
                yield [*done, *([pending] if pending is not None else [])]
                return
            yield done
            start = page.last_key

    def team_orders(self, promoter_id: str, month: str) -> TeamOrders:
        """One promoter's team orders of ``month`` (consistent Query of their prefix, every page)."""
        found = TeamOrders(promoter_id=promoter_id, month=month)
        key = team_order_key(promoter_id, month, "")
        start: Key | None = None
        while True:
            page = self._prefix(str(key["pk"]), str(key["sk"]), limit=500, start=start)
            for item in page.items:
                found.record_keys += _record_keys(item)
            if page.last_key is None:
                return found
            start = page.last_key

    def _prefix(self, partition: str, prefix: str, *, limit: int, start: Key | None) -> Page:
        return self._table.query_where("#pk = :pk AND begins_with(#sk, :sk)", names={"#pk": "pk", "#sk": "sk"},
                                       values={":pk": partition, ":sk": prefix}, limit=limit, start_key=start,
                                       consistent=True)

    def team_order_writes(self, records: Sequence[CommissionRecord], *, paid_at: datetime) -> list[Write]:
        """``team_order_writes`` in this table: the ``also`` of the transaction creating the records."""
        return team_order_writes(self._table.name, records, paid_at=paid_at)

    def records(self, keys: Sequence[Key]) -> list[CommissionRecord]:
        """The commission records named by ``keys`` (consistent BatchGetItem, 100 at a time)."""
        out: list[CommissionRecord] = []
        for index in range(0, len(keys), 100):
            out += [commission_from_item(i) for i in self._table.batch_get(list(keys[index:index + 100]),
                                                                           consistent=True)]
        return out

    # ---- reads ----------------------------------------------------------------------------------

    def get(self, promoter_id: str, month: str, *, consistent: bool = True) -> BonusRecord | None:
        item = self._table.get(bonus_key(promoter_id, month), consistent=consistent)
        return bonus_from_item(item) if item else None

    def existing(self, promoter_ids: Iterable[str], month: str) -> set[str]:
        """The promoters among ``promoter_ids`` that already have a bonus record for ``month``."""
        keys = [bonus_key(uid, month) for uid in dict.fromkeys(promoter_ids)]
        if not keys:
            return set()
        return {str(item["beneficiary_id"]) for item in self._table.batch_get(keys, consistent=True)}

    def for_promoter(self, promoter_id: str, *, limit: int, start_key: Key | None) -> Page:
        """A promoter's bonus records, newest month first (items)."""
        return self._table.query(partition=("gsi1pk", bonus_promoter_partition(promoter_id)), index="gsi1", limit=limit,
                                 start_key=start_key, newest_first=True)

    def frozen_for_promoter(self, promoter_id: str, *, page_size: int) -> Iterator[BonusRecord]:
        """The promoter's FROZEN (unsettled) bonus records, newest month first, every page."""
        start: Key | None = None
        while True:
            page = self.for_promoter(promoter_id, limit=page_size, start_key=start)
            for item in page.items:
                if item.get("status") == CommissionStatus.FROZEN.value:
                    yield bonus_from_item(item)
            start = page.last_key
            if start is None:
                return

    def promoter_statuses(self, promoter_ids: Sequence[str]) -> dict[str, str]:
        """The promoters' statuses (one consistent BatchGetItem; a promoter with no item is left out)."""
        if not promoter_ids:
            return {}
        items = self._table.batch_get([promoter_key(uid) for uid in promoter_ids], consistent=True)
        return {str(item["user_id"]): str(item.get("status", "")) for item in items}

    def for_month(self, month: str, *, limit: int, start_key: Key | None) -> Page:
        """One month's bonus records, in promoter id order (items)."""
        return self._table.query(partition=("pk", bonus_month_partition(month)), sort_prefix=("sk", "USER#"),
                                 limit=limit, start_key=start_key)

    # ---- the unit of work -----------------------------------------------------------------------

    def create(self, record: BonusRecord, *, now: datetime, also: Sequence[Write] = ()) -> bool:
        """Put the record and its ``bonus_frozen`` posting (merchant → frozen) in one transaction.
        False when the record (or its posting) already exists: another run paid it."""
        posting = commission_frozen(promoter_id=record.beneficiary_id, commission_id=record.bonus_id,
                                    amount_fen=record.amount_fen, at=record.created_at,
                                    ref={"bonus_id": record.bonus_id, "month": record.month}, bonus=True)
        put = Write.put(self._table.name, bonus_item(record), condition="attribute_not_exists(pk)")
        try:
            self._ledger.post([posting], also=[put, *also], now=now)
        except LedgerRefused as refused:
            if refused.any("also:0") or refused.any("posting:"):
                return False
            raise
        return True

    def void_write(self, record: BonusRecord, *, case_id: str, now: datetime) -> Write:
        """FROZEN → CANCELLED for a confirmed risk case, from the version read, out of the due index:
        the ``also`` of the transaction posting its ``commission_voided`` reversal."""
        return Write.update(
            self._table.name, bonus_key(record.beneficiary_id, record.month),
            "SET #status = :cancelled, cancelled_fen = :all, updated_at = :now, #version = #version + :one, "
            "history = list_append(history, :entry) REMOVE gsi2pk, gsi2sk",
            condition="#status = :frozen AND #version = :v",
            names={"#status": "status", "#version": "version"},
            values={":cancelled": CommissionStatus.CANCELLED.value, ":frozen": CommissionStatus.FROZEN.value,
                    ":all": record.amount_fen, ":now": iso(now), ":one": 1, ":v": record.version,
                    ":entry": [{"at": iso(now), "status": CommissionStatus.CANCELLED.value, "case_id": case_id}]})

    def reduction_write(self, record: BonusRecord, take_fen: int, *, team_sales_fen: int, now: datetime) -> Write:
        """Take ``take_fen`` off a paid bonus, conditional on the version and status it was computed from:
        cancelled before settlement (CANCELLED, out of the due index, when nothing is left), clawed back
        after. Goes in the transaction of the posting that moves the money."""
        settled = record.status == CommissionStatus.SETTLED
        field_name = "clawed_back_fen" if settled else "cancelled_fen"
        left = record.current_fen - take_fen
        sets = [f"{field_name} = if_not_exists({field_name}, :zero) + :take", "team_sales_fen = :sales",
                "updated_at = :now", "#version = #version + :one", "history = list_append(history, :entry)"]
        entry: dict[str, Any] = {"at": iso(now), "team_sales_fen": team_sales_fen, field_name: take_fen,
                                 "revision": record.version}
        values: dict[str, Any] = {":zero": 0, ":take": take_fen, ":sales": team_sales_fen, ":now": iso(now),
                                  ":one": 1, ":v": record.version, ":expected": record.status.value}
        update = "SET " + ", ".join(sets)
        if not settled and left == 0:
            update = update.replace("SET ", "SET #status = :cancelled, ", 1) + " REMOVE gsi2pk, gsi2sk"
            values[":cancelled"] = CommissionStatus.CANCELLED.value
            entry["status"] = CommissionStatus.CANCELLED.value
        values[":entry"] = [entry]
        return Write.update(self._table.name, bonus_key(record.beneficiary_id, record.month), update,
                            condition="#status = :expected AND #version = :v",
                            names={"#status": "status", "#version": "version"}, values=values)
