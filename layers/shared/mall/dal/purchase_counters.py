"""The buyer's purchase counters (限购; docs/data-model.md, "orders and payment"): the writes the order's
transactions in ``mall.dal.orders.OrderRepository`` make on ``USER#<buyer>/PURCHASE#<product>`` and, for a SKU
with a per-customer limit of its own, ``USER#<buyer>/PURCHASE#<product>#SKU#<sku>``.

``reserved_quantity`` is what a per-customer limit counts: every paid unit, and the units of unpaid orders
placed while the product had a limit. Only a limit reads it before the order is paid (the placement's check,
the cart), so the placement reserves a product's counter only when the product has a limit then; the order
names the other lines (``NOT_RESERVED``), whose units its payment reserves in the update of ``paid_quantity``
it makes anyway, and which its expiry does not release. ``paid_quantity`` counts every paid unit of every
product (the promoter threshold ``bought_product`` reads it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from mall.config import function_environment
from mall.dal.keys import purchase_key, sku_purchase_key
from mall.dal.order_items import SkuLimit, sku_counted
from mall.dal.table import Write
from mall.domain.orders import Order

#: On an order item: the ids of its lines (separated by spaces) whose product's counter the placement did
#: not reserve, because the product had no per-customer limit then; absent when it reserved every product
#: (every order placed while ``PURCHASE_RESERVED_FOR_ALL`` = 1, and before). A short string: the order item
#: is rewritten at every transition and must stay under 1 KB.
NOT_RESERVED = "nr"

_LIMITED = "attribute_not_exists(reserved_quantity) OR reserved_quantity <= :room"


def purchase_reserved_for_all() -> bool:
    """``PURCHASE_RESERVED_FOR_ALL``: every placement reserves the counter of every product (the first deploy
    of reservations only where a limit applies, while code whose payment and expiry take every order as
    reserved may still run)."""
    return function_environment().purchase_reserved_for_all


def not_reserved_lines(lines: Sequence[Mapping[str, Any]], reserved: Callable[[str], bool]) -> str | None:
    """The value of ``NOT_RESERVED`` for an order of ``lines`` (as stored) whose placement reserves the
    products ``reserved`` says yes to: None when it reserves them all."""
    ids = [str(line["line_id"]) for line in lines if not reserved(str(line["product_id"]))]
    return " ".join(ids) or None


def unreserved_products(order: Order) -> frozenset[str]:
    """The products of ``order`` whose counter its placement did not reserve (``NOT_RESERVED``)."""
    ids = set(str(order.extra.get(NOT_RESERVED) or "").split())
    return frozenset(line.product_id for line in order.lines if line.line_id in ids)


def reservation(table: str, buyer_id: str, product_id: str, quantity: int, *, limit: int | None) -> Write:
    """The placement's update of a product's counter: ``quantity`` more reserved, conditional on the
    per-customer ``limit`` (None: no limit, unconditional)."""
    values: dict[str, Any] = {":q": quantity, ":e": "purchase_counter", ":u": buyer_id, ":p": product_id}
    if limit is not None:
        values[":room"] = limit - quantity
    return Write.update(table, purchase_key(buyer_id, product_id),
                        "SET entity = :e, user_id = :u, product_id = :p ADD reserved_quantity :q",
                        condition=_LIMITED if limit is not None else None, values=values)


def sku_reservation(table: str, buyer_id: str, counted: SkuLimit) -> Write:
    """The placement's update of a SKU's own counter, conditional on the SKU's limit."""
    return Write.update(
        table, sku_purchase_key(buyer_id, counted.product_id, counted.sku_id),
        "SET entity = :e, user_id = :u, product_id = :p, sku_id = :k ADD reserved_quantity :q", condition=_LIMITED,
        values={":q": counted.quantity, ":e": "sku_purchase_counter", ":u": buyer_id, ":p": counted.product_id,
                ":k": counted.sku_id, ":room": counted.limit - counted.quantity})


def paid_counters(table: str, order: Order) -> list[Write]:
    """The payment's update of each product's counter: ``paid_quantity``, and ``reserved_quantity`` in the
    same update for a product its placement did not reserve, so that a limit set later counts the units."""
    unreserved = unreserved_products(order)
    writes = []
    for product_id, quantity in order.quantities().items():
        counted = "paid_quantity :q, reserved_quantity :q" if product_id in unreserved else "paid_quantity :q"
        writes.append(Write.update(table, purchase_key(order.buyer_id, product_id),
                                   f"SET entity = :e, user_id = :u, product_id = :p ADD {counted}",
                                   values={":e": "purchase_counter", ":u": order.buyer_id, ":p": product_id,
                                           ":q": quantity}))
    return writes


def released_counters(table: str, order: Order) -> list[Write]:
    """The expiry's release of what the placement reserved: each product's counter but those of the
    ``NOT_RESERVED`` lines, and each SKU counter the order's lines counted on."""
    unreserved = unreserved_products(order)
    writes = [Write.update(table, purchase_key(order.buyer_id, product_id), "ADD reserved_quantity :q",
                           values={":q": -quantity})
              for product_id, quantity in order.quantities().items() if product_id not in unreserved]
    writes += [Write.update(table, sku_purchase_key(order.buyer_id, product_id, sku_id), "ADD reserved_quantity :q",
                            values={":q": -quantity}) for (product_id, sku_id), quantity in sku_counted(order).items()]
    return writes
