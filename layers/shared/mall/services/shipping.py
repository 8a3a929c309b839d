"""Shipping with parcels, the carriers WeChat accepts, and asking for the shipping-information
upload (docs/shipping.md). The upload itself runs in the queue worker (mall.services.shipping_uploads)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Final, Protocol

from aws_lambda_powertools import Logger

from mall.dal.audit import AuditEntry
from mall.dal.fulfilment import OrderTail
from mall.dal.identity import CustomerRepository
from mall.dal.keys import SHIPPING_UPLOAD_SK
from mall.dal.order_items import order_from_item
from mall.dal.orders import OrderRepository, TransactionCancelled
from mall.dal.shipping import ShippingRepository, UploadState, parcel_from_item, upload_from_item
from mall.domain import fulfilment as rules
from mall.domain.fulfilment import HistoryEntry
from mall.domain.orders import Order, OrderStatus
from mall.domain.shipping import (
    Parcel,
    ParcelRequest,
    UploadStatus,
    correction_revision,
    logistics_type_of,
    plan_parcels,
)
from mall.errors import Conflict, NotFound, UpstreamUnavailable
from mall.schemas.fulfilment import OrderDetail
from mall.schemas.shipping import Carrier, CarrierList
from mall.services.order_changes import UploadRequests

if TYPE_CHECKING:
    from mall.dal.table import Item, Table

logger = Logger(child=True)

MAX_ATTEMPTS = 3  # re-reads after a lost race on the order's version
#: WeChat's carrier list changes rarely: one fetch a day per app, kept in DynamoDB (TTL) and in memory.
CARRIER_TTL_SECONDS: Final = 86400
CARRIER_MEMORY_SECONDS: Final = 600
#: Used only when WeChat cannot be reached and nothing is cached (kept for 60 s): ids of WeChat's
#: get_delivery_list for the carriers most shops use, so shipping does not stop with WeChat.
FALLBACK_CARRIERS: Final[Mapping[str, str]] = {
    "SF": "顺丰速运", "ZTO": "中通快递", "YTO": "圆通速递", "STO": "申通快递", "YD": "韵达快递",
    "JTSD": "极兔速递", "EMS": "EMS", "JD": "京东物流", "DBL": "德邦快递", "YZPY": "邮政快递包裹"}
_carrier_memory: dict[str, tuple[dict[str, str], float]] = {}


@dataclass(frozen=True)
class ShippingRepositories:
    orders: OrderRepository
    shipping: ShippingRepository
    customers: CustomerRepository

    @classmethod
    def on(cls, table: Table) -> ShippingRepositories:
        return cls(orders=OrderRepository(table), shipping=ShippingRepository(table),
                   customers=CustomerRepository(table))


class CarrierSource(Protocol):
    def delivery_list(self) -> dict[str, str]: ...


# ---- carriers -----------------------------------------------------------------------------------

def known_carriers(*, shipping: ShippingRepository, source: Callable[[], CarrierSource], app_id: str,
                   now: datetime) -> dict[str, str]:
    """``carrier_id`` → name of the carriers WeChat accepts (get_delivery_list), cached."""
    held = _carrier_memory.get(app_id)
    if held and held[1] > time.monotonic():
        return held[0]
    found = shipping.cached_carriers(app_id, now=now)
    keep = CARRIER_MEMORY_SECONDS
    if found is None:
        try:
            found = source().delivery_list()
            shipping.cache_carriers(app_id, found, now=now, ttl_seconds=CARRIER_TTL_SECONDS)
        except UpstreamUnavailable:
            logger.warning("WeChat's carrier list is unavailable: the fallback list is used for a minute")
            found, keep = dict(FALLBACK_CARRIERS), 60
    carriers = dict(found)
    _carrier_memory[app_id] = (carriers, time.monotonic() + keep)
    return carriers


def forget_carriers() -> None:
    """Drop the in-memory copies (tests; a new list is read from DynamoDB or WeChat next time)."""
    _carrier_memory.clear()


def carrier_list(carriers: Mapping[str, str]) -> CarrierList:
    return CarrierList(items=[Carrier(carrier_id=k, name=v) for k, v in sorted(carriers.items())])


def resolve_carrier(label: str, carriers: Mapping[str, str]) -> str:
    """The old single-parcel body named its carrier freely (``顺丰速运`` or ``SF``): its id when WeChat
    knows it by id or name, else the label itself (refused by ``plan_parcels`` naming ``carrier``)."""
    if label in carriers:
        return label
    by_name = {name: cid for cid, name in carriers.items()}
    upper = label.upper()
    return by_name.get(label) or next((cid for cid in carriers if cid.upper() == upper), label)


# ---- shipping -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class ShipOrder:
    """发货 with one or several parcels. ``label`` is the old body's carrier as given (kept on the
    order as before); ``None`` for the parcels body."""

    order_id: str
    parcels: tuple[ParcelRequest, ...]
    admin: str
    now: datetime
    source_ip: str | None = None
    label: str | None = None


def _same_shipment(order: Order, stored: tuple[Parcel, ...], requested: tuple[ParcelRequest, ...]) -> bool:
    asked = [(p.carrier_id, p.tracking_no) for p in requested]
    if stored:
        return [(p.carrier_id, p.tracking_no) for p in stored] == asked
    return len(asked) == 1 and order.tracking_no == asked[0][1]  # shipped before parcels were kept


def _correct(order: Order, stored: tuple[Parcel, ...], state: UploadState | None, command: ShipOrder, *,
             repos: ShippingRepositories, carriers: Mapping[str, str],
             uploads: UploadRequests) -> tuple[Item | None, HistoryEntry] | None:
    """Other parcels for a shipped order: the one change WeChat allows (docs/shipping.md). Returns the
    order item and history entry written; None when the order moved meanwhile (the caller reads it
    again)."""
    revision = correction_revision(state.status if state else None, state.revision if state else 1)
    parcels = plan_parcels(order, command.parcels, known_carriers=carriers)
    first = parcels[0]
    label = command.label or carriers.get(first.carrier_id, first.carrier_id)
    upload = (repos.shipping.revision_write(state, revision=revision, now=command.now) if state is not None else
              repos.shipping.upload_request_write(order.order_id, logistics_type=int(logistics_type_of(order)),
                                                  now=command.now))
    try:
        written = repos.orders.correct_shipment(
            order, carrier=label, tracking_no=first.tracking_no, parcel_count=len(parcels), now=command.now,
            by=command.admin,
            audit=AuditEntry(action="order.ship.correct", actor=command.admin, entity_type="order",
                             entity_id=order.order_id, source_ip=command.source_ip,
                             before={"parcels": [[p.carrier_id, p.tracking_no] for p in stored]},
                             after={"parcels": [[p.carrier_id, p.tracking_no] for p in parcels],
                                    "upload_revision": revision}, subject_user=order.buyer_id),
            also=[*repos.shipping.replace_parcel_writes(stored, parcels, now=command.now), upload])
    except TransactionCancelled:
        return None
    uploads.send(order.order_id, revision)
    return written, repos.orders.corrected_entry(carrier=label, tracking_no=first.tracking_no, now=command.now,
                                                 by=command.admin)


def _shipment_of(tail: OrderTail) -> tuple[tuple[Parcel, ...], UploadState | None]:
    """The parcels and the upload among the items read with the order."""
    parcels = sorted((parcel_from_item(i) for i in tail.items if i.get("entity") == "parcel"), key=lambda p: p.index)
    upload = next((upload_from_item(i) for i in tail.items if i["sk"] == SHIPPING_UPLOAD_SK), None)
    return tuple(parcels), upload


def ship_parcels(command: ShipOrder, *, repos: ShippingRepositories, carriers: Mapping[str, str],
                 uploads: UploadRequests) -> OrderDetail:
    """发货: PAID → SHIPPED with its parcels and the upload request, in one transaction; then the
    upload is queued. Repeating it with the same parcels answers the same order (and re-queues a
    pending upload); other parcels for a shipped order correct it, once (``_correct``).

    The order is read with its history, parcels, refunds and upload in one Query (not its
    commission items), and answered from what was read and written: its address is the only read
    after the write."""
    from mall.services.fulfilment import order_detail

    order_id = command.order_id
    for _ in range(MAX_ATTEMPTS):
        tail = repos.orders.tail(order_id)
        if tail is None:
            raise NotFound("no such order", code="order_not_found")
        order = order_from_item(tail.order_item)
        stored, state = _shipment_of(tail) if order.status == OrderStatus.SHIPPED else ((), None)
        if order.status == OrderStatus.SHIPPED and _same_shipment(order, stored, command.parcels):
            if state is not None and state.status == UploadStatus.PENDING:
                uploads.send(order_id, state.revision)
            written: tuple[Item | None, HistoryEntry | None] = (tail.order_item, None)
            break
        if order.status == OrderStatus.SHIPPED:
            corrected = _correct(order, stored, state, command, repos=repos, carriers=carriers, uploads=uploads)
            if corrected is not None:
                written = corrected
                break
            continue
        rules.check_ship(order, carrier="", tracking_no="")
        parcels = plan_parcels(order, command.parcels, known_carriers=carriers)
        first = parcels[0]
        label = command.label or carriers.get(first.carrier_id, first.carrier_id)
        try:
            item = repos.orders.ship(
                order, carrier=label, tracking_no=first.tracking_no, now=command.now, by=command.admin,
                parcel_count=len(parcels),
                audit=AuditEntry(action="order.ship", actor=command.admin, entity_type="order", entity_id=order_id,
                                 source_ip=command.source_ip, before={"status": order.status},
                                 after={"status": OrderStatus.SHIPPED, "carrier": label,
                                        "tracking_no": first.tracking_no, "parcels": len(parcels)},
                                 subject_user=order.buyer_id),
                also=[*repos.shipping.parcel_writes(parcels, now=command.now),
                      repos.shipping.upload_request_write(order_id, logistics_type=int(logistics_type_of(order)),
                                                          now=command.now)])
        except TransactionCancelled:
            continue
        uploads.send(order_id, 1)
        written = (item, repos.orders.shipped_entry(carrier=label, tracking_no=first.tracking_no, now=command.now,
                                                    by=command.admin))
        break
    else:
        raise Conflict("the order changed while this request ran; retry", code="order_changed",
                       details={"order_id": order_id})
    item, entry = written
    if item is None:  # not known from the write: read it all
        from mall.services.fulfilment import admin_order

        return admin_order(repo=repos.orders, order_id=order_id)
    bundle = tail.bundle(order_item=item, written=[entry] if entry else [], address=repos.orders.view_address(item))
    return order_detail(bundle, for_buyer=False)
