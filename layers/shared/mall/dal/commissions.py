"""Commission records in the single table.

Keys (docs/data-model.md, "commission"):
- record ``ORDER#<order_id>/COMMISSION#<line_id>#<level>``: next to its order, so one Query of
  ``ORDER#<id>`` returns the order, its history, refunds and commissions.
- gsi1 ``COMMISSIONS#<beneficiary>[#<shard>]`` / ``<created_at>#<commission_id>``: a promoter's
  commissions, in one of ``COMMISSION_INDEX_SHARDS`` partitions chosen by the commission id (shard 0
  has no suffix: records stored before sharding are there); ``mall.dal.commission_index`` reads them.
- gsi2 ``SETTLE_DUE#<shard 00-03>`` / ``<due_at>#<commission_id>``: the settlement due index,
  sparse: present only while the record is FROZEN, has a due date and is not held.

A record is rewritten at every change (due date, refund, settlement), and DynamoDB bills a write
per started KB of the whole item (twice inside a transaction, again per index entry). So the
stored record leaves out what its other attributes already say: in the rule snapshot the level,
base, quantity and cap amount of the record, the rates and flags at their usual value, the wanted
amount when nothing was capped; in the history the creation entry (status FROZEN, the amount, at
``created_at``); and the money taken back (``cancelled_fen``, ``clawed_back_fen``,
``refunded_base_fen``) while it is 0, which every reader takes as 0 when absent. No change writes
an ``updated_at`` (the history says when). ``commission_from_item`` puts them back, so the domain sees the whole record;
items stored whole before keep reading as they are (``tools/migrations/compact_commission_records``
rewrites them).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from mall.clock import iso, parse_instant
from mall.dal.commission_index import CommissionIndex
from mall.dal.keys import COMMISSION_PREFIX, commission_index_partition, commission_key, due_partition, order_pk
from mall.dal.table import Item, Key, Page, Table
from mall.domain.commission import cap_amount
from mall.domain.commission_records import CommissionRecord, CommissionStatus, settle_shard

#: Attributes records stored before carried and nothing reads (no view, export, audit, statistics or
#: settlement path): every change of a record removes them, so a record's later writes stay under 1 KB.
UNREAD_RECORD_ATTRIBUTES: tuple[str, ...] = ("updated_at",)

#: Rule snapshot values that are left out when stored: the ones most records carry.
_USUAL_RULE: dict[str, Any] = {"fixed_fen": 0, "level_points_bp": 0, "self_purchase": False, "basis": "binding",
                               "category_id": None}


def due_index_fields(record: CommissionRecord) -> dict[str, str]:
    """gsi2 attributes for a record that should be in the due index (empty if it should not)."""
    if record.status != CommissionStatus.FROZEN or record.due_at is None or record.hold:
        return {}
    return {"gsi2pk": due_partition(settle_shard(record.commission_id)),
            "gsi2sk": f"{iso(record.due_at)}#{record.commission_id}"}


def _dt(value: Any) -> datetime | None:
    return parse_instant(str(value)) if value else None


def _implied_rule(rule: Item, *, level: int, base_fen: int, quantity: int, amount_fen: int) -> Item:
    """The rule values the record's own fields (and the rule's other values) imply."""
    implied: Item = {**_USUAL_RULE, "level": level, "base_fen": base_fen, "quantity": quantity,
                     "wanted_fen": amount_fen}
    wanted = rule.get("wanted_fen", amount_fen)
    implied["capped"] = int(wanted) != amount_fen
    if rule.get("cap_bp") is not None and rule.get("base_fen", base_fen) is not None:
        implied["cap_fen"] = cap_amount(int(rule.get("base_fen", base_fen)), int(rule["cap_bp"]))
    return implied


def compact_rule(rule: Item, *, level: int, base_fen: int, quantity: int, amount_fen: int) -> Item:
    """The rule snapshot as stored: without the values ``expand_rule`` puts back."""
    implied = _implied_rule(rule, level=level, base_fen=base_fen, quantity=quantity, amount_fen=amount_fen)
    return {k: v for k, v in rule.items() if not (k in implied and _same(implied[k], v))}


def expand_rule(stored: Item, *, level: int, base_fen: int, quantity: int, amount_fen: int) -> Item:
    """The whole rule snapshot from its stored form (a whole one stays as it is)."""
    implied = _implied_rule(stored, level=level, base_fen=base_fen, quantity=quantity, amount_fen=amount_fen)
    return {**implied, **stored}


def _same(a: Any, b: Any) -> bool:
    # A bool is an int to Python (False == 0): a flag and a number are never the same value here.
    return type(a) is type(b) and a == b if isinstance(a, bool) or isinstance(b, bool) else bool(a == b)


def _is_creation_entry(entry: Any, *, created_at: str, amount_fen: int) -> bool:
    return (isinstance(entry, dict) and set(entry) == {"at", "status", "amount_fen"} and entry["at"] == created_at
            and entry["status"] == CommissionStatus.FROZEN.value and _same(int(entry["amount_fen"]), amount_fen))


def commission_item(record: CommissionRecord) -> Item:
    item: Item = {
        **commission_key(record.order_id, record.line_id, record.level), "entity": "commission",
        "commission_id": record.commission_id, "order_id": record.order_id, "line_id": record.line_id,
        "level": record.level, "beneficiary_id": record.beneficiary_id, "buyer_id": record.buyer_id,
        "product_id": record.product_id, "product_name": record.product_name, "quantity": record.quantity,
        "base_fen": record.base_fen, "amount_fen": record.amount_fen, "status": record.status.value,
        "rule": compact_rule(record.rule, level=record.level, base_fen=record.base_fen, quantity=record.quantity,
                             amount_fen=record.amount_fen),
        "created_at": iso(record.created_at),
        **{name: value for name, value in (("cancelled_fen", record.cancelled_fen),
                                           ("clawed_back_fen", record.clawed_back_fen),
                                           ("refunded_base_fen", record.refunded_base_fen)) if value},
        "due_at": iso(record.due_at) if record.due_at else None,
        "settled_at": iso(record.settled_at) if record.settled_at else None, "hold": record.hold,
        "version": record.version, "history": compact_history(record.history, created_at=iso(record.created_at),
                                                              amount_fen=record.amount_fen),
        "gsi1pk": commission_index_partition(record.beneficiary_id, record.commission_id),
        "gsi1sk": f"{iso(record.created_at)}#{record.commission_id}",
        **due_index_fields(record),
        "share_channel": record.share_channel,
    }
    return {k: v for k, v in item.items() if v is not None}


def compact_history(history: list[dict[str, Any]], *, created_at: str, amount_fen: int) -> list[dict[str, Any]]:
    """The history as stored: without its creation entry (``expand_history`` puts it back)."""
    if history and _is_creation_entry(history[0], created_at=created_at, amount_fen=amount_fen):
        return list(history[1:])
    return list(history)


def expand_history(stored: list[Any], *, created_at: str, amount_fen: int) -> list[dict[str, Any]]:
    """The whole history: the creation entry first (a history stored whole stays as it is)."""
    if stored and _is_creation_entry(stored[0], created_at=created_at, amount_fen=amount_fen):
        return list(stored)
    return [{"at": created_at, "status": CommissionStatus.FROZEN.value, "amount_fen": amount_fen}, *stored]


def compacted(item: Item) -> dict[str, Any]:
    """The stored forms of a record's rule and history that ``commission_item`` writes today;
    equal to the item's own when it is stored compact already."""
    again = commission_item(commission_from_item(item))
    return {"rule": again["rule"], "history": again["history"]}


def commission_from_item(item: Item) -> CommissionRecord:
    created = parse_instant(str(item["created_at"]))
    level, base, quantity, amount = int(item["level"]), int(item["base_fen"]), int(item["quantity"]), \
        int(item["amount_fen"])
    return CommissionRecord(
        commission_id=str(item["commission_id"]), order_id=str(item["order_id"]), line_id=str(item["line_id"]),
        level=cast(Any, int(item["level"])), beneficiary_id=str(item["beneficiary_id"]),
        buyer_id=str(item["buyer_id"]), product_id=str(item["product_id"]),
        product_name=str(item.get("product_name", "")), quantity=int(item["quantity"]),
        base_fen=int(item["base_fen"]), amount_fen=int(item["amount_fen"]),
        status=CommissionStatus(item["status"]),
        rule=expand_rule(dict(item.get("rule") or {}), level=level, base_fen=base, quantity=quantity,
                         amount_fen=amount),
        created_at=created,
        cancelled_fen=int(item.get("cancelled_fen", 0)), clawed_back_fen=int(item.get("clawed_back_fen", 0)),
        refunded_base_fen=int(item.get("refunded_base_fen", 0)), due_at=_dt(item.get("due_at")),
        settled_at=_dt(item.get("settled_at")), hold=item.get("hold"), version=int(item.get("version", 1)),
        history=expand_history(list(item.get("history") or []), created_at=iso(created), amount_fen=amount),
        share_channel=str(item["share_channel"]) if item.get("share_channel") else None,
    )


class CommissionRepository:
    """Reads of commission records. Writes go through the services' units of work, together
    with their ledger postings (``mall.dal.ledger.LedgerRepository.post``)."""

    def __init__(self, table: Table) -> None:
        self._table = table

    @property
    def table(self) -> Table:
        return self._table

    def get(self, order_id: str, line_id: str, level: int, *, consistent: bool = True) -> CommissionRecord | None:
        item = self._table.get(commission_key(order_id, line_id, level), consistent=consistent)
        return commission_from_item(item) if item else None

    def for_order(self, order_id: str) -> list[CommissionRecord]:
        page = self._table.query_where("#pk = :pk AND begins_with(#sk, :sk)", names={"#pk": "pk", "#sk": "sk"},
                                       values={":pk": order_pk(order_id), ":sk": COMMISSION_PREFIX}, limit=None,
                                       consistent=True)
        return [commission_from_item(i) for i in page.items]

    def for_beneficiary(self, user_id: str, *, limit: int, start_key: Key | None) -> Page:
        """A promoter's commission records, newest first (items, not yet mapped; the index shards merged)."""
        return CommissionIndex(self._table).page(user_id, limit=limit, start_key=start_key)
