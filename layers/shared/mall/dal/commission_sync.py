"""The writes and reads that keep an order's commission records in step with the order
(``mall.services.commissions``), and the reads of the commission views.

Items (docs/data-model.md, "commission"), all in the order's partition ``ORDER#<order_id>``:
- the records ``COMMISSION#<line_id>#<level>`` (``mall.dal.commissions``);
- the plan ``COMMISSION_PLAN``: written once, in the transaction that creates the records, with
  every level's decision (``earn`` / ``zero`` / ``inactive`` / ``disabled``). Its existence means
  "the commission of this order was decided": a later sync never creates records again, so a
  promoter frozen at payment and active later does not earn on that order, and rates read later
  never change an order's commission.

One consistent Query ``pk = ORDER#<id> AND begins_with(sk, "COMMISSION")`` returns the records,
the plan and the order's commission basis (``COMMISSION_BASIS``, taken at payment) together."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from mall.clock import iso
from mall.dal.commission_index import EVERYTHING, CommissionIndex, Where
from mall.dal.commissions import UNREAD_RECORD_ATTRIBUTES, commission_from_item, commission_item, due_index_fields
from mall.dal.keys import (
    BASIS_SK,
    PLAN_SK,
    commission_key,
    customer_profile_key,
    order_key,
    order_pk,
    plan_key,
)
from mall.dal.table import Item, Key, Page, Table, Write
from mall.domain.commission import LevelDecision
from mall.domain.commission_changes import RecordChange
from mall.domain.commission_records import CommissionRecord

_ORDER_SK = order_key("")["sk"]


def order_image(item: Item | None) -> Item | None:
    """``item`` when it is an order's own item, else None: the other items of an order's partition
    (its by-status entry, history, refunds, commission records) are not the order. What the order
    stream hands ``mall.domain.commission_changes.commission_trigger``."""
    return item if item is not None and item.get("sk") == _ORDER_SK else None


def _version(order: Item) -> int:
    value = order.get("version")
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def version_raised(old: Item | None, new: Item) -> bool:
    """Whether the write from ``old`` to ``new`` (the order's images; ``old`` None: the write created
    it) raised the order's ``version``. Only then does a read showing that version show this write:
    a write that left the version where it was has the same version as the image before it."""
    return old is None or _version(new) > _version(old)


def commission_message(new: Item, old: Item | None) -> dict[str, Any]:
    """What the order stream sends ``CommissionQueue`` for a change of an order from ``old`` to ``new``
    (its images): the order's id and, when the change raised the order's ``version``, that version
    (``read(at_least_version=…)``). A change that did not raise it names none, so the sync reads the
    order consistently: an eventually consistent read showing that version may be a replica from
    before the change, and a commission decided from it could miss a refund or the completion."""
    message: dict[str, Any] = {"order_id": str(new["order_id"])}
    if _version(new) and version_raised(old, new):
        message["version"] = _version(new)
    return message


@dataclass(frozen=True)
class OrderCommissions:
    """An order (its stored item) with its commission records and plan, as read together."""

    order: Item | None
    records: list[CommissionRecord] = field(default_factory=list)
    plan: Item | None = None
    basis: Item | None = None  # ``COMMISSION_BASIS`` (``mall.dal.payment_snapshot``): absent before it existed


def applied_record(record: CommissionRecord, change: RecordChange) -> CommissionRecord:
    """The record after ``change`` (what the conditional update writes)."""
    return replace(
        record,
        due_at=change.due_at or record.due_at,
        refunded_base_fen=record.refunded_base_fen if change.refunded_base_fen is None else change.refunded_base_fen,
        cancelled_fen=record.cancelled_fen + change.cancel_fen,
        clawed_back_fen=record.clawed_back_fen + change.claw_back_fen,
        status=change.status or record.status, version=record.version + 1,
    )


class CommissionSyncStore:
    def __init__(self, table: Table) -> None:
        self._table = table

    @property
    def table(self) -> Table:
        return self._table

    # ---- reads ----------------------------------------------------------------------------------

    def read(self, order_id: str, *, at_least_version: int | None = None) -> OrderCommissions:
        """The order (consistent ``GetItem``) and its records and plan (one consistent Query).

        ``at_least_version``: the order's ``version`` in the change that asked for this sync. The order
        is then read eventually consistent first (half the units) and kept when it shows that version
        or a later one: the message names a version only when the change raised it
        (``commission_message``), and an order's version never goes down, so such a read shows that
        change and everything before it, as a consistent read made after the change would. An older
        one (a replica behind the change) is read again, consistently."""
        if at_least_version is not None:
            order = self._table.get_showing(order_key(order_id), lambda item: _version(item) >= at_least_version)
        else:
            order = self._table.get(order_key(order_id), consistent=True)
        if order is None or order.get("entity", "order") != "order":
            return OrderCommissions(order=None)
        items: list[Item] = []
        start: Key | None = None
        while True:
            page = self._table.query_where("#pk = :pk AND begins_with(#sk, :sk)", names={"#pk": "pk", "#sk": "sk"},
                                           values={":pk": order_pk(order_id), ":sk": "COMMISSION"}, limit=None,
                                           start_key=start, consistent=True)
            items += page.items
            start = page.last_key
            if start is None:
                break
        records = [commission_from_item(i) for i in items if str(i["sk"]).startswith("COMMISSION#")]
        plan = next((i for i in items if i["sk"] == PLAN_SK), None)
        basis = next((i for i in items if i["sk"] == BASIS_SK), None)
        return OrderCommissions(order=order, records=records, plan=plan, basis=basis)

    @staticmethod
    def as_created(state: OrderCommissions, records: Sequence[CommissionRecord]) -> OrderCommissions:
        """What ``read`` returns once the creation of ``records`` (and the order's plan) committed,
        built from what that transaction wrote: the records in their stored form, read back as a
        Query would, and a plan (only its existence is looked at). The order is as read before."""
        order_id = str((state.order or {}).get("order_id", ""))
        return replace(state, records=[commission_from_item(commission_item(r)) for r in records],
                       plan={**plan_key(order_id), "entity": "commission_plan", "order_id": order_id})

    @staticmethod
    def as_changed(state: OrderCommissions, changed: Sequence[CommissionRecord]) -> OrderCommissions:
        """What ``read`` returns once the conditional updates that made ``changed`` (each from
        ``applied_record``) committed: the order and the other records as read before."""
        by_id = {r.commission_id: r for r in changed}
        return replace(state, records=[by_id.get(r.commission_id, r) for r in state.records])

    def for_beneficiary(self, user_id: str, *, status: str | None, limit: int, start_key: Key | None) -> Page:
        """A promoter's records, newest first (gsi1 ``COMMISSIONS#<uid>``, its shards merged);
        ``status`` is a filter, so a page may hold fewer than ``limit`` items (follow the last key)."""
        where = (Where(expression="#status = :status", names={"#status": "status"}, values={":status": status})
                 if status else EVERYTHING)
        return CommissionIndex(self._table).page(user_id, limit=limit, start_key=start_key, where=where)

    def nicknames(self, user_ids: Iterable[str]) -> dict[str, str | None]:
        """Customers' nicknames (``USER#<uid>/PROFILE``), for the masked buyer in commission views."""
        wanted = list(dict.fromkeys(user_ids))
        if not wanted:
            return {}
        found = self._table.batch_get([customer_profile_key(uid) for uid in wanted])
        return {str(item["pk"]).removeprefix("USER#"): item.get("nickname") for item in found}

    # ---- writes (the ``also`` of a ledger transaction) ---------------------------------------

    def plan_write(self, order_id: str, decisions: Sequence[LevelDecision], *, context: dict[str, Any],
                   now: datetime) -> Write:
        item: Item = {
            **plan_key(order_id), "entity": "commission_plan", "order_id": order_id, "decided_at": iso(now),
            **context,
            "levels": [{"line_id": d.line_id, "level": d.level, "beneficiary_id": d.beneficiary_id,
                        "outcome": d.outcome, "amount_fen": d.amount_fen} for d in decisions],
        }
        return Write.put(self._table.name, item, condition="attribute_not_exists(pk)")

    @staticmethod
    def combined(units: Sequence[Sequence[Write]]) -> list[Write] | None:
        """The writes of several orders' creations as one transaction's, or None when they cannot
        share one: a transaction may name an item once, so a write repeated identically (two orders of
        one promoter check the same risk hold) is kept once, and two different writes of one item
        (a hold read as open for one order and closed for the other) keep the orders apart."""
        seen: dict[tuple[str, str], Write] = {}
        out: list[Write] = []
        for unit in units:
            for write in unit:
                ((_, body),) = write.op.items()
                raw = body.get("Key") or {k: body["Item"][k] for k in ("pk", "sk")}
                target = (str(raw["pk"]), str(raw["sk"]))
                if target in seen:
                    if seen[target] != write:
                        return None
                    continue
                seen[target] = write
                out.append(write)
        return out

    def record_put(self, record: CommissionRecord) -> Write:
        return Write.put(self._table.name, commission_item(record), condition="attribute_not_exists(pk)")

    def record_change_write(self, record: CommissionRecord, change: RecordChange, *, now: datetime) -> Write:
        """The conditional update of ``change``: from exactly the state it was computed from
        (``version``, ``status``, ``refunded_base_fen``), so a redelivery or a concurrent sync
        applies it once; the due index entry follows the new state."""
        after = applied_record(record, change)
        entry: dict[str, Any] = {"at": iso(now)}
        sets = ["history = list_append(if_not_exists(history, :empty), :entry)"]
        values: dict[str, Any] = {":empty": [], ":one": 1, ":v": record.version,
                                  ":expected": record.status.value, ":old_refunded": record.refunded_base_fen}
        if change.due_at is not None:
            sets.append("due_at = :due")
            values[":due"] = iso(change.due_at)
            entry["due_at"] = iso(change.due_at)
        if change.refunded_base_fen is not None:
            sets += ["refunded_base_fen = :refunded", "cancelled_fen = :cancelled", "clawed_back_fen = :clawed"]
            values.update({":refunded": after.refunded_base_fen, ":cancelled": after.cancelled_fen,
                           ":clawed": after.clawed_back_fen})
            entry.update({"refunded_base_fen": after.refunded_base_fen, "cancelled_fen": change.cancel_fen,
                          "clawed_back_fen": change.claw_back_fen})
        if change.status is not None:
            sets.append("#status = :status")
            values[":status"] = change.status.value
            entry["status"] = change.status.value
        values[":entry"] = [entry]
        due = due_index_fields(after)
        removes = list(UNREAD_RECORD_ATTRIBUTES)
        if due:
            sets += ["gsi2pk = :g2pk", "gsi2sk = :g2sk"]
            values.update({":g2pk": due["gsi2pk"], ":g2sk": due["gsi2sk"]})
        else:  # not (or no longer) due for settlement: FROZEN without a due date, held, or done
            removes += ["gsi2pk", "gsi2sk"]
        update = f"SET {', '.join(sets)} REMOVE {', '.join(removes)} ADD version :one"
        return Write.update(
            self._table.name, commission_key(record.order_id, record.line_id, record.level), update,
            condition="version = :v AND #status = :expected AND " + (
                "(refunded_base_fen = :old_refunded OR attribute_not_exists(refunded_base_fen))"
                if record.refunded_base_fen == 0 else "refunded_base_fen = :old_refunded"),
            names={"#status": "status"}, values=values)
