"""The history entries an order implies (``mall.dal.order_items.implied_history``: its placing, its expiry,
its payment when its mark is ``PAID_IMPLIED``, and its receipt when the buyer or WeChat confirmed it)
written back as ``HISTORY#<at>#<status>`` items.

Not needed going forward: the order detail reads implied entries from the order itself. Run it only
before rolling the code back below the release that stopped storing them (docs/runbook.md), so the
older code, which reads only the items, shows the same history. The order keeps its mark: the
current code counts an entry that is both implied and stored once.

Run it while every function stores every entry (``ORDER_HISTORY_STORED`` = 1), so no order gets an
implied entry after its turn. Idempotent: each put is conditional on the entry not existing; an order
whose entries are all stored is skipped without a write; a run stopped midway resumes where it stopped
(``tools.migrations``), and one run before (another rollback) needs ``--restart``."""

from __future__ import annotations

from mall.dal.keys import order_history_sk, order_pk
from mall.dal.order_items import IMPLIED_HISTORY, history_item, implied_history
from mall.dal.table import ConditionFailed, Item, Table
from tools.migrations import Migration

NAME = "order_history_entries_stored"


def apply(table: Table, item: Item, dry_run: bool) -> bool:
    if item.get("entity") != "order" or item.get("sk") != "ORDER" or not item.get(IMPLIED_HISTORY):
        return False
    order_id = str(item["order_id"])
    changed = False
    for entry in implied_history(item):
        key = {"pk": order_pk(order_id), "sk": order_history_sk(entry.at, entry.status)}
        if table.get(key, consistent=True) is not None:
            continue
        changed = True
        if dry_run:
            continue
        try:
            table.put(history_item(order_id, entry.status, at=entry.at, by=entry.by, note=entry.note),
                      condition="attribute_not_exists(pk)")
        except ConditionFailed:
            continue  # another run wrote it meanwhile
    return changed


MIGRATION = Migration(
    name=NAME,
    description="write the history entries orders imply (placing, expiry, payment, the buyer's or WeChat's "
                "receipt) as items: only before rolling the code back below the release that stopped storing them",
    apply=apply,
    filter_expression="entity = :order AND sk = :order_sk AND attribute_exists(#implied)",
    names={"#implied": IMPLIED_HISTORY},
    values={":order": "order", ":order_sk": "ORDER"},
)
