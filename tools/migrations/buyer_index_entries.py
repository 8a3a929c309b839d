"""Give orders' address items and logged-in visitors' share visits their gsi1 ``BUYER#<uid>`` entry.

The erasure request reads a customer's orders, the orders' addresses and the share visits they made
in ONE Query of gsi1 ``BUYER#<uid>`` (``mall.dal.erasure.ErasureRepository.buyer_records``). Address
items and visits written since carry the entry (``mall.dal.order_items.address_index``,
``mall.dal.referral.visitor_index``); this adds it to those written before:

- an ``order_address`` item gets ``BUYER#<buyer>`` / ``!ADDRESS#<created_at>#<order_id>`` from its
  order (one GetItem);
- a ``share_visit`` with a ``visitor_id`` gets ``BUYER#<visitor>`` / ``!VISIT#<at>#<visit_id>``; its
  old gsi2 ``VISITOR#`` entry stays (nothing reads it any more; harmless).

Idempotent: each write is conditional on the item having no gsi1 entry yet, and an item that has one
no longer passes the scan filter. Safe before the deploy (the old code never reads these entries)
and while traffic runs."""

from __future__ import annotations

from mall.dal.keys import buyer_partition, buyer_visit_sort_key, order_key
from mall.dal.order_items import address_index
from mall.dal.table import ConditionFailed, Item, Table, key_of
from tools.migrations import Migration

NAME = "buyer_index_entries"


def _entry(table: Table, item: Item) -> dict[str, str] | None:
    if item.get("entity") == "order_address":
        order = table.get(order_key(str(item["order_id"])), consistent=True)
        if not order or not order.get("buyer_id") or not order.get("created_at"):
            return None
        return address_index(str(item["order_id"]), buyer_id=str(order["buyer_id"]),
                             created_at=str(order["created_at"]))
    if item.get("entity") == "share_visit" and item.get("visitor_id") and item.get("at"):
        # What ``mall.dal.referral.visitor_index`` writes for a new visit, from the stored ``at``.
        return {"gsi1pk": buyer_partition(str(item["visitor_id"])),
                "gsi1sk": buyer_visit_sort_key(str(item["at"]), str(item["visit_id"]))}
    return None


def apply(table: Table, item: Item, dry_run: bool) -> bool:
    if item.get("gsi1pk"):
        return False
    entry = _entry(table, item)
    if entry is None:
        return False
    if dry_run:
        return True
    try:
        table.update(key_of(item), "SET gsi1pk = :pk, gsi1sk = :sk",
                     condition="attribute_exists(pk) AND attribute_not_exists(gsi1pk)",
                     values={":pk": entry["gsi1pk"], ":sk": entry["gsi1sk"]})
    except ConditionFailed:
        return False  # indexed (or gone) meanwhile
    return True


MIGRATION = Migration(
    name=NAME,
    description="index orders' address items and logged-in visitors' share visits under gsi1 BUYER#<uid>",
    apply=apply,
    filter_expression="attribute_not_exists(gsi1pk) AND (entity = :address OR "
                      "(entity = :visit AND attribute_exists(visitor_id)))",
    values={":address": "order_address", ":visit": "share_visit"},
)
