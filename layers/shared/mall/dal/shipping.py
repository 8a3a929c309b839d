"""Parcels, the shipping-information upload's state, and the cached carrier list (docs/shipping.md).

Under the order's partition: ``PARCEL#<nn>`` (one item per parcel, written with the shipment) and
``SHIPPING_UPLOAD`` (the upload to WeChat: revision, status, attempts, WeChat's last answer; in
gsi1 ``SHIPUPLOADS#<status>`` so the admin lists the failures and the reconciler the stale pending).
The order item itself only gains ``parcel_count``: it stays small."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from mall.clock import iso
from mall.dal.keys import (
    LEASED_UPLOADS_PARTITION,
    ORDER_SK,
    PARCEL_RANGE,
    carrier_list_key,
    order_pk,
    parcel_key,
    shipping_upload_key,
    shipping_uploads_partition,
)
from mall.dal.order_items import order_from_item
from mall.dal.table import ConditionFailed, Item, Key, Page, Table, Write
from mall.dal.tracking import PARCELS_END, StoredParcel
from mall.dal.tracking import parcel_from_item as stored_parcel
from mall.domain.orders import Order
from mall.domain.shipping import Parcel, UploadStatus

#: A worker that took the lease and died leaves it to the next delivery after this long.
LEASE_SECONDS = 120


@dataclass(frozen=True, slots=True)
class UploadState:
    order_id: str
    revision: int
    logistics_type: int
    status: UploadStatus
    attempts: int
    requested_at: str
    errcode: int | None = None
    errmsg: str | None = None
    answered_at: str | None = None
    lease_until: str | None = None


@dataclass(frozen=True, slots=True)
class Lease:
    """The outcome of asking for an upload's lease: ``taken`` (the upload as the lease left it) or
    not, and ``before``, the upload as it was (None: there is no upload)."""

    taken: UploadState | None
    before: UploadState | None


def upload_from_item(item: Item) -> UploadState:
    errcode = item.get("errcode")
    return UploadState(order_id=str(item["order_id"]), revision=int(item.get("revision", 1)),
                       logistics_type=int(item.get("logistics_type", 1)), status=UploadStatus(item["status"]),
                       attempts=int(item.get("attempts", 0)), requested_at=str(item.get("requested_at", "")),
                       errcode=int(errcode) if errcode is not None else None, errmsg=item.get("errmsg"),
                       answered_at=item.get("answered_at"), lease_until=item.get("lease_until"))


def parcel_from_item(item: Item) -> Parcel:
    return Parcel(order_id=str(item["order_id"]), index=int(item["parcel_index"]),
                  carrier_id=str(item["carrier_id"]), tracking_no=str(item["tracking_no"]),
                  line_ids=tuple(str(i) for i in item.get("line_ids", [])))


class ShippingRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    # ---- parcels -------------------------------------------------------------------------

    def parcel_writes(self, parcels: Sequence[Parcel], *, now: datetime) -> list[Write]:
        """The parcels, put once (a repeated shipment finds them and is refused with its order)."""
        return [Write.put(self._table.name, {
            **parcel_key(p.order_id, p.index), "entity": "parcel", "order_id": p.order_id, "parcel_index": p.index,
            "carrier_id": p.carrier_id, "tracking_no": p.tracking_no, "line_ids": list(p.line_ids),
            "shipped_at": iso(now)}, condition="attribute_not_exists(pk)") for p in parcels]

    def replace_parcel_writes(self, old: Sequence[Parcel], new: Sequence[Parcel], *, now: datetime) -> list[Write]:
        """The new parcels over the old ones (a transaction touches an item once: put over an index
        both use, delete the indexes only the old shipment had)."""
        puts = [Write.put(self._table.name, {
            **parcel_key(p.order_id, p.index), "entity": "parcel", "order_id": p.order_id, "parcel_index": p.index,
            "carrier_id": p.carrier_id, "tracking_no": p.tracking_no, "line_ids": list(p.line_ids),
            "shipped_at": iso(now)}) for p in new]
        kept = {p.index for p in new}
        return puts + [Write.delete(self._table.name, parcel_key(p.order_id, p.index)) for p in old
                       if p.index not in kept]

    def revision_write(self, state: UploadState, *, revision: int, now: datetime) -> Write:
        """The upload asked for again as ``revision`` (conditional on the state read)."""
        at = iso(now)
        return Write.update(
            self._table.name, shipping_upload_key(state.order_id),
            "SET #revision = :rev, #status = :pending, attempts = :zero, requested_at = :at, gsi1pk = :g, "
            "gsi1sk = :s REMOVE errcode, errmsg, answered_at, lease_until",
            condition="#revision = :old_rev AND #status = :old_status",
            names={"#revision": "revision", "#status": "status"},
            values={":rev": revision, ":pending": UploadStatus.PENDING, ":zero": 0, ":at": at,
                    ":g": shipping_uploads_partition(UploadStatus.PENDING), ":s": f"{at}#{state.order_id}",
                    ":old_rev": state.revision, ":old_status": state.status})

    def shipment(self, order_id: str) -> tuple[Order | None, tuple[Parcel, ...], list[StoredParcel]]:
        """The order, its shipment's parcels and their tracking items in one consistent Query: their
        sort keys are adjacent (``ORDER``, then ``PARCEL#00`` … ``PARCEL#99``, then the trails
        ``PARCEL#T#…``; nothing else sorts between them). The shipment's worker uploads and subscribes
        the parcels from this one read; a trail is absent until its parcel is subscribed."""
        page = self._table.query_where("#pk = :pk AND #sk BETWEEN :low AND :high", names={"#pk": "pk", "#sk": "sk"},
                                       values={":pk": order_pk(order_id), ":low": ORDER_SK, ":high": PARCELS_END},
                                       limit=None, consistent=True)
        order = next((order_from_item(i) for i in page.items
                      if i["sk"] == ORDER_SK and i.get("entity", "order") == "order"), None)
        parcels = sorted((parcel_from_item(i) for i in page.items if i.get("entity") == "parcel"),
                         key=lambda p: p.index)
        trails = [stored_parcel(i) for i in page.items if i.get("entity") == "parcel_trail"]
        return order, tuple(parcels), trails

    def parcels(self, order_id: str) -> tuple[Parcel, ...]:
        # The range leaves out the parcels' trails (``PARCEL#T#…``, mall.dal.tracking) stored beside them.
        low, high = PARCEL_RANGE
        page = self._table.query_where("#pk = :pk AND #sk BETWEEN :low AND :high", names={"#pk": "pk", "#sk": "sk"},
                                       values={":pk": order_pk(order_id), ":low": low, ":high": high}, limit=None,
                                       consistent=True)
        return tuple(sorted((parcel_from_item(i) for i in page.items), key=lambda p: p.index))

    # ---- the upload ----------------------------------------------------------------------

    def _upload_item(self, order_id: str, *, revision: int, logistics_type: int, now: datetime) -> Item:
        at = iso(now)
        return {**shipping_upload_key(order_id), "entity": "shipping_upload", "order_id": order_id,
                "revision": revision, "logistics_type": logistics_type, "status": UploadStatus.PENDING,
                "attempts": 0, "requested_at": at, "gsi1pk": shipping_uploads_partition(UploadStatus.PENDING),
                "gsi1sk": f"{at}#{order_id}"}

    def upload_request_write(self, order_id: str, *, logistics_type: int, now: datetime) -> Write:
        """The first upload of the order, asked for in the same transaction as the shipment."""
        return Write.put(self._table.name, self._upload_item(order_id, revision=1, logistics_type=logistics_type,
                                                             now=now), condition="attribute_not_exists(pk)")

    def request_upload(self, order_id: str, *, logistics_type: int, now: datetime) -> UploadState:
        """Ask for the order's first upload (核销, virtual delivery); the one already asked for wins."""
        item = self._upload_item(order_id, revision=1, logistics_type=logistics_type, now=now)
        try:
            self._table.put(item, condition="attribute_not_exists(pk)")
        except ConditionFailed as exc:
            return upload_from_item(exc.item) if exc.item else self.get(order_id)  # type: ignore[return-value]
        return upload_from_item(item)

    def get(self, order_id: str) -> UploadState | None:
        item = self._table.get(shipping_upload_key(order_id), consistent=True)
        return upload_from_item(item) if item else None

    def take_lease(self, order_id: str, *, revision: int, now: datetime) -> UploadState | None:
        """PENDING (or SENDING whose lease ran out) → SENDING for this worker, one attempt more.
        None when another worker holds it or it is answered already."""
        return self.lease(order_id, revision=revision, now=now).taken

    def lease(self, order_id: str, *, revision: int, now: datetime) -> Lease:
        """``take_lease`` without a read before it: the conditional write itself says what the
        upload was (taken or not). The upload stays in its gsi1 partition (``PENDING``'s): only
        its entry is rewritten (moving it would be a delete and a put); one leased in
        ``LEASED_UPLOADS_PARTITION`` comes back to ``PENDING``'s."""
        at = iso(now)
        until = iso(now + timedelta(seconds=LEASE_SECONDS))
        try:
            old = self._table.update(
                shipping_upload_key(order_id),
                "SET #status = :sending, lease_until = :until, attempts = attempts + :one, gsi1pk = :g",
                condition="#revision = :rev AND (#status = :pending OR (#status = :sending AND lease_until < :now))",
                names={"#status": "status", "#revision": "revision"},
                values={":sending": UploadStatus.SENDING, ":pending": UploadStatus.PENDING, ":rev": revision,
                        ":until": until, ":now": at, ":one": 1,
                        ":g": shipping_uploads_partition(UploadStatus.SENDING)},
                returns="ALL_OLD")
        except ConditionFailed as exc:
            return Lease(taken=None, before=upload_from_item(exc.item) if exc.item else None)
        before = upload_from_item(old)
        return Lease(taken=replace(before, status=UploadStatus.SENDING, attempts=before.attempts + 1,
                                   lease_until=until), before=before)

    def record_answer(self, order_id: str, *, revision: int, status: UploadStatus, errcode: int, errmsg: str,
                      now: datetime) -> UploadState | None:
        """WeChat's answer to the leased attempt: UPLOADED, FAILED, or back to PENDING to be retried.
        Returns the upload as this write left it (None: the lease was no longer this attempt's), so
        the worker's answer needs no read after it."""
        try:
            item = self._table.update(
                shipping_upload_key(order_id),
                "SET #status = :s, errcode = :c, errmsg = :m, answered_at = :at, gsi1pk = :g REMOVE lease_until",
                condition="#revision = :rev AND #status = :sending",
                names={"#status": "status", "#revision": "revision"},
                values={":s": status, ":c": errcode, ":m": errmsg[:300], ":at": iso(now), ":rev": revision,
                        ":sending": UploadStatus.SENDING, ":g": shipping_uploads_partition(status)})
        except ConditionFailed:
            return None
        return upload_from_item(item)

    def retry(self, order_id: str, *, now: datetime) -> UploadState | None:
        """FAILED → PENDING (the admin's retry); None when it is not FAILED."""
        try:
            item = self._table.update(
                shipping_upload_key(order_id), "SET #status = :pending, gsi1pk = :g, retried_at = :at",
                condition="#status = :failed", names={"#status": "status"},
                values={":pending": UploadStatus.PENDING, ":failed": UploadStatus.FAILED, ":at": iso(now),
                        ":g": shipping_uploads_partition(UploadStatus.PENDING)})
        except ConditionFailed:
            return None
        return upload_from_item(item)

    def list_by_status(self, status: UploadStatus, *, limit: int, start_key: Key | None) -> Page:
        """Uploads in ``status``, newest first. ``PENDING`` and ``SENDING`` share a partition: each
        is told apart by a filter on the status."""
        names = {"#pk": "gsi1pk"}
        values: dict[str, Any] = {":pk": shipping_uploads_partition(status)}
        in_flight = status in (UploadStatus.PENDING, UploadStatus.SENDING)
        if in_flight:
            names["#status"] = "status"
            values[":status"] = status
        return self._table.query_where("#pk = :pk", names=names, values=values, index="gsi1", limit=limit,
                                       start_key=start_key, newest_first=True,
                                       filter_expression="#status = :status" if in_flight else None)

    def stale_in_flight(self, *, before: datetime, limit: int) -> list[Item]:
        """Uploads asked for before ``before`` and not answered yet (PENDING, or SENDING with a lease
        that may have died with its worker), oldest first: ``PENDING``'s partition and
        ``LEASED_UPLOADS_PARTITION``."""
        found: list[Item] = []
        for partition in (shipping_uploads_partition(UploadStatus.PENDING), LEASED_UPLOADS_PARTITION):
            page = self._table.query_where("#pk = :pk AND #sk < :before", names={"#pk": "gsi1pk", "#sk": "gsi1sk"},
                                           values={":pk": partition, ":before": iso(before)}, index="gsi1",
                                           limit=limit)
            found += page.items
        return found

    # ---- the carrier list ----------------------------------------------------------------

    def cached_carriers(self, app_id: str, *, now: datetime) -> Mapping[str, str] | None:
        item = self._table.get(carrier_list_key(app_id))
        if not item or int(item.get("expires_at", 0)) <= int(now.timestamp()):
            return None  # TTL deletes lazily: an expired item may still be read
        return {str(k): str(v) for k, v in (item.get("carriers") or {}).items()}

    def cache_carriers(self, app_id: str, carriers: Mapping[str, str], *, now: datetime, ttl_seconds: int) -> None:
        self._table.put({**carrier_list_key(app_id), "entity": "carrier_list", "carriers": dict(carriers),
                         "fetched_at": iso(now), "expires_at": int(now.timestamp()) + ttl_seconds})
