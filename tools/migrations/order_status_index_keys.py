"""Every order item's own entry in the admin's by-status list: gsi3 ``ORDERS#<status>`` /
``<created_at>#<order_id>`` (``mall.dal.keys.order_status_index``).

Orders written since the release that adds gsi3 carry the keys (every write of the status sets
them); this sets them on the orders written before, and mends an order whose status the code
before changed during that deploy's rollover (its keys still name the older status). The admin's
list and the orders export switch to gsi3 only after it has finished (docs/runbook.md).

Idempotent: the update is conditional on the status read, so an order whose status changed
meanwhile (the new code sets its keys itself) is left alone; an order whose keys already match its
status is skipped without a write."""

from __future__ import annotations

from mall.dal.keys import order_key, order_status_index
from mall.dal.table import ConditionFailed, Item, Table
from tools.migrations import Migration

NAME = "order_status_index_keys"


def apply(table: Table, item: Item, dry_run: bool) -> bool:
    if item.get("entity") != "order" or item.get("sk") != "ORDER" or not item.get("status"):
        return False
    wanted = order_status_index(str(item["status"]), str(item.get("created_at") or ""), str(item["order_id"]))
    if all(item.get(name) == value for name, value in wanted.items()):
        return False
    if dry_run:
        return True
    try:
        table.update(order_key(str(item["order_id"])), "SET gsi3pk = :pk, gsi3sk = :sk",
                     condition="#status = :status", names={"#status": "status"},
                     values={":pk": wanted["gsi3pk"], ":sk": wanted["gsi3sk"], ":status": item["status"]})
    except ConditionFailed:
        return False  # its status changed meanwhile: the write that changed it set the keys
    return True


MIGRATION = Migration(
    name=NAME,
    description="set each order item's gsi3 keys (ORDERS#<status> / <created_at>#<order_id>): the by-status list",
    apply=apply,
    filter_expression="entity = :order AND sk = :order_sk",
    values={":order": "order", ":order_sk": "ORDER"},
)
