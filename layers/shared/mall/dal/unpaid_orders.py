"""Where the expiry and reconciliation schedules find unpaid orders (docs/data-model.md, O3): the order
items themselves, in the by-status list's gsi3 ``ORDERS#CREATED`` sorted by creation, or, at the deploy
stage before the gsi3 backfill (``ORDER_STATUS_LIST=entries``), in their sparse gsi2 partition
``UNPAID_ORDERS`` sorted by expiry. ``mall.dal.orders.OrderRepository.unpaid_due`` reads them."""

from __future__ import annotations

from datetime import datetime

from mall.clock import iso, parse_instant
from mall.dal.keys import UNPAID_INDEX, order_status_partition
from mall.dal.order_items import UnpaidMarker
from mall.dal.table import Key, Table
from mall.domain.orders import OrderStatus


def unpaid_markers(table: Table, *, from_status_list: bool, placed_until: datetime, expiring_until: datetime,
                   limit: int) -> list[UnpaidMarker]:
    """Unpaid orders, oldest first, at most ``limit``: from the by-status list those placed at or before
    ``placed_until`` (gsi3's projection carries no ``expires_at_order``: the caller decides on the order
    it reads); from the gsi2 entries those whose ``expires_at_order`` is at or before ``expiring_until``.
    An order leaves either when it leaves CREATED, in that same write."""
    if from_status_list:
        names, index = {"#pk": "gsi3pk", "#sk": "gsi1sk"}, "gsi3"
        values = {":pk": order_status_partition(OrderStatus.CREATED), ":upper": iso(placed_until) + "~"}
    else:
        names, index = {"#pk": "gsi2pk", "#sk": "gsi2sk"}, "gsi2"
        values = {":pk": UNPAID_INDEX, ":upper": iso(expiring_until) + "~"}
    markers: list[UnpaidMarker] = []
    start: Key | None = None
    while len(markers) < limit:
        page = table.query_where("#pk = :pk AND #sk < :upper", names=names, values=values, index=index,
                                 limit=min(limit - len(markers), 100), start_key=start)
        for item in page.items:
            expires = item.get("expires_at_order")
            markers.append(UnpaidMarker(str(item["order_id"]), str(item["buyer_id"]),
                                        parse_instant(str(item["created_at"])),
                                        parse_instant(str(expires)) if expires else None))
        start = page.last_key
        if not start:
            break
    return markers
