"""Unpaid and auto-confirm entries on the order item itself (sparse gsi2, ``mall.dal.orders``,
``mall.dal.fulfilment``) instead of the items ``UNPAID#<id> / UNPAID`` and ``ORDER#<id> / AUTOCONFIRM``.

Orders placed or shipped since the change carry their entry; the expiry, reconciliation and
auto-confirm schedules read only gsi2, so an order placed (or shipped) before it is found only once
this has moved its entry. Each marker item is handled on its own: when its order is still in the
marker's status (CREATED for an unpaid marker, SHIPPED for an auto-confirm entry) and has no gsi2
entry yet, one transaction sets the order's gsi2 keys (only if it is still so) and deletes the
marker; otherwise the marker is stale (or already carried by the order) and is deleted. Running it
again finds no marker."""

from __future__ import annotations

from mall.dal.keys import AUTO_CONFIRM_PARTITION, UNPAID_INDEX, order_key
from mall.dal.table import Item, Table, TransactionCancelled, Write, key_of
from mall.domain.orders import OrderStatus
from tools.migrations import Migration

NAME = "order_index_markers"

#: entity of the marker item -> (the order's status it stands for, gsi2 partition, the marker's time attribute)
_KINDS = {
    "unpaid_order": (OrderStatus.CREATED, UNPAID_INDEX, "expires_at_order"),
    "order_auto_confirm": (OrderStatus.SHIPPED, AUTO_CONFIRM_PARTITION, "shipped_at"),
}


def apply(table: Table, item: Item, dry_run: bool) -> bool:
    kind = _KINDS.get(str(item.get("entity", "")))
    if kind is None or not item.get("order_id"):
        return False
    if dry_run:
        return True
    status, partition, at_attribute = kind
    order_id = str(item["order_id"])
    marker = Write.delete(table.name, key_of(item), condition="attribute_exists(pk)")
    order = table.get(order_key(order_id), consistent=True)
    try:
        if order is not None and order.get("status") == status.value and not order.get("gsi2pk"):
            at = str(item.get(at_attribute) or order.get(at_attribute) or "")
            table.transact([
                Write.update(table.name, order_key(order_id), "SET gsi2pk = :pk, gsi2sk = :sk",
                             condition="#s = :status AND attribute_not_exists(gsi2pk)", names={"#s": "status"},
                             values={":pk": partition, ":sk": f"{at}#{order_id}", ":status": status.value}),
                marker,
            ])
        else:
            table.transact([marker])
    except TransactionCancelled:
        return False  # moved on meanwhile (or already done): the next run reads the marker again
    return True


MIGRATION = Migration(
    name=NAME,
    description="move each unpaid marker and auto-confirm entry onto its order item (sparse gsi2)",
    apply=apply,
    filter_expression="entity IN (:unpaid, :auto_confirm)",
    values={":unpaid": "unpaid_order", ":auto_confirm": "order_auto_confirm"},
)
