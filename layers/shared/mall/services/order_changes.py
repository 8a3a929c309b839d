"""What the order stream does with every change of an order item: its ``STATUS`` entry, a
virtual-only order delivered on payment (with its shipping-information upload asked for), and whether
the change shipped parcels to subscribe. Kept apart from the order, shipping and tracking views so the
stream worker's cold start builds none of their response models."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from aws_lambda_powertools import Logger

from mall.dal.order_items import is_order_item, order_from_item
from mall.dal.orders import OrderRepository, TransactionCancelled
from mall.dal.shipping import ShippingRepository, UploadState
from mall.domain import tracking as tracking_rules
from mall.domain.orders import Order, OrderStatus
from mall.domain.shipping import UploadStatus, logistics_type_of

logger = Logger(child=True)


class UploadQueue(Protocol):
    def send(self, body: Mapping[str, Any], /) -> None: ...


class UploadRequests:
    """Asks for an order's upload: the request item, then a message to the upload worker. A message
    that cannot be sent is not an error: the reconciler re-sends pending uploads."""

    def __init__(self, shipping: ShippingRepository, queue: UploadQueue | None) -> None:
        self.shipping = shipping
        self.queue = queue

    def send(self, order_id: str, revision: int) -> None:
        if self.queue is None:
            logger.warning("no shipping upload queue: the reconciler will send it", extra={"order_id": order_id})
            return
        try:
            self.queue.send({"order_id": order_id, "revision": revision})
        except Exception:  # the request item is written: the reconciler finds it PENDING and re-sends
            logger.exception("shipping upload not queued; the reconciler will", extra={"order_id": order_id})

    def request(self, order: Order, *, now: datetime) -> UploadState:
        state = self.shipping.request_upload(order.order_id, logistics_type=int(logistics_type_of(order)), now=now)
        if state.status == UploadStatus.PENDING:
            self.send(order.order_id, state.revision)
        return state


@dataclass(frozen=True)
class OrderChange:
    old: dict[str, Any] | None
    new: dict[str, Any] | None


def on_order_changes(*, repo: OrderRepository, changes: Iterable[OrderChange], now: datetime,
                     uploads: UploadRequests | None = None) -> int:
    """For every change of an order item: refresh its ``STATUS`` entry (the admin's by-status
    list) while the deploy still keeps them (the order item's own gsi3 entry follows without a
    write here), and deliver virtual-only orders as soon as they are PAID. Idempotent (at-least-once
    delivery): older images never overwrite newer entries; the delivery is conditional on PAID."""
    handled = 0
    for change in changes:
        new = change.new
        if not new or not is_order_item(new):
            continue
        if repo.keeps_status_entries:
            repo.project_status(new)
        order = order_from_item(new)
        became_paid = order.status == OrderStatus.PAID and (change.old or {}).get("status") != OrderStatus.PAID
        if became_paid and order.fulfilment == "virtual":
            # Cancelled: an earlier delivery of this record completed it, or it is no longer PAID.
            with contextlib.suppress(TransactionCancelled):
                repo.complete(order, completed_by="auto", now=now, by="auto",
                              note="virtual goods delivered on payment")
                if uploads is not None:  # a redelivery that lost the race leaves it to the reconciler
                    uploads.request(order, now=now)
        handled += 1
    return handled


def needs_subscription(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> bool:
    """Whether an order item's change (stream images) shipped parcels not seen before."""
    if not new or not is_order_item(new):
        return False
    before = order_from_item(dict(old)) if old and is_order_item(old) else None
    after = order_from_item(dict(new))
    if tracking_rules.parcels_to_subscribe(before, after):
        return True
    # A corrected shipment of several parcels may keep its first parcel; its count tells the change.
    return (old is not None and before is not None and tracking_rules.is_shipped(before)
            and tracking_rules.is_shipped(after) and old.get("parcel_count") != new.get("parcel_count"))
