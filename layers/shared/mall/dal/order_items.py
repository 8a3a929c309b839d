"""The order's items under its partition ``ORDER#<order_id>`` and the keys around it (docs/data-model.md,
"orders and payment", "after payment"; the keys: ``mall.dal.keys.orders``): the stored order read back as the one
``mall.domain.orders.Order``, history items, and the values ``mall.dal.orders.OrderRepository`` passes.

Items of the order's partition:

- the order itself (``sk=ORDER``, written when the order is placed): every change is a conditional
  update from the expected ``status``, ``version`` + 1;
- ``HISTORY#<at>#<status>``: one per transition, in the same transaction, but for the entries an order
  marked ``IMPLIED_HISTORY`` gives back from its own fields (placing, expiry, the buyer's or WeChat's
  receipt, and its payment once the mark is ``PAID_IMPLIED``: ``implied_history``);
- ``ADDRESS``: the delivery address (encrypted fields and fingerprints), put once with the order and
  never changed but by an erasure. Kept apart because the order item is rewritten at every
  transition and DynamoDB bills each write per started KB of the whole item (twice in a
  transaction, again for its index entry): the address alone is a third of a one-line order.
  Orders placed before carry ``address`` themselves; readers take either (``with_address``);
- ``AUTOCONFIRM``: put when the order ships, deleted when it completes; its gsi1 entry
  ``AUTOCONFIRM`` / ``<shipped_at>#<order_id>`` is what the auto-confirm schedule queries (no scans);
- ``STATUS``: the admin's by-status list entry, gsi1 ``ORDERS#<status>`` / ``<created_at>#<order_id>``,
  kept by the order stream worker from every change of the order item (whoever made it), until the
  order item's own gsi3 entry (same keys, set by every write of its status) replaces it;
- ``REFUND#<refund_id>``: refunds (``mall.dal.refunds``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from mall.clock import iso
from mall.config import function_environment
from mall.dal.keys import (
    ORDER_SK,
    buyer_address_sort_key,
    buyer_partition,
    order_address_key,
    order_history_sk,
    order_key,
    order_pk,
)
from mall.dal.table import ConditionFailed, Item, Table, Write
from mall.domain.fulfilment import HistoryEntry
from mall.domain.orders import PHYSICAL, Order, OrderLine, OrderStatus, PricedLine

if TYPE_CHECKING:
    # Annotations only: reading an order does not load the catalog's repositories.
    from mall.dal.catalog.products import SkuTake


def is_order_item(item: Mapping[str, Any]) -> bool:
    """Whether a stored item (a stream image, say) is an order's own record, not another item of its
    partition (its by-status entry, a refund, a commission record)."""
    return item.get("entity") == "order" and item.get("sk") == ORDER_SK


#: Set (never stored) on an order item read together with its address item: the address is
#: written back there, not on the order (``mall.dal.erasure``).
ADDRESS_APART = "_address_apart"


def address_indexed() -> bool:
    """``ORDER_ADDRESS_INDEXED``: a new address item is put with its gsi1 entry (``address_index``), for
    erasures still running code that reads an address item without one in a round trip more (the first
    deploy of a release whose erasure derives the item's key from the order: ``has_address_item``)."""
    return function_environment().order_address_indexed


def address_item(order_id: str, address: Mapping[str, Any], *, buyer_id: str | None = None,
                 created_at: str | None = None) -> Item:
    """``ORDER#<id> / ADDRESS``: the order's delivery address, apart from the order. Given the buyer
    and the order's time, and while ``address_indexed``, it is also under gsi1 ``BUYER#<uid>``
    (``address_index``): an index entry is a write unit more, and the erasure finds the item from the
    order anyway."""
    item: Item = {**order_address_key(order_id), "entity": "order_address", "order_id": order_id,
                  "address": dict(address)}
    if buyer_id and created_at and address_indexed():
        item.update(address_index(order_id, buyer_id=buyer_id, created_at=created_at))
    return item


def address_index(order_id: str, *, buyer_id: str, created_at: str) -> dict[str, str]:
    """gsi1 ``BUYER#<uid>`` / ``!ADDRESS#<created_at>#<order_id>`` on an order's address item: the
    erasure request reads a buyer's orders and these addresses in one Query (sorted after the orders
    in a newest-first list, which filters on the order entity anyway). Put by a placement while
    ``address_indexed``, and by the erasure on an address item it erases, so that a repeated request
    reads it back erased."""
    return {"gsi1pk": buyer_partition(buyer_id), "gsi1sk": buyer_address_sort_key(created_at, order_id)}


def has_address_item(order: Mapping[str, Any]) -> bool:
    """Whether a stored order item has an address item (``ORDER#<id> / ADDRESS``): a line of it is
    physical (placing such an order requires an address and puts the item in the placing transaction)
    and it carries no ``address`` of its own (an order placed before the address was kept apart keeps
    it until ``order_addresses_apart`` moves it, in one transaction with putting the item)."""
    lines = order.get("lines") or []
    return order.get("address") is None and any(
        isinstance(line, Mapping) and line.get("type") == PHYSICAL for line in lines)


def with_address(order: Item, apart: Item | None) -> Item:
    """The order item as readers expect it, with its ``address``: its own (orders placed before
    the address was kept apart) or the one of its address item."""
    if apart is None or order.get("address") is not None:
        return order
    return {**order, "address": apart.get("address"), ADDRESS_APART: True}


def address_context(order_id: str) -> str:
    """The associated data the order's encrypted address fields are sealed with (``mall.integrations.pii_crypto``): the
    order's own partition key, so a token copied onto another order does not open. Placing the order
    encrypts with it; every view and the admin's reveal decrypt with it."""
    return order_pk(order_id)


def leave_index_entry(table: Table, order_id: str, *, entry: str, while_status: OrderStatus) -> None:
    """Take the order out of the sparse gsi2 entry ``entry`` (unpaid, auto-confirm) once it has left
    ``while_status``; a no-op while it is still in that status or already out."""
    try:
        table.update(order_key(order_id), "REMOVE gsi2pk, gsi2sk",
                     condition="attribute_exists(pk) AND #s <> :status AND gsi2pk = :entry",
                     names={"#s": "status"}, values={":status": while_status.value, ":entry": entry})
    except ConditionFailed:
        return


def history_item(order_id: str, status: str, *, at: datetime | str, by: str, note: str | None = "") -> Item:
    """``ORDER#<id> / HISTORY#<at>#<status>``: one per transition, written in its transaction."""
    when = at if isinstance(at, str) else iso(at)
    value = str(OrderStatus(status))
    return {"pk": order_pk(order_id), "sk": order_history_sk(when, value), "entity": "order_history",
            "order_id": order_id, "status": value, "at": when, "by": by, "note": note}


def put_history(table: str, order_id: str, entry: HistoryEntry) -> Write:
    item = history_item(order_id, entry.status, at=entry.at, by=entry.by, note=entry.note)
    return Write.put(table, item, condition="attribute_not_exists(pk)")


def history_from_item(item: Item) -> HistoryEntry:
    return HistoryEntry(status=item["status"], at=item["at"], by=item.get("by", ""), note=item.get("note"))


#: On an order item: its placing entry, its expiry's, and its receipt entry when the buyer or WeChat
#: confirmed it, are not stored as ``HISTORY#`` items but read from the order's own fields
#: (``implied_history``). Each such item was a put billed twice in its transaction, and the receipt's
#: was the only other item of its transaction. The name is short because the order item is rewritten
#: at every transition and must stay under 1 KB.
IMPLIED_HISTORY = "ih"
#: The mark's value (1 when placed) once the payment's entry is implied too: set by the payment that
#: stores no ``PAID`` item. Code that knows only the value 1 reads any value as 1 and would show no
#: payment, so it is written only once every function reads it (``ORDER_HISTORY_STORED`` = 0); the
#: same number of digits, so the order item keeps its size.
PAID_IMPLIED = 2
PLACED_NOTE = "order placed"
EXPIRED_NOTE = "not paid in time; stock released"
#: Who records a payment in the history: WeChat Pay's notification, or the reconciliation or expiry job
#: that asked WeChat Pay, all through ``mall.services.payments.apply_payment``.
PAID_BY = "wechatpay"
#: ``completed_by`` → the note of the receipt's history entry (its ``by`` is ``completed_by`` itself), for
#: the completions whose entry is read from the order (an admin's or the schedule's is still stored).
IMPLIED_COMPLETIONS: dict[str, str] = {"buyer": "receipt confirmed",
                                       "wechat": "receipt confirmed in WeChat (确认收货)"}


def placed_entry(buyer_id: str, *, at: datetime | str) -> HistoryEntry:
    """The history entry of placing an order (stored, or implied by an order marked ``IMPLIED_HISTORY``)."""
    return HistoryEntry(OrderStatus.CREATED.value, at if isinstance(at, str) else iso(at), buyer_id, PLACED_NOTE)


def paid_entry(transaction_id: str, *, paid_at: datetime | str) -> HistoryEntry:
    """The history entry of a payment (CREATED → PAID), stored or implied alike: at ``paid_at``, the time
    the buyer paid as WeChat Pay reports it (its ``success_time``; the time it was recorded when WeChat
    Pay gives none), which is the order's ``paid_at`` too."""
    return HistoryEntry(OrderStatus.PAID.value, paid_at if isinstance(paid_at, str) else iso(paid_at), PAID_BY,
                        f"transaction {transaction_id}")


def history_stored() -> bool:
    """``ORDER_HISTORY_STORED``: every transition stores its history entry (the first deploy of a release
    whose orders imply more of their entries, while code that reads only stored entries still runs)."""
    return function_environment().order_history_stored


def history_implied(order: Order) -> bool:
    """Whether a transition of ``order`` may leave its history entry to be read from the order (placing,
    expiry, payment — the payment then sets the mark to ``PAID_IMPLIED`` —, a buyer's or WeChat's
    receipt): the order is marked ``IMPLIED_HISTORY`` and entries are not all being stored."""
    return bool(order.extra.get(IMPLIED_HISTORY)) and not history_stored()


def placing_writes(table: str, order_item: Item, *, now: datetime) -> list[Write]:
    """The put of a new order and, while every entry is stored (``history_stored``), its placing history
    item; otherwise the order is marked ``IMPLIED_HISTORY``: one put less."""
    stored = history_stored()
    if not stored:
        order_item[IMPLIED_HISTORY] = 1
    writes = [Write.put(table, order_item, condition="attribute_not_exists(pk)")]
    if stored:
        placed = placed_entry(str(order_item["buyer_id"]), at=now)
        writes.append(Write.put(table, history_item(str(order_item["order_id"]), placed.status, at=placed.at,
                                                    by=placed.by, note=placed.note)))
    return writes


def completion_implied(order: Order, entry: HistoryEntry, *, completed_by: str) -> bool:
    """Whether completing ``order`` with history ``entry`` leaves the entry to be read from the order
    (``history_implied``): completed for the first time, by one of ``IMPLIED_COMPLETIONS``, with exactly
    the entry the order's fields give back."""
    return (history_implied(order) and order.completed_at is None
            and entry == HistoryEntry(OrderStatus.COMPLETED.value, entry.at, completed_by,
                                      IMPLIED_COMPLETIONS.get(completed_by)))


def implied_history(order: Mapping[str, Any]) -> list[HistoryEntry]:
    """The history entries an order item implies instead of storing them (none unless it is marked
    ``IMPLIED_HISTORY``): its placing, its expiry, its payment (marked ``PAID_IMPLIED``), and its
    completion by the buyer or WeChat."""
    mark = order.get(IMPLIED_HISTORY)
    if not mark:
        return []
    entries = [placed_entry(str(order["buyer_id"]), at=str(order["created_at"]))]
    if int(mark) >= PAID_IMPLIED and order.get("paid_at") and order.get("transaction_id"):
        entries.append(paid_entry(str(order["transaction_id"]), paid_at=str(order["paid_at"])))
    if order.get("expired_at"):  # only ever from CREATED, once
        entries.append(HistoryEntry(OrderStatus.EXPIRED.value, str(order["expired_at"]), "system", EXPIRED_NOTE))
    by, at = order.get("completed_by"), order.get("completed_at")
    if at and isinstance(by, str) and by in IMPLIED_COMPLETIONS:
        entries.append(HistoryEntry(OrderStatus.COMPLETED.value, str(at), by, IMPLIED_COMPLETIONS[by]))
    return entries


def order_history(order: Mapping[str, Any], stored: Sequence[Item]) -> list[HistoryEntry]:
    """The order's history, oldest first: its ``HISTORY#`` items and the entries it implies (an implied
    entry also stored, by the migration that writes them back, counts once), in the order their sort
    keys give. A stored item under an implied entry's sort key is the same transition when it is by the
    same actor (stored with a note the order does not give back, or written back by the migration) and
    then stands for it; one by another actor (a staff's 核销 while PAID, in the very second WeChat Pay
    reports the payment) hides nothing: both are shown, the implied one first."""
    entries = {str(item["sk"]): history_from_item(item) for item in stored}
    for entry in implied_history(order):
        sk = order_history_sk(entry.at, entry.status)
        if entries.setdefault(sk, entry).by != entry.by:
            entries[order_history_sk(entry.at, " " + entry.status)] = entry  # a space sorts before any status
    by_key = [entries[sk] for sk in sorted(entries)]
    return sorted(by_key, key=lambda h: h.at)


def _int(value: Any, default: int = 0) -> int:
    return int(value) if value is not None else default


def _text(value: Any) -> str | None:
    return str(value) if value else None


def line_from_item(raw: Mapping[str, Any]) -> OrderLine:
    return OrderLine(
        line_id=str(raw["line_id"]), product_id=str(raw.get("product_id", "")), name=str(raw.get("name", "")),
        type=str(raw.get("type", "physical")), quantity=_int(raw.get("quantity"), 1),
        unit_price_fen=_int(raw.get("unit_price_fen")), paid_fen=_int(raw.get("paid_fen")),
        refunded_fen=_int(raw.get("refunded_fen")), refund_held_fen=_int(raw.get("refund_held_fen")),
        category_id=_text(raw.get("category_id")), sku_id=_text(raw.get("sku_id")),
        sku_index=None if raw.get("sku_index") is None else _int(raw.get("sku_index")),
        sku_per_user_limit=None if raw.get("sku_per_user_limit") is None else _int(raw.get("sku_per_user_limit")),
    )


def order_from_item(item: Item) -> Order:
    return Order(
        order_id=str(item["order_id"]), buyer_id=str(item["buyer_id"]), status=OrderStatus(item["status"]),
        amount_fen=_int(item.get("amount_fen")), shipping_fen=_int(item.get("shipping_fen")),
        goods_fen=_int(item.get("goods_fen")), discount_fen=_int(item.get("discount_fen")),
        lines=tuple(line_from_item(line) for line in item.get("lines", [])),
        created_at=str(item.get("created_at", "")), expires_at_order=_text(item.get("expires_at_order")),
        version=_int(item.get("version")),
        paid_at=item.get("paid_at"), shipped_at=item.get("shipped_at"), carrier=item.get("carrier"),
        tracking_no=item.get("tracking_no"), completed_at=item.get("completed_at"),
        completed_by=item.get("completed_by"), service_verified_at=item.get("service_verified_at"),
        verify_code_hash=item.get("verify_code_hash"),
        verify_failed_attempts=_int(item.get("verify_failed_attempts")),
        verify_locked_until=item.get("verify_locked_until"),
        shipping_refunded_fen=_int(item.get("shipping_refunded_fen")),
        shipping_refund_held_fen=_int(item.get("shipping_refund_held_fen")),
        refund_count=_int(item.get("refund_count")), transaction_id=item.get("transaction_id"),
        address=item.get("address"), share_source=item.get("share_source"), attribution=item.get("attribution"),
        extra=item,
    )


#: What the by-status list (the admin's list and the orders export) reads of an order item: gsi3
#: projects exactly these (template.yaml), so a write that changes none of them and not the status
#: leaves the index entry alone.
STATUS_LIST_ATTRIBUTES = ("order_id", "buyer_id", "status", "amount_fen", "created_at", "paid_at", "shipped_at",
                          "completed_at", "lines", "shipping_refunded_fen")


def status_summary(item: Item) -> Item:
    """An order's row in the by-status list, from the order item or its gsi3 entry: the first line's
    name as its title, the refunded amount over its lines and shipping."""
    order = order_from_item(item)
    return {
        "order_id": order.order_id, "buyer_id": order.buyer_id, "status": order.status.value,
        "amount_fen": order.amount_fen, "created_at": order.created_at, "paid_at": order.paid_at,
        "shipped_at": order.shipped_at, "completed_at": order.completed_at, "fulfilment": order.fulfilment,
        "line_count": len(order.lines), "title": order.lines[0].name if order.lines else "",
        "refunded_fen": sum(line.refunded_fen for line in order.lines) + order.shipping_refunded_fen,
    }


@dataclass
class OrderBundle:
    """Everything under ``ORDER#<id>`` (one Query): the order, its history (oldest first), its refunds."""

    order: Order
    history: list[HistoryEntry] = field(default_factory=list)
    refunds: list[Item] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class PaymentBasisWrites:
    """What recording a payment adds for the order's commission basis (``mall.dal.payment_snapshot``):
    its writes, the buyer's first paid order as read (None: none yet), the promoter this order claims
    a ``first_payment`` binding for, and the attribution decided at payment. ``parent_guard``: the
    buyer's parent as the basis read it, held by the profile's ``bound_parent`` mirror instead of a
    check of the binding in ``writes`` (``(None,)``: unbound; None: the binding is checked itself)."""

    writes: Sequence[Write]
    first_paid_seen: str | None
    claims_sharer_id: str | None
    attribution: Mapping[str, Any]
    parent_guard: tuple[str | None] | None = None


@dataclass(frozen=True, slots=True)
class UnpaidMarker:
    """An unpaid order as its index entry shows it: ``expires_at_order`` only from a gsi2 entry (the
    by-status list's gsi3 does not project it)."""

    order_id: str
    buyer_id: str
    created_at: datetime
    expires_at_order: datetime | None


class ProductCatalog(Protocol):
    """What placing and expiring orders use of ``mall.dal.catalog.ProductRepository``: the stock
    writes ``OrderRepository.place`` and ``expire`` commit with the order."""

    def get_many(self, ids: Sequence[str], /) -> Mapping[str, Any]: ...
    def reserve_stock(self, product_id: str, quantity: int, skus: Sequence[SkuTake] = ..., /, *,
                      now: datetime | None = ..., version: int | None = ...) -> Write: ...
    def release_stock(self, product_id: str, quantity: int, skus: Sequence[SkuTake] = ..., /) -> Write: ...


class PlacementRefused(Exception):
    """The placing transaction's condition failed on a stock or purchase-counter write."""

    def __init__(self, kind: str, product_id: str, current: Item | None, sku_id: str | None = None) -> None:
        super().__init__(f"{kind}: {product_id}")
        self.kind = kind  # "stock" | "purchase_limit"
        self.product_id = product_id
        self.current = current
        self.sku_id = sku_id  # a SKU's own purchase limit refused


@dataclass(frozen=True, slots=True)
class SkuLimit:
    """One order line of a SKU with a purchase limit of its own: its units counted per SKU."""

    product_id: str
    sku_id: str
    quantity: int
    limit: int

    @classmethod
    def of_lines(cls, lines: Sequence[PricedLine]) -> list[SkuLimit]:
        return [cls(line.product_id, line.sku.sku_id, line.quantity, line.sku.per_user_limit) for line in lines
                if line.sku is not None and line.sku.per_user_limit is not None]


def sku_counted(order: Order) -> dict[tuple[str, str], int]:
    """The units the order counted on SKU counters (lines placed under a SKU's own limit), per
    (product, SKU): what expiring it gives back there, beside the product's counter."""
    counted: dict[tuple[str, str], int] = {}
    for line in order.lines:
        if line.sku_per_user_limit is not None and line.sku_id is not None:
            key = (line.product_id, line.sku_id)
            counted[key] = counted.get(key, 0) + line.quantity
    return counted
