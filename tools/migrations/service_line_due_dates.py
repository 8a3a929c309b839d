"""Service lines of mixed orders wait for their 核销.

Before each order line settled on its own completion, every commission record of a completed order
got ``due_at = completed_at + N``: in an order mixing physical and service lines, the receipt of the
parcel also made the service lines' commission due, though the service had not been used (mixed
orders could not even be verified). This takes the due date (and the settlement due index entry)
off every still-FROZEN record of such a service line whose line is not verified
(``mall.domain.settlement.line_completed_at`` is None); the commission sync gives it back,
``service_verified_at`` + N, when the admin verifies the order's code.

Idempotent: each write is conditional on the record still being FROZEN, at the version read, with
its due date; a record already changed is left alone (it no longer passes the scan filter)."""

from __future__ import annotations

from mall.clock import iso, utc_now
from mall.dal.keys import order_key
from mall.dal.table import ConditionFailed, Item, Table
from mall.domain.commission_records import CommissionStatus
from mall.domain.settlement import line_completed_at
from tools.migrations import Migration

NAME = "service_line_due_dates"


def _waits_for_verification(order: Item | None, line_id: str) -> bool:
    if order is None:
        return False
    lines = order.get("lines") or []
    line = next((raw for raw in lines if str(raw.get("line_id")) == line_id), None)
    mixed = any(raw.get("type") == "physical" for raw in lines)
    return (line is not None and line.get("type") == "service" and mixed
            and line_completed_at(order, line_id) is None)


def apply(table: Table, item: Item, dry_run: bool) -> bool:
    if item.get("entity") != "commission" or item.get("status") != CommissionStatus.FROZEN.value:
        return False
    if not item.get("due_at"):
        return False
    order = table.get(order_key(str(item["order_id"])), consistent=True)
    if not _waits_for_verification(order, str(item["line_id"])):
        return False
    if dry_run:
        return True
    now = iso(utc_now())
    try:
        table.update({"pk": item["pk"], "sk": item["sk"]},
                     "SET updated_at = :now, #version = #version + :one, "
                     "history = list_append(if_not_exists(history, :empty), :entry) REMOVE due_at, gsi2pk, gsi2sk",
                     condition="#status = :frozen AND #version = :v AND attribute_exists(due_at)",
                     names={"#status": "status", "#version": "version"},
                     values={":now": now, ":one": 1, ":empty": [], ":frozen": CommissionStatus.FROZEN.value,
                             ":v": int(item.get("version", 1)),
                             ":entry": [{"at": now, "due_at": None, "reason": "waits for the service's 核销"}]})
    except ConditionFailed:
        return False  # settled, cancelled or changed meanwhile: the next scan decides again
    return True


MIGRATION = Migration(
    name=NAME,
    description="take the due date off unsettled commission of mixed orders' service lines not yet verified (核销)",
    apply=apply,
    filter_expression="entity = :commission AND #status = :frozen AND attribute_exists(due_at)",
    names={"#status": "status"},
    values={":commission": "commission", ":frozen": CommissionStatus.FROZEN.value},
)
