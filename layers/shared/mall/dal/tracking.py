"""Parcel trails (物流轨迹) under the order's partition: ``ORDER#<id> / PARCEL#T#<tracking_no>``, one item
per parcel, beside the shipment's own ``PARCEL#<nn>`` items (mall.dal.shipping; docs/data-model.md,
"parcel tracking"). Each holds the parcel's carrier, its subscription,
its latest ``MAX_EVENTS`` events, state, signed-for time and ``rank``: a trail is stored only when it
ranks above the stored one (``mall.domain.tracking.is_newer``, evaluated by DynamoDB as a condition),
so repeated and out-of-order pushes never bring an older trail back."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from mall.clock import iso
from mall.dal.keys import ORDER_SK, PARCEL_PREFIX, order_address_key, order_key, order_pk, trail_key
from mall.dal.order_items import order_from_item, with_address
from mall.dal.table import ConditionFailed, Item, Key, Table
from mall.domain.orders import Order, OrderStatus
from mall.domain.tracking import Parcel, TrackEvent, Trail

#: Above every ``PARCEL#…`` sort key (``$`` follows ``#``) and below the order's next items (``REFUND#…``).
PARCELS_END = "PARCEL$"


@dataclass(frozen=True)
class StoredParcel:
    """One parcel's item as stored (``trail`` None until the provider said something)."""

    order_id: str
    index: int
    carrier: str
    tracking_no: str
    subscribed_at: str | None
    subscribe_error: str | None
    trail: Trail | None
    updated_at: str | None
    queried_at: str | None


def _trail_from(item: Mapping[str, Any]) -> Trail | None:
    if "state" not in item:
        return None
    events = tuple(TrackEvent(at=str(e.get("at", "")), context=str(e.get("context", "")), status=e.get("status"),
                              area=e.get("area")) for e in item.get("events", []))
    return Trail(company=str(item.get("company", "")), tracking_no=str(item["tracking_no"]),
                 state=int(item["state"]), signed=bool(item.get("signed")), events=events)


def parcel_from_item(item: Mapping[str, Any]) -> StoredParcel:
    return StoredParcel(order_id=str(item["order_id"]), index=int(item.get("parcel_index", 0)),
                        carrier=str(item.get("carrier", "")), tracking_no=str(item["tracking_no"]),
                        subscribed_at=item.get("subscribed_at"), subscribe_error=item.get("subscribe_error"),
                        trail=_trail_from(item), updated_at=item.get("updated_at"), queried_at=item.get("queried_at"))


def _event_item(event: TrackEvent) -> dict[str, Any]:
    item: dict[str, Any] = {"at": event.at, "context": event.context}
    if event.status:
        item["status"] = event.status
    if event.area:
        item["area"] = event.area
    return item


class TrailStored(StrEnum):
    STORED = "stored"
    KEPT = "kept"  # a repeat or an older trail
    NO_PARCEL = "no_parcel"  # the parcel has no item (yet)


def _registration(order_id: str, parcel: Parcel) -> dict[str, Any]:
    """What a parcel's item says of the parcel itself, whichever write creates it."""
    return {"entity": "parcel_trail", "order_id": order_id, "parcel_index": parcel.index, "carrier": parcel.carrier,
            "tracking_no": parcel.tracking_no}


#: ``_registration`` in an update that may create the item (``created_at``: the first write's).
_REGISTRATION_SET = ("#entity = :entity, order_id = :order_id, parcel_index = :parcel_index, carrier = :carrier, "
                     "tracking_no = :tracking_no, created_at = if_not_exists(created_at, :now)")
_REGISTRATION_NAMES = {"#entity": "entity"}


def _registration_values(order_id: str, parcel: Parcel, now: datetime) -> dict[str, Any]:
    return {f":{name}": value for name, value in _registration(order_id, parcel).items()} | {":now": iso(now)}


def _trail_attributes(trail: Trail, *, now: datetime) -> dict[str, Any]:
    """The attributes a trail sets on its parcel's item (``signed_at`` only once signed)."""
    latest, count, signed = trail.rank
    attributes: dict[str, Any] = {
        "state": trail.state, "signed": trail.signed, "company": trail.company,
        "events": [_event_item(e) for e in trail.events], "latest_at": latest, "event_count": count,
        "rank_signed": signed, "updated_at": iso(now)}
    if trail.signed_at:
        attributes["signed_at"] = trail.signed_at
    return attributes


def _trail_assignments(trail: Trail, *, now: datetime) -> tuple[dict[str, str], dict[str, Any], list[str]]:
    """``_trail_attributes`` as an update's names, values and assignments (``signed_at`` kept once set)."""
    names, values, assignments = {"#latest": "latest_at", "#count": "event_count", "#rsigned": "rank_signed"}, {}, []
    for i, (name, value) in enumerate(_trail_attributes(trail, now=now).items()):
        names[f"#a{i}"] = name
        values[f":v{i}"] = value
        assignments.append(f"#a{i} = if_not_exists(#a{i}, :v{i})" if name == "signed_at" else f"#a{i} = :v{i}")
    return names, values, assignments


class TrackingRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    # ---- reads ----------------------------------------------------------------------------

    def order_and_parcels(self, order_id: str, *,
                          address: bool = False) -> tuple[Order | None, tuple[Parcel, ...], list[StoredParcel]]:
        """The order, the parcels it was shipped in (``PARCEL#<nn>``) and their trails (``PARCEL#T#…``):
        one Query from ``ORDER`` to the last ``PARCEL#`` key (a Query of the whole partition would also
        read its history, refunds and commission items). ``address``: the order with its delivery
        address, read in a BatchGetItem, then a Query on ``PARCEL#`` (a carrier that needs the
        receiver's phone)."""
        order, shipped, trails, _ = self.order_parcels_and(order_id, address=address)
        return order, shipped, trails

    def order_parcels_and(self, order_id: str, *, address: bool = False, extra: Key | None = None,
                          ) -> tuple[Order | None, tuple[Parcel, ...], list[StoredParcel], Item | None]:
        """``order_and_parcels`` and, in the order's BatchGetItem, one more item another repository
        owns (``extra``, e.g. the settings in force for the view): still two round trips."""
        if address or extra is not None:
            apart = order_address_key(order_id) if address else None
            keys = [order_key(order_id), *([apart] if apart else []), *([extra] if extra else [])]
            found = {(str(i["pk"]), str(i["sk"])): i for i in self._table.batch_get(keys, consistent=True)}
            item = found.get((order_pk(order_id), ORDER_SK))
            if item is not None and apart is not None:
                item = with_address(item, found.get((str(apart["pk"]), str(apart["sk"]))))
            order_item = item
            extra_item = found.get((str(extra["pk"]), str(extra["sk"]))) if extra else None
            page = self._table.query_where("#pk = :pk AND begins_with(#sk, :prefix)",
                                           names={"#pk": "pk", "#sk": "sk"},
                                           values={":pk": order_pk(order_id), ":prefix": PARCEL_PREFIX}, limit=None,
                                           consistent=True)
        else:
            # The order's sort key is next to its parcels' (``ORDER``, then ``PARCEL#…``; nothing sorts
            # between them): one Query of that range reads them all.
            page = self._table.query_where("#pk = :pk AND #sk BETWEEN :low AND :high",
                                           names={"#pk": "pk", "#sk": "sk"},
                                           values={":pk": order_pk(order_id), ":low": ORDER_SK,
                                                   ":high": PARCELS_END}, limit=None, consistent=True)
            order_item = next((i for i in page.items if i["sk"] == ORDER_SK), None)
            extra_item = None
        shipped = tuple(sorted((Parcel(int(i["parcel_index"]), str(i["carrier_id"]), str(i["tracking_no"]))
                                for i in page.items if i.get("entity") == "parcel"), key=lambda p: p.index))
        trails = sorted((parcel_from_item(i) for i in page.items if i.get("entity") == "parcel_trail"),
                        key=lambda p: (p.index, p.tracking_no))
        order = order_from_item(order_item) if order_item and order_item.get("sk") == ORDER_SK else None
        return order, shipped, trails, extra_item

    # ---- subscription ---------------------------------------------------------------------

    def register(self, order_id: str, parcel: Parcel, *, now: datetime) -> StoredParcel:
        """Create the parcel's item once (a repeat keeps it) and return it as stored: the admin's
        refresh of a parcel with no item yet (its real-time query is claimed on the item)."""
        item = {**trail_key(order_id, parcel.tracking_no), **_registration(order_id, parcel), "created_at": iso(now)}
        try:
            self._table.put(item, condition="attribute_not_exists(pk)")
        except ConditionFailed as exc:
            return parcel_from_item(exc.item or item)
        return parcel_from_item(item)

    def record_subscription(self, order_id: str, parcel: Parcel, *, provider: str, now: datetime) -> None:
        """The provider accepted the parcel's subscription: its item created, or completed when a
        push or an earlier attempt created it, and marked subscribed, in one write. Idempotent: a
        repeat writes the same values (the first ``created_at`` and ``subscribed_at`` kept) and
        leaves a trail a push stored untouched."""
        self._table.update(trail_key(order_id, parcel.tracking_no),
                           f"SET {_REGISTRATION_SET}, subscribed_at = if_not_exists(subscribed_at, :now), "
                           "provider = :p REMOVE subscribe_error",
                           names=_REGISTRATION_NAMES, values={**_registration_values(order_id, parcel, now),
                                                              ":p": provider})

    def record_subscribe_failure(self, order_id: str, parcel: Parcel, *, error: str, now: datetime) -> None:
        """The provider refused the parcel's subscription: recorded on its item (created if need be),
        unless another delivery has it subscribed already."""
        # Subscribed by another delivery meanwhile: nothing to record.
        with suppress(ConditionFailed):
            self._table.update(trail_key(order_id, parcel.tracking_no),
                               f"SET {_REGISTRATION_SET}, subscribe_error = :e",
                               condition="attribute_not_exists(subscribed_at)", names=_REGISTRATION_NAMES,
                               values={**_registration_values(order_id, parcel, now), ":e": error[:300]})

    # ---- trails ---------------------------------------------------------------------------

    def store_trail(self, order_id: str, trail: Trail, *, now: datetime) -> TrailStored:
        """Replace the parcel's trail when ``trail`` ranks above the stored one: ``STORED``; a repeat
        or an older trail changes nothing: ``KEPT``; a parcel with no item yet changes nothing:
        ``NO_PARCEL`` (``store_first_trail`` creates it once the parcel is known to be the order's)."""
        latest, count, signed = trail.rank
        names, values, assignments = _trail_assignments(trail, now=now)
        values |= {":latest": latest, ":count": count, ":rsigned": signed}
        # (latest, count, signed) compared lexicographically with the stored rank.
        condition = ("attribute_exists(pk) AND (attribute_not_exists(#latest) OR #latest < :latest OR "
                     "(#latest = :latest AND (#count < :count OR (#count = :count AND #rsigned < :rsigned))))")
        try:
            self._table.update(trail_key(order_id, trail.tracking_no), "SET " + ", ".join(assignments),
                               condition=condition, names=names, values=values)
        except ConditionFailed as exc:
            return TrailStored.KEPT if exc.item else TrailStored.NO_PARCEL
        return TrailStored.STORED

    def store_first_trail(self, order_id: str, parcel: Parcel, trail: Trail, *, now: datetime) -> TrailStored:
        """The first trail of a parcel of the order whose item is not created yet (a push that came
        before the worker recorded the subscription it answers): the item created with it, once. A
        parcel created meanwhile gets the trail as ``store_trail`` stores it."""
        item = {**trail_key(order_id, parcel.tracking_no), **_registration(order_id, parcel), "created_at": iso(now),
                **_trail_attributes(trail, now=now)}
        try:
            self._table.put(item, condition="attribute_not_exists(pk)")
        except ConditionFailed:
            return self.store_trail(order_id, trail, now=now)
        return TrailStored.STORED

    def take_query_slot(self, order_id: str, tracking_no: str, *, now: datetime, not_before: datetime) -> bool:
        """Claim the parcel's real-time query: False when one was made after ``not_before``."""
        try:
            self._table.update(trail_key(order_id, tracking_no), "SET queried_at = :now",
                               condition="attribute_exists(pk) AND (attribute_not_exists(queried_at) OR "
                                         "queried_at <= :nb)",
                               values={":now": iso(now), ":nb": iso(not_before)})
        except ConditionFailed:
            return False
        return True

    # ---- the order's auto-confirm countdown -----------------------------------------------

    def restart_countdown(self, order: Order, *, delivered_at: str) -> bool:
        """Record the delivery on a SHIPPED order and move its auto-confirm entry (sparse gsi2, sorted
        by when its countdown started) to the delivery. Once only; False when the order is no longer
        SHIPPED or a delivery was already recorded."""
        try:
            self._table.update(
                order_key(order.order_id),
                "SET delivered_at = :d, gsi2sk = :sk, #version = if_not_exists(#version, :zero) + :one",
                condition="#status = :shipped AND attribute_not_exists(delivered_at)",
                names={"#status": "status", "#version": "version"},
                values={":d": delivered_at, ":sk": f"{delivered_at}#{order.order_id}", ":shipped": OrderStatus.SHIPPED,
                        ":zero": 0, ":one": 1})
        except ConditionFailed:
            return False
        return True

    def record_delivery(self, order_id: str, *, delivered_at: str) -> bool:
        """Record the delivery only (the countdown stays where it runs from): once, while SHIPPED."""
        try:
            self._table.update(order_key(order_id),
                               "SET delivered_at = :d, #version = if_not_exists(#version, :zero) + :one",
                               condition="#status = :shipped AND attribute_not_exists(delivered_at)",
                               names={"#status": "status", "#version": "version"},
                               values={":d": delivered_at, ":shipped": OrderStatus.SHIPPED, ":zero": 0, ":one": 1})
        except ConditionFailed:
            return False
        return True

