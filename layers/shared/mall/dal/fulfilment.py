"""After payment, the half of ``mall.dal.orders.OrderRepository`` that ships, completes and verifies
orders and keeps the admin's by-status list (docs/data-model.md, "after payment"). The items it
writes under the order's partition are described in ``mall.dal.order_items``.

The by-status list is read from one of two places, chosen per deploy (``ORDER_STATUS_LIST``,
docs/runbook.md): the ``STATUS`` entries the order stream worker puts after every change of the
order (``entries``), or the order item's own gsi3 entry, whose keys every status change sets in
the same write (``index``; ``index-with-entries`` reads the index and still keeps the entries, so
a deploy can go back).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mall.clock import iso
from mall.config import OrderStatusList
from mall.dal.audit import AuditEntry, AuditLog
from mall.dal.keys import (
    AUTO_CONFIRM_PARTITION,
    BUYER_ORDERS_FLOOR,
    ORDER_SK,
    STATUS_SK,
    buyer_partition,
    order_address_key,
    order_key,
    order_pk,
    order_status_index,
    order_status_partition,
)
from mall.dal.order_items import (
    OrderBundle,
    completion_implied,
    history_item,
    leave_index_entry,
    order_from_item,
    order_history,
    put_history,
    status_summary,
    with_address,
)
from mall.dal.table import ConditionFailed, Item, Key, Page, Table, TransactionCancelled, Write
from mall.domain.fulfilment import HistoryEntry
from mall.domain.orders import Order, OrderStatus

#: The first sort key of an order's partition a view needs besides its address: its history, the
#: order, its parcels and their trails, its refunds and its shipping upload sort from here on; its
#: address and commission items (the larger part of the partition) sort before it.
VIEW_FLOOR = "HISTORY#"


@dataclass(frozen=True, slots=True)
class OrderTail:
    """An order item as read and the items sorting after ``VIEW_FLOOR`` in its partition (its
    history, parcels, refunds, shipping upload): one consistent Query, without the address."""

    order_item: Item
    items: list[Item] = field(default_factory=list)

    def bundle(self, *, order_item: Item | None = None, written: Sequence[HistoryEntry] = (),
               address: Item | None = None) -> OrderBundle:
        """The order's view: its item (``order_item``: as a write left it) with its history (and the
        entries ``written`` with it), its refunds and its address item."""
        item = order_item if order_item is not None else self.order_item
        order_id = str(item["order_id"])
        stored = [i for i in self.items if str(i["sk"]).startswith("HISTORY#")]
        stored += [history_item(order_id, e.status, at=e.at, by=e.by, note=e.note) for e in written]
        refunds = sorted((i for i in self.items if str(i["sk"]).startswith("REFUND#")),
                         key=lambda r: r.get("created_at", ""))
        return OrderBundle(order=order_from_item(with_address(item, address)), history=order_history(item, stored),
                           refunds=refunds)


class OrderAfterPayment:
    """Shipping, receipt, 核销, views and by-status entries of ``OrderRepository`` (its base class;
    kept in its own module so each module stays readable). Not used on its own."""

    _table: Table
    _status_list: OrderStatusList = "index"

    @property
    def keeps_status_entries(self) -> bool:
        """Whether the order stream worker still puts the ``STATUS`` entries (every stage but the last)."""
        return self._status_list != "index"

    @property
    def _status_index(self) -> tuple[str, str, str]:
        """The index the by-status list reads, and its key attributes."""
        return ("gsi1", "gsi1pk", "gsi1sk") if self._status_list == "entries" else ("gsi3", "gsi3pk", "gsi1sk")

    # ---- reads ----------------------------------------------------------------------------

    def bundle(self, order_id: str) -> OrderBundle | None:
        """The order with its history and refunds: one (paginated, consistent) Query on its partition."""
        items: list[Item] = []
        start: Key | None = None
        while True:
            page = self._table.query_where("#pk = :pk", names={"#pk": "pk"}, values={":pk": order_pk(order_id)},
                                           limit=None, start_key=start, consistent=True)
            items += page.items
            start = page.last_key
            if start is None:
                break
        order_item = next((i for i in items if i["sk"] == ORDER_SK), None)
        if order_item is None:
            return None
        history = order_history(order_item, [i for i in items if i["sk"].startswith("HISTORY#")])
        refunds = sorted((i for i in items if i["sk"].startswith("REFUND#")), key=lambda r: r.get("created_at", ""))
        apart = next((i for i in items if i.get("entity") == "order_address"), None)
        return OrderBundle(order=order_from_item(with_address(order_item, apart)), history=history, refunds=refunds)

    def tail(self, order_id: str) -> OrderTail | None:
        """The order and what sorts after ``VIEW_FLOOR`` in its partition (consistent): what a
        shipment or a receipt checks and answers with, well under half of the partition's bytes."""
        items: list[Item] = []
        start: Key | None = None
        while True:
            page = self._table.query_where("#pk = :pk AND #sk >= :floor", names={"#pk": "pk", "#sk": "sk"},
                                           values={":pk": order_pk(order_id), ":floor": VIEW_FLOOR}, limit=None,
                                           start_key=start, consistent=True)
            items += page.items
            start = page.last_key
            if start is None:
                break
        order_item = next((i for i in items if i["sk"] == ORDER_SK and i.get("entity", "order") == "order"), None)
        if order_item is None:
            return None
        return OrderTail(order_item=order_item, items=[i for i in items if i is not order_item])

    def view_address(self, order_item: Item) -> Item | None:
        """The address item of an order whose item has no address of its own (None: it has, or there
        is none), for the view a shipment or a receipt answers with (masked; no decision or write
        depends on it).

        Read eventually consistent: the item is put with the order when it is placed, long before the
        order is paid and shipped, and is only ever replaced by an erasure, which refuses while the
        order is paid or shipped (``mall.domain.erasure``): a lagging read sees the address the order
        had when its write was made, or a later erasure's stars. An item the read does not find (put moments
        ago by ``tools/migrations/order_addresses_apart``, which takes the address off the order in
        the same transaction) is read again consistent: a view must not drop an address it has."""
        if order_item.get("address") is not None:
            return None
        return self._table.get_showing(order_address_key(str(order_item["order_id"])), lambda _: True)

    def list_for_buyer(self, buyer_id: str, *, status: str | None, limit: int,
                       start_key: Key | None) -> Page:
        """The buyer's orders, newest first (gsi1 ``BUYER#<uid>``, written when the order is placed). The
        key condition stops at the orders: the address items and share visits indexed there too sort
        below ``BUYER_ORDERS_FLOOR`` and are never read (nor leave a cursor to an empty page)."""
        values: dict[str, Any] = {":pk": buyer_partition(buyer_id), ":order": "order", ":floor": BUYER_ORDERS_FLOOR}
        names = {"#pk": "gsi1pk", "#sk": "gsi1sk", "#entity": "entity"}
        filter_expression = "#entity = :order"
        if status:
            names["#status"] = "status"
            values[":status"] = status
            filter_expression += " AND #status = :status"
        return self._table.query_where("#pk = :pk AND #sk >= :floor", names=names, values=values, index="gsi1",
                                       limit=limit, start_key=start_key, newest_first=True,
                                       filter_expression=filter_expression)

    def status_cursor_partition(self, status: str) -> tuple[str, str]:
        """The partition a cursor of ``list_by_status`` must name (one issued by the other index is refused)."""
        return self._status_index[1], order_status_partition(status)

    def list_by_status(self, status: str, *, limit: int, start_key: Key | None,
                       created_from: datetime | None = None, created_before: datetime | None = None) -> Page:
        """The admin's list of orders in ``status``, newest first, created in ``[created_from,
        created_before)`` when given, as summaries (``status_summary``). The entry's sort key starts
        with the order's ``created_at`` (ISO UTC, second precision), so the range is a key condition: a
        page reads only orders in range. ``<iso end>`` sorts below every ``<iso end>#<order_id>``,
        hence BETWEEN is half-open here."""
        index, partition_key, sort_key = self._status_index
        names = {"#pk": partition_key}
        values: dict[str, Any] = {":pk": order_status_partition(status)}
        condition = "#pk = :pk"
        low = iso(created_from) if created_from is not None else None
        high = iso(created_before) if created_before is not None else None
        if low is not None or high is not None:
            names["#sk"] = sort_key
            if low is not None and high is not None:
                condition += " AND #sk BETWEEN :low AND :high"
            else:
                condition += " AND #sk >= :low" if low is not None else " AND #sk < :high"
            values |= {k: v for k, v in ((":low", low), (":high", high)) if v is not None}
        page = self._table.query_where(condition, names=names, values=values, index=index, limit=limit,
                                       start_key=start_key, newest_first=True)
        if index == "gsi1":
            return page
        return Page([status_summary(item) for item in page.items], page.last_key)

    def status_position_within(self, start_key: Key, *, created_from: datetime | None,
                               created_before: datetime | None) -> bool:
        """Whether a page position of ``list_by_status`` lies in the creation range (a cursor of the
        same status but another range would make DynamoDB refuse the query)."""
        sort_key = str(start_key.get(self._status_index[2], ""))
        return ((created_from is None or sort_key >= iso(created_from))
                and (created_before is None or sort_key < iso(created_before)))

    def due_for_auto_confirm(self, cutoff: datetime, *, limit: int, start_key: Key | None = None,
                             not_before: datetime | None = None) -> Page:
        """Orders whose countdown started before ``cutoff`` (and at ``not_before`` or later, when
        given) and still SHIPPED, oldest first: while SHIPPED the order item is in the sparse gsi2
        partition ``AUTOCONFIRM`` (set by the shipment, moved to the delivery where the countdown runs
        from it, removed by the transition that leaves SHIPPED). ``<iso cutoff>`` sorts below every
        ``<iso cutoff>#<order_id>``, hence BETWEEN is half-open here."""
        values = {":pk": AUTO_CONFIRM_PARTITION, ":cutoff": iso(cutoff)}
        condition = "#pk = :pk AND #sk < :cutoff"
        if not_before is not None:
            condition = "#pk = :pk AND #sk BETWEEN :low AND :cutoff"
            values[":low"] = iso(not_before)
        return self._table.query_where(condition, names={"#pk": "gsi2pk", "#sk": "gsi2sk"}, values=values,
                                       index="gsi2", limit=limit, start_key=start_key)

    # ---- transitions ----------------------------------------------------------------------

    def _transition(self, order: Order, *, to_status: str, sets: dict[str, Any], history: HistoryEntry | None,
                    extra: Sequence[Write] = (), check_version: bool = False,
                    removes: Sequence[str] = ()) -> Item | None:
        """The order's conditional update with its history entry (None: implied by the order) and ``extra``
        in one transaction; alone, a single conditional update (billed once, not twice). A failed
        condition raises ``TransactionCancelled`` either way.

        Returns the order item as the write left it: the single update's own answer, or, for a
        transaction conditional on the version read, the item read with the changes applied (the
        condition proves nothing else changed it); None for a transaction without that condition."""
        names = {"#status": "status", "#version": "version"}
        values: dict[str, Any] = {":from": order.status, ":to": to_status, ":one": 1, ":zero": 0}
        assignments = ["#status = :to", "#version = if_not_exists(#version, :zero) + :one"]
        # The order's own entry in the by-status list moves in the same write (no entry item apart).
        listed = order_status_index(to_status)
        for index, (name, value) in enumerate({**sets, **listed}.items()):
            names[f"#s{index}"] = name
            values[f":s{index}"] = value
            assignments.append(f"#s{index} = :s{index}")
        condition = "#status = :from"
        if check_version:
            values[":v"] = order.version
            condition += " AND #version = :v"
        update = "SET " + ", ".join(assignments)
        if removes:
            update += " REMOVE " + ", ".join(removes)
        writes = [*([put_history(self._table.name, order.order_id, history)] if history is not None else []), *extra]
        if not writes:
            try:
                return self._table.update(order_key(order.order_id), update, condition=condition, names=names,
                                          values=values)
            except ConditionFailed as exc:
                raise TransactionCancelled(["ConditionalCheckFailed"], [exc.item]) from exc
        self._table.transact([
            Write.update(self._table.name, order_key(order.order_id), update, condition=condition, names=names,
                         values=values),
            *writes,
        ])
        if not check_version:
            return None
        written = {key: value for key, value in order.extra.items() if key not in removes}
        return {**written, "status": to_status, "version": int(order.extra.get("version") or 0) + 1, **sets, **listed}

    def ship(self, order: Order, *, carrier: str, tracking_no: str, now: datetime, by: str,
             audit: AuditEntry | None = None, also: Sequence[Write] = (),
             parcel_count: int | None = None) -> Item | None:
        """PAID → SHIPPED (conditional on the version read: refunds held meanwhile are seen), with the
        admin's audit entry in the same transaction, and ``also`` (the parcels and the upload request
        of mall.dal.shipping). Returns the order item as written."""
        at = iso(now)
        counted = {"parcel_count": parcel_count} if parcel_count is not None else {}
        # The order itself is the auto-confirm entry (sparse gsi2) while SHIPPED: an entry item apart
        # cost a put and a delete per order, each billed twice in its transaction and again for its
        # index entry.
        return self._transition(
            order, to_status=OrderStatus.SHIPPED,
            sets={"shipped_at": at, "carrier": carrier, "tracking_no": tracking_no,
                  "gsi2pk": AUTO_CONFIRM_PARTITION, "gsi2sk": f"{at}#{order.order_id}", **counted},
            history=self.shipped_entry(carrier=carrier, tracking_no=tracking_no, now=now, by=by),
            extra=[*self._audit(audit, now), *also], check_version=True,
        )

    @staticmethod
    def shipped_entry(*, carrier: str, tracking_no: str, now: datetime, by: str) -> HistoryEntry:
        """The history entry ``ship`` writes."""
        return HistoryEntry(OrderStatus.SHIPPED, iso(now), by, f"{carrier} {tracking_no}")

    def correct_shipment(self, order: Order, *, carrier: str, tracking_no: str, parcel_count: int, now: datetime,
                         by: str, audit: AuditEntry | None = None, also: Sequence[Write] = ()) -> Item | None:
        """A shipped order's parcels replaced (the one change WeChat allows): still SHIPPED, conditional
        on the version read, with a history entry, the audit entry and ``also`` (the parcels, the upload).
        Returns the order item as written."""
        return self._transition(
            order, to_status=OrderStatus.SHIPPED,
            sets={"carrier": carrier, "tracking_no": tracking_no, "parcel_count": parcel_count},
            history=self.corrected_entry(carrier=carrier, tracking_no=tracking_no, now=now, by=by),
            extra=[*self._audit(audit, now), *also], check_version=True,
        )

    @staticmethod
    def corrected_entry(*, carrier: str, tracking_no: str, now: datetime, by: str) -> HistoryEntry:
        """The history entry ``correct_shipment`` writes."""
        return HistoryEntry(OrderStatus.SHIPPED, iso(now), by, f"shipment corrected: {carrier} {tracking_no}")

    def complete(self, order: Order, *, completed_by: str, now: datetime, by: str, note: str | None = None,
                 audit: AuditEntry | None = None) -> Item | None:
        """PAID/SHIPPED → COMPLETED, leaving the auto-confirm index in the same write (an admin's
        audit entry in the same transaction). Returns the order item as written when alone in its
        write (its history entry implied by it), else None."""
        at = iso(now)
        sets = {"completed_at": at, "completed_by": completed_by}
        if completed_by == "verify":
            sets["service_verified_at"] = at
        entry = HistoryEntry(OrderStatus.COMPLETED, at, by, note)
        return self._transition(
            order, to_status=OrderStatus.COMPLETED, sets=sets,
            history=None if completion_implied(order, entry, completed_by=completed_by) else entry,
            extra=self._audit(audit, now), removes=("gsi2pk", "gsi2sk"),
            # A 核销 and the schedule decided on the order as read (the schedule on its countdown,
            # which a delivery moves).
            check_version=completed_by in ("verify", "auto"),
        )

    def verify_service_lines(self, order: Order, *, now: datetime, by: str, audit: AuditEntry | None = None) -> None:
        """A mixed order's 核销: ``service_verified_at`` set once (the status stays), conditional on
        the version read (a refund held meanwhile is seen), with a history entry and the audit."""
        at = iso(now)
        self._table.transact([
            Write.update(self._table.name, order_key(order.order_id),
                         "SET service_verified_at = :at, #version = #version + :one",
                         condition="#status = :status AND #version = :v AND attribute_not_exists(service_verified_at)",
                         names={"#status": "status", "#version": "version"},
                         values={":at": at, ":one": 1, ":status": order.status, ":v": order.version}),
            put_history(self._table.name, order.order_id,
                        HistoryEntry(order.status, at, by, "核销 code verified: service lines completed")),
            *self._audit(audit, now),
        ])

    def _audit(self, audit: AuditEntry | None, now: datetime) -> list[Write]:
        return [AuditLog(self._table).write(audit, now)] if audit is not None else []

    def drop_auto_confirm_entry(self, order_id: str) -> None:
        """Take an order that is no longer SHIPPED out of the auto-confirm index (a no-op when it is)."""
        leave_index_entry(self._table, order_id, entry=AUTO_CONFIRM_PARTITION, while_status=OrderStatus.SHIPPED)

    # ---- 核销 code ---------------------------------------------------------------------------

    def save_verify_code(self, order_id: str, *, code_hash: str, code_enc: str) -> Item | None:
        """Store the code once. Returns None when stored, else the order item holding the first one."""
        try:
            self._table.update(
                order_key(order_id),
                "SET verify_code_hash = :h, verify_code_enc = :e, #version = if_not_exists(#version, :zero) + :one",
                condition="attribute_exists(pk) AND attribute_not_exists(verify_code_hash)",
                names={"#version": "version"}, values={":h": code_hash, ":e": code_enc, ":one": 1, ":zero": 0},
            )
        except ConditionFailed as exc:
            return exc.item
        return None

    def record_wrong_code(self, order_id: str) -> int:
        item = self._table.update(order_key(order_id), "ADD verify_failed_attempts :one "
                                  "SET #version = if_not_exists(#version, :zero) + :one",
                                  condition="attribute_exists(pk)", names={"#version": "version"},
                                  values={":one": 1, ":zero": 0})
        return int(item.get("verify_failed_attempts", 0))

    def lock_verify(self, order_id: str, until: datetime) -> None:
        self._table.update(order_key(order_id),
                           "SET verify_locked_until = :u, verify_failed_attempts = :zero, "
                           "#version = if_not_exists(#version, :zero) + :one",
                           condition="attribute_exists(pk)", names={"#version": "version"},
                           values={":u": iso(until), ":zero": 0, ":one": 1})

    # ---- the admin's by-status entries ----------------------------------------------------

    def project_status(self, order_item: Item) -> bool:
        """Upsert the ``STATUS`` entry from an order item's image; an older image never overwrites a
        newer one (``version``). Returns False when a newer entry was already there."""
        order = order_from_item(order_item)
        entry = {
            "pk": order_pk(order.order_id), "sk": STATUS_SK, "entity": "order_status_index",
            "gsi1pk": order_status_partition(order.status), "gsi1sk": f"{order.created_at}#{order.order_id}",
            **status_summary(order_item), "version": order.version,
        }
        try:
            self._table.put(entry, condition="attribute_not_exists(pk) OR #version < :v",
                            names={"#version": "version"}, values={":v": order.version})
        except ConditionFailed:
            return False
        return True

