"""Every order item's own entry in the admin's by-status list: gsi3 ``ORDERS#<status>`` (``gsi3pk``,
``mall.dal.keys.order_status_index``) / the order's ``gsi1sk``, ``<created_at>#<order_id>`` (set
when it was placed; set here too on an order that lacks it).

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
    order_id = str(item["order_id"])
    partition = order_status_index(str(item["status"]))["gsi3pk"]
    if item.get("gsi3pk") == partition and item.get("gsi1sk"):
        return False
    if dry_run:
        return True
    try:
        table.update(order_key(order_id), "SET gsi3pk = :pk, gsi1sk = if_not_exists(gsi1sk, :sk)",
                     condition="#status = :status", names={"#status": "status"},
                     values={":pk": partition, ":sk": f"{item.get('created_at') or ''}#{order_id}",
                             ":status": item["status"]})
    except ConditionFailed:
        return False  # its status changed meanwhile: the write that changed it set the keys
    return True


MIGRATION = Migration(
    name=NAME,
    description="set each order item's gsi3 key (ORDERS#<status>; sorted on its gsi1sk): the by-status list",
    apply=apply,
    filter_expression="entity = :order AND sk = :order_sk",
    values={":order": "order", ":order_sk": "ORDER"},
)
