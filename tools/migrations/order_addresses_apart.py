"""Orders' delivery addresses in an item apart (``ORDER#<id> / ADDRESS``, ``mall.dal.order_items``).

The order item is rewritten at every transition and each write is billed per started KB of the
whole item (twice in a transaction, again for its index entry); the address (encrypted name, phone
and street, fingerprints) is a third of a one-line order. Orders placed since the change keep it
apart; this moves the address of orders placed before, so their remaining transitions cost the
same. Until then they read as before (readers take the order's own address when it has one).

Idempotent: one transaction puts the address item (only if there is none) and removes the address
from the order only if it is still the one read; an order already moved no longer passes the scan
filter, one changed meanwhile (an erasure) is left for the next run."""

from __future__ import annotations

from mall.dal.keys import order_key
from mall.dal.order_items import address_item
from mall.dal.table import Item, Table, TransactionCancelled, Write
from tools.migrations import Migration

NAME = "order_addresses_apart"


def apply(table: Table, item: Item, dry_run: bool) -> bool:
    address = item.get("address")
    if item.get("entity") != "order" or item.get("sk") != "ORDER" or not isinstance(address, dict):
        return False
    if dry_run:
        return True
    order_id = str(item["order_id"])
    try:
        table.transact([
            Write.put(table.name, address_item(order_id, address, buyer_id=str(item.get("buyer_id") or ""),
                                               created_at=str(item.get("created_at") or "")),
                      condition="attribute_not_exists(pk)"),
            Write.update(table.name, order_key(order_id), "REMOVE #address", condition="#address = :read",
                         names={"#address": "address"}, values={":read": address}),
        ])
    except TransactionCancelled:
        return False  # moved or erased meanwhile: the next run reads it again
    return True


MIGRATION = Migration(
    name=NAME,
    description="move each order's delivery address into its own item (ORDER#<id> / ADDRESS)",
    apply=apply,
    filter_expression="entity = :order AND sk = :order_sk AND attribute_type(address, :map)",
    values={":order": "order", ":order_sk": "ORDER", ":map": "M"},
)
