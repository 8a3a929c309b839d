"""The order repository: orders, their status history, the unpaid index and per-user purchase counters
(docs/data-model.md, "orders and payment"); shipping, receipt and 核销 come from its base class
``mall.dal.fulfilment.OrderAfterPayment``, the items and keys from ``mall.dal.order_items``, the purchase
counters' writes from ``mall.dal.purchase_counters``, the unpaid orders' Query from ``mall.dal.unpaid_orders``.

Every change of an order is ONE transaction, conditional on the status it expects, so a transition
happens exactly once however many deliveries, retries or overlapping runs attempt it. A
transaction cancelled only because another transaction held one of its items at that instant
(``TransactionConflict``, e.g. many buyers on one product's stock item) is retried with jitter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from mall.clock import iso
from mall.config import OrderStatusList
from mall.dal.fulfilment import OrderAfterPayment
from mall.dal.keys import (
    ORDER_SK,
    UNPAID_INDEX,
    buyer_partition,
    customer_profile_key,
    order_address_key,
    order_key,
    order_status_index,
    refund_key,
)
from mall.dal.order_items import (
    EXPIRED_NOTE,
    IMPLIED_HISTORY,
    PAID_IMPLIED,
    PaymentBasisWrites,
    PlacementRefused,
    ProductCatalog,
    SkuLimit,
    UnpaidMarker,
    address_context,
    address_item,
    history_implied,
    history_item,
    is_order_item,
    leave_index_entry,
    order_from_item,
    paid_entry,
    placing_writes,
    with_address,
)
from mall.dal.purchase_counters import (
    NOT_RESERVED,
    not_reserved_lines,
    paid_counters,
    purchase_reserved_for_all,
    released_counters,
    reservation,
    sku_reservation,
)
from mall.dal.retry import retry_conflicts
from mall.dal.table import ConditionFailed, Item, Table, TransactionCancelled, Write
from mall.dal.unpaid_orders import unpaid_markers
from mall.domain.orders import Order, OrderStatus
from mall.errors import Conflict

_CONFLICT_RETRIES = 12


class OrderRepository(OrderAfterPayment):
    """The one repository of orders: placing, payment and expiry here; after payment in the base class."""

    def __init__(self, table: Table, *, status_list: OrderStatusList = "index") -> None:
        self._table = table
        self._status_list = status_list

    @property
    def table(self) -> Table:
        return self._table

    @property
    def table_name(self) -> str:
        """The table's name, for writes other modules compose into this repository's transactions."""
        return str(self._table.name)

    # ---- reads ----------------------------------------------------------------------------------

    def get(self, order_id: str, *, consistent: bool = True) -> Order | None:
        item = self._table.get(order_key(order_id), consistent=consistent)
        return order_from_item(item) if item and item.get("entity", "order") == "order" else None

    def get_item(self, order_id: str, *, consistent: bool = True) -> Item | None:
        return self._table.get(order_key(order_id), consistent=consistent)

    def get_with_address(self, order_id: str) -> Order | None:
        """The order with its delivery address (kept in an item apart): one BatchGetItem."""
        apart_key = order_address_key(order_id)
        found = {str(i["sk"]): i for i in self._table.batch_get([order_key(order_id), apart_key], consistent=True)}
        item = found.get(ORDER_SK)
        if item is None or item.get("entity", "order") != "order":
            return None
        return order_from_item(with_address(item, found.get(str(apart_key["sk"]))))

    def address_of(self, order: Order) -> dict[str, Any] | None:
        """The delivery address of an order already read without it: its own (orders placed before
        the address was kept apart), else its address item's, read alone, never the order again.
        Consistent: what reads it (the upload of a shipment to WeChat, the parcels' tracking) sends the
        phone on, and may run after the order is received (a retry), when an erasure may have just
        replaced the address; a lagging read would send the phone the customer had erased."""
        if order.address is not None:
            return order.address
        apart = self._table.get(order_address_key(order.order_id), consistent=True)
        address = apart.get("address") if apart else None
        return address if isinstance(address, dict) else None

    @property
    def unpaid_from_status_list(self) -> bool:
        """Whether the expiry and reconciliation schedules find unpaid orders in the by-status list's
        gsi3 (``ORDERS#CREATED``, sorted by creation), which holds every order at every stage that
        reads it, rather than in the sparse gsi2 partition ``UNPAID_ORDERS`` (``entries``, before the
        gsi3 backfill)."""
        return self._status_list != "entries"

    @property
    def places_into_unpaid_entry(self) -> bool:
        """Whether a placement still puts the order into gsi2 ``UNPAID_ORDERS``: while the deploy can go
        back to the stage that reads it (every stage but the last)."""
        return self._status_list != "index"

    def unpaid_due(self, *, placed_until: datetime, expiring_until: datetime,
                   limit: int = 100) -> list[UnpaidMarker]:
        """Unpaid orders, oldest first: from the by-status list (``unpaid_from_status_list``) those placed
        at or before ``placed_until``, else those expiring at or before ``expiring_until``
        (``mall.dal.unpaid_orders``)."""
        return unpaid_markers(self._table, from_status_list=self.unpaid_from_status_list, placed_until=placed_until,
                              expiring_until=expiring_until, limit=limit)

    # ---- place ----------------------------------------------------------------------------------

    def place(self, fields: Mapping[str, Any], *, stock_writes: Mapping[str, Write],
              limits: Mapping[str, int | None], quantities: Mapping[str, int], now: datetime,
              extra_writes: Sequence[Write] = (), sku_limits: Sequence[SkuLimit] = ()) -> None:
        """ONE transaction: the order (``fields`` as stored, under its keys and in the buyer's list),
        its first history item unless the order implies it (``IMPLIED_HISTORY``; the order is its own
        unpaid entry), per product the conditional stock decrement and, for a product with a per-user
        limit (every product while ``purchase_reserved_for_all``), the purchase counter conditional on
        that limit (the order names the others' lines: ``NOT_RESERVED``), and per SKU with a limit of
        its own its counter (conditional on that limit).

        Raises ``PlacementRefused`` naming the product whose stock or limit refused."""
        order_id = str(fields["order_id"])
        buyer_id = str(fields["buyer_id"])
        address = fields.get("address")
        # Kept apart (``mall.dal.order_items``); the merchant's order number is the order id unless
        # it says otherwise (readers fall back to the id).
        order_item: Item = {**order_key(order_id), "entity": "order",
                            **{k: v for k, v in fields.items()
                               if k != "address" and not (k == "out_trade_no" and v == order_id)},
                            "gsi1pk": buyer_partition(buyer_id), "gsi1sk": f"{fields['created_at']}#{order_id}",
                            # The admin's by-status list (gsi3), moved by every write of the status: the
                            # expiry and reconciliation schedules find unpaid orders there too. A gsi2
                            # entry of its own would cost an index write here and another when it leaves
                            # CREATED; only while the deploy can go back to reading gsi2 is it put there.
                            **order_status_index(OrderStatus.CREATED),
                            **({"gsi2pk": UNPAID_INDEX, "gsi2sk": f"{fields['expires_at_order']}#{order_id}"}
                               if self.places_into_unpaid_entry else {})}
        # Only a limit reads the counter's reservation before the order is paid (the placement's check,
        # the cart): a product without one is counted by the update of its counter the payment makes
        # anyway, and this transaction writes no counter for it (2 units a product).
        reserve_all = purchase_reserved_for_all()
        unreserved = not_reserved_lines(fields.get("lines") or [],
                                        lambda pid: reserve_all or limits.get(pid) is not None)
        if unreserved is not None:
            order_item[NOT_RESERVED] = unreserved
        name = self._table.name
        writes = placing_writes(name, order_item, now=now)
        roles: list[tuple[str, str]] = [("order", ""), *[("history", "")] * (len(writes) - 1)]
        if isinstance(address, Mapping):
            writes.append(Write.put(name, address_item(order_id, address, buyer_id=buyer_id,
                                                       created_at=str(fields["created_at"])),
                                    condition="attribute_not_exists(pk)"))
            roles.append(("address", ""))
        for product_id, quantity in quantities.items():
            writes.append(stock_writes[product_id])
            roles.append(("stock", product_id))
            limit = limits.get(product_id)
            if limit is not None or reserve_all:
                writes.append(reservation(name, buyer_id, product_id, quantity, limit=limit))
                roles.append(("purchase_limit", product_id))
        for counted in sku_limits:
            writes.append(sku_reservation(name, buyer_id, counted))
            roles.append(("sku_limit", f"{counted.product_id}#{counted.sku_id}"))
        for extra in extra_writes:  # puts of other sections (the fraud scan's feed entry, an idempotency marker)
            writes.append(extra)
            roles.append(("extra", ""))
        try:
            retry_conflicts(lambda: self._table.transact(writes), attempts=_CONFLICT_RETRIES)
        except TransactionCancelled as exc:
            if any(roles[index][0] == "extra" for index in exc.conditional_failures):
                raise  # an extra write's own condition (a request's idempotency marker): the caller's to read
            for index in exc.conditional_failures:
                kind, product_id = roles[index]
                if kind in {"stock", "purchase_limit"}:
                    raise PlacementRefused(kind, product_id, exc.items[index]) from exc
                if kind == "sku_limit":
                    pid, sku_id = product_id.rsplit("#", 1)
                    raise PlacementRefused("purchase_limit", pid, exc.items[index], sku_id=sku_id) from exc
            if any(reason == "TransactionConflict" for reason in exc.reasons):
                raise Conflict("too many orders for this product at this instant; retry",
                               code="order_contention") from exc
            raise

    # ---- payment --------------------------------------------------------------------------------

    def mark_paid(self, order: Order, *, transaction_id: str, paid_at: datetime, now: datetime,
                  basis: PaymentBasisWrites | None = None) -> bool:
        """CREATED → PAID with the buyer's paid counters and the payment's history entry (at ``paid_at``,
        the time the buyer paid; implied by an order marked ``IMPLIED_HISTORY``), in one transaction.
        False when the order was no longer CREATED (another delivery won), or when ``basis`` was decided
        from a state that changed before the commit (the caller reads and decides again)."""
        name = self._table.name
        profile_set = ("SET first_paid_order_id = if_not_exists(first_paid_order_id, :oid), "
                       "first_paid_at = if_not_exists(first_paid_at, :now)")
        profile_values: dict[str, Any] = {":one": 1, ":amount": order.amount_fen, ":oid": order.order_id,
                                          ":now": iso(now)}
        profile_condition = None
        if basis is not None:
            # The first paid order is what a first_payment binding is decided from: the basis holds
            # only if no other order became the buyer's first paid order since it was read.
            profile_condition = ("attribute_not_exists(first_paid_order_id)" if basis.first_paid_seen is None
                                 else "first_paid_order_id = :seen_first")
            if basis.first_paid_seen is not None:
                profile_values[":seen_first"] = basis.first_paid_seen
            if basis.parent_guard is not None:  # the buyer's binding has the parent the basis read
                (parent,) = basis.parent_guard
                profile_condition += (" AND attribute_not_exists(bound_parent)" if parent is None
                                      else " AND bound_parent = :seen_parent")
                if parent is not None:
                    profile_values[":seen_parent"] = parent
            if basis.claims_sharer_id is not None:
                profile_set += ", first_payment_sharer_id = :sharer"
                profile_values[":sharer"] = basis.claims_sharer_id
        # An order marked IMPLIED_HISTORY gives the payment's entry back from ``paid_at`` and
        # ``transaction_id`` (the update sets the mark to PAID_IMPLIED): one put less.
        implied = history_implied(order)
        entry = paid_entry(transaction_id, paid_at=paid_at)
        writes = [
            self._payment_update(order, OrderStatus.CREATED, OrderStatus.PAID, transaction_id=transaction_id,
                                 paid_at=paid_at, attribution=basis.attribution if basis is not None else None,
                                 mark=PAID_IMPLIED if implied else None),
            *([] if implied else [Write.put(name, history_item(order.order_id, entry.status, at=entry.at, by=entry.by,
                                                               note=entry.note))]),
            Write.update(name, customer_profile_key(order.buyer_id),
                         "ADD paid_order_count :one, paid_total_fen :amount " + profile_set,
                         condition=profile_condition, values=profile_values),
            *(basis.writes if basis is not None else ()),
        ]
        # A product the placement did not reserve is reserved now, in the counter's same update.
        writes += paid_counters(name, order)
        return self._conditional(writes)

    def mark_paid_after_expiry(self, order: Order, *, transaction_id: str, paid_at: datetime, refund_id: str,
                               now: datetime) -> bool:
        """EXPIRED → PAID_AFTER_EXPIRY and the PROCESSING full refund item, in one transaction.
        Stock stays released and the buyer's paid counters are untouched: the money goes back."""
        name = self._table.name
        refund = {
            **refund_key(order.order_id, refund_id), "entity": "refund",
            "refund_id": refund_id, "order_id": order.order_id, "buyer_id": order.buyer_id,
            "kind": "paid_after_expiry", "status": "PROCESSING", "amount_fen": order.amount_fen, "lines": [],
            "reason": "paid after the order expired (订单超时关闭后支付，自动全额退款)", "created_at": iso(now),
            "decided_by": "system", "decided_at": iso(now), "transaction_id": transaction_id,
            "gsi1pk": "REFUNDS#PROCESSING", "gsi1sk": f"{iso(now)}#{refund_id}", "version": 1,
        }
        writes = [
            self._payment_update(order, OrderStatus.EXPIRED, OrderStatus.PAID_AFTER_EXPIRY,
                                 transaction_id=transaction_id, paid_at=paid_at),
            Write.put(name, history_item(order.order_id, OrderStatus.PAID_AFTER_EXPIRY, at=now, by="wechatpay",
                                         note=f"transaction {transaction_id}; full refund {refund_id}")),
            Write.put(name, refund, condition="attribute_not_exists(pk)"),
        ]
        return self._conditional(writes)

    def refund_item(self, order_id: str, refund_id: str) -> Item | None:
        """The order's refund item as stored (``ORDER#<id>/REFUND#<refund_id>``), read consistently."""
        return self._table.get(refund_key(order_id, refund_id), consistent=True)

    def record_refund_started(self, order_id: str, refund_id: str, *, wechat_refund_id: str, now: datetime) -> None:
        """Remember WeChat Pay's refund id on our refund item (once; later calls change nothing)."""
        try:
            self._table.update(refund_key(order_id, refund_id),
                               "SET wechat_refund_id = :w, refund_requested_at = :now",
                               condition="attribute_exists(pk) AND attribute_not_exists(wechat_refund_id)",
                               values={":w": wechat_refund_id, ":now": iso(now)})
        except ConditionFailed:
            return

    # ---- expiry ---------------------------------------------------------------------------------

    def expire(self, order: Order, *, release_writes: Sequence[Write], now: datetime) -> bool:
        """CREATED → EXPIRED, stock and the purchase counters its placement reserved released (not those
        of ``NOT_RESERVED`` lines), in one transaction conditional on CREATED: two overlapping runs
        release once. False when the order had already moved on."""
        name = self._table.name
        writes: list[Write] = [
            Write.update(name, order_key(order.order_id),
                         "SET #s = :expired, expired_at = :now, gsi3pk = :g3p "
                         "ADD version :one REMOVE gsi2pk, gsi2sk",
                         condition="#s = :created", names={"#s": "status"},
                         values={":expired": OrderStatus.EXPIRED.value, ":created": OrderStatus.CREATED.value,
                                 ":now": iso(now), ":one": 1, **_listed(OrderStatus.EXPIRED)}),
            # An order marked IMPLIED_HISTORY gives its expiry's entry back from ``expired_at`` (stored
            # all the same while ORDER_HISTORY_STORED: a rollback's migration then misses none).
            *([] if history_implied(order) else [
                Write.put(name, history_item(order.order_id, OrderStatus.EXPIRED, at=now, by="system",
                                             note=EXPIRED_NOTE))]),
            *release_writes,
        ]
        coupon = order.extra.get("coupon") if order.extra else None
        if coupon:  # the order's coupon goes back to the buyer, once: this transaction holds only from CREATED
            # Imported here: only an expiring order with a coupon needs the coupons' repository and rules.
            from mall.dal.coupons import CouponRepository

            writes.append(CouponRepository(self._table).give_back_write(order.buyer_id, str(coupon["coupon_id"]),
                                                                        order_id=order.order_id))
        writes += released_counters(name, order)
        return self._conditional(writes)

    def drop_marker(self, order_id: str) -> None:
        """Take an order that is no longer CREATED out of gsi2 ``UNPAID_ORDERS`` (a no-op when it is).
        Only the schedule that reads gsi2 finds such leftovers: gsi3 holds an order under its current
        status, and every transition that leaves CREATED removes ``gsi2pk`` in its own write."""
        if self.unpaid_from_status_list:
            return
        leave_index_entry(self._table, order_id, entry=UNPAID_INDEX, while_status=OrderStatus.CREATED)

    # ---- plumbing -------------------------------------------------------------------------------

    def _payment_update(self, order: Order, expected: OrderStatus, to: OrderStatus, *, transaction_id: str,
                        paid_at: datetime, attribution: Mapping[str, Any] | None = None,
                        mark: int | None = None) -> Write:
        """The order's side of recording a payment: ``expected`` → ``to`` with the transaction (and the
        attribution decided at payment, replacing the one seen when it was placed; ``mark``: the
        order's new ``IMPLIED_HISTORY`` value)."""
        # No ``updated_at``: nothing reads it, and its 30 bytes took a one-line order over 1 KB at
        # shipment (each later write of it billed double).
        values: dict[str, Any] = {":to": to.value, ":expected": expected.value, ":paid_at": iso(paid_at),
                                  ":tx": transaction_id, ":one": 1, **_listed(to)}
        extra = ""
        if attribution is not None:
            extra = ", attribution = :attribution"
            values[":attribution"] = dict(attribution)
        if mark is not None:
            extra += ", #implied = :implied"
            values[":implied"] = mark
        return Write.update(self._table.name, order_key(order.order_id),
                            "SET #s = :to, paid_at = :paid_at, transaction_id = :tx, "
                            f"gsi3pk = :g3p{extra} ADD version :one REMOVE gsi2pk, gsi2sk",
                            condition="#s = :expected",
                            names={"#s": "status", **({"#implied": IMPLIED_HISTORY} if mark is not None else {})},
                            values=values)

    def _conditional(self, writes: Sequence[Write]) -> bool:
        try:
            retry_conflicts(lambda: self._table.transact(writes), attempts=_CONFLICT_RETRIES)
        except TransactionCancelled as exc:
            if exc.conditional_failures:
                return False
            raise
        return True


def _listed(status: OrderStatus) -> dict[str, str]:
    """Expression value ``:g3p``: the order's by-status entry (gsi3) in ``status``, set in the write
    that changes the status (its sort key is the order's ``gsi1sk``, set when it was placed)."""
    return {":g3p": order_status_index(status)["gsi3pk"]}


__all__ = ["OrderRepository", "PaymentBasisWrites", "PlacementRefused", "ProductCatalog", "TransactionCancelled",
           "UnpaidMarker", "address_context", "is_order_item"]
