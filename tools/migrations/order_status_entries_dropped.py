"""Delete the orders' ``STATUS`` entries (``ORDER#<id>`` / ``STATUS``, gsi1 ``ORDERS#<status>``): the
admin's by-status list and the orders export read the order items' own gsi3 entries, and the order
stream worker no longer keeps these (``ORDER_STATUS_LIST=index``). Run only after that deploy
(docs/runbook.md): a worker of an earlier stage would put them back.

Idempotent: a delete of an entry already gone changes nothing (conditional on it still being one)."""

from __future__ import annotations

from mall.dal.keys import STATUS_SK
from mall.dal.table import ConditionFailed, Item, Table, Write
from tools.migrations import Migration

NAME = "order_status_entries_dropped"
ENTITY = "order_status_index"


def apply(table: Table, item: Item, dry_run: bool) -> bool:
    if item.get("entity") != ENTITY or item.get("sk") != STATUS_SK:
        return False
    if dry_run:
        return True
    try:
        table.write_one(Write.delete(table.name, {"pk": str(item["pk"]), "sk": STATUS_SK},
                                     condition="entity = :entity", values={":entity": ENTITY}))
    except ConditionFailed:
        return False  # deleted already (a repeated page, a second run)
    return True


MIGRATION = Migration(
    name=NAME,
    description="delete the orders' STATUS entries once the by-status list reads gsi3 alone",
    apply=apply,
    filter_expression="entity = :entity AND sk = :status_sk",
    values={":entity": ENTITY, ":status_sk": STATUS_SK},
)
