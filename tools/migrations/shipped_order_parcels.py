"""Parcel items (``ORDER#<id>`` / ``PARCEL#00``, docs/shipping.md) for the orders shipped before
shipments were kept as parcels: their one parcel is the order's ``carrier`` + ``tracking_no``, the
carrier turned into WeChat's carrier id where it is one of the common carriers by id or name (else
kept as written). One transaction per order: the parcel put only if absent and ``parcel_count`` set
only while the order is SHIPPED without it, so running it again (or after the order moved on)
changes nothing."""

from __future__ import annotations

from mall.clock import utc_now
from mall.dal.keys import order_key
from mall.dal.order_items import order_from_item
from mall.dal.shipping import ShippingRepository
from mall.dal.table import Item, Table, TransactionCancelled, Write
from mall.domain.orders import OrderStatus
from mall.domain.shipping import Parcel
from mall.services.shipping import FALLBACK_CARRIERS, resolve_carrier
from tools.migrations import Migration

NAME = "shipped_order_parcels"


def apply(table: Table, item: Item, dry_run: bool) -> bool:
    if item.get("entity") != "order" or item.get("status") != OrderStatus.SHIPPED or "parcel_count" in item:
        return False
    order = order_from_item(item)
    if not order.carrier or not order.tracking_no:
        return False
    if dry_run:
        return True
    parcel = Parcel(order.order_id, 0, resolve_carrier(order.carrier, FALLBACK_CARRIERS), order.tracking_no,
                    tuple(line.line_id for line in order.lines if line.type == "physical"))
    try:
        table.transact([
            *ShippingRepository(table).parcel_writes([parcel], now=utc_now()),
            Write.update(table.name, order_key(order.order_id), "SET parcel_count = :one",
                         condition="#s = :shipped AND attribute_not_exists(parcel_count)", names={"#s": "status"},
                         values={":one": 1, ":shipped": OrderStatus.SHIPPED.value}),
        ])
    except TransactionCancelled:
        return False  # already done, or the order moved on meanwhile
    return True


MIGRATION = Migration(
    name=NAME,
    description="give each order shipped before parcels its one parcel item (PARCEL#00) and parcel_count",
    apply=apply,
    filter_expression="entity = :order AND #s = :shipped AND attribute_not_exists(parcel_count)",
    names={"#s": "status"},
    values={":order": "order", ":shipped": "SHIPPED"},
)
