"""The cart (购物车): what a customer means to buy, never what they hold.

A cart line names a product and, optionally, one of its SKUs, with a quantity. The cart never
reserves stock and never fixes a price: stock is reserved only when an order is placed
(``POST /orders``), and every view of the cart prices its lines from the catalog as it is now
(``price_changed`` says when that differs from the price seen when the line was added).

One line per (product, SKU): its id is derived from them, so adding the same thing again adds to
the line instead of making a second one, and the order's lines (one per product) stay distinct.

Everything the cart needs to know of the catalog — whether a (product, SKU) still exists, its price,
stock and per-customer limit — is answered by ``offer_of`` alone.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from mall.domain.catalog import DEFAULT_SKU_ID, Product
from mall.domain.orders import MAX_QUANTITY
from mall.errors import Conflict, FieldProblem, InvalidInput

#: At most this many lines in one cart (an order checks out at most ``mall.domain.orders.MAX_LINES`` of them).
MAX_CART_LINES = 50
#: The same cap as an order line's.
MAX_LINE_QUANTITY = MAX_QUANTITY

__all__ = ["MAX_CART_LINES", "MAX_LINE_QUANTITY", "Availability", "CartLine", "LineState", "Offer",
           "added_quantity", "cart_line_id", "checkout_lines", "line_state", "offer_of", "sku_of_line"]


def cart_line_id(product_id: str, sku_id: str | None) -> str:
    """The line of (product, SKU) in any cart: the same inputs, the same id (``cl_`` + 20 hex)."""
    digest = hashlib.sha256(f"{product_id}\x1f{sku_of_line(sku_id) or ''}".encode()).hexdigest()
    return f"cl_{digest[:20]}"


@dataclass(frozen=True, slots=True)
class CartLine:
    """One line as stored. ``added_price_fen`` is the unit price when it was added or last changed,
    kept only to tell the customer the price has changed since: it never prices anything."""

    line_id: str
    product_id: str
    sku_id: str | None
    quantity: int
    added_price_fen: int
    added_at: str
    updated_at: str
    version: int = 1


@dataclass(frozen=True, slots=True)
class Offer:
    """What the catalog offers now for a (product, SKU)."""

    product_id: str
    sku_id: str | None
    name: str
    image: str | None
    price_fen: int
    stock: int
    per_user_limit: int | None
    on_shelf: bool
    #: the SKU's own limit, counted on its own (on top of the product's); None: none
    sku_per_user_limit: int | None = None


def sku_of_line(sku_id: str | None) -> str | None:
    """The SKU a cart or order line names, as the cart keys it: a product without specs has one
    SKU, named by ``None`` or ``default`` alike, so both name the same line."""
    return None if sku_id in (None, DEFAULT_SKU_ID) else sku_id


def offer_of(product: Product | None, sku_id: str | None) -> Offer | None:
    """The current offer of (product, SKU); None when either no longer exists.

    A product without specs is its own single SKU, named by ``sku_id=None``: its price, stock and
    limit are the product's top-level ones. A product with specs offers each of its SKUs at the
    SKU's price and stock; a disabled SKU is offered as off the shelf (the line stays, unorderable).
    The per-customer limit is the product's, across its SKUs, and the SKU's own, as orders count them."""
    sku_id = sku_of_line(sku_id)
    if product is None:
        return None
    if not product.has_specs:
        if sku_id is not None:
            return None
        return Offer(product_id=product.product_id, sku_id=None, name=product.name,
                     image=product.images[0] if product.images else None, price_fen=int(product.price_fen),
                     stock=int(product.stock), per_user_limit=product.per_user_limit,
                     on_shelf=bool(product.on_shelf))
    at = product.sku_index(sku_id) if sku_id is not None else None
    if at is None:
        return None
    sku = product.skus[at]
    return Offer(product_id=product.product_id, sku_id=sku.sku_id, name=f"{product.name} {sku.label}",
                 image=product.images[0] if product.images else None, price_fen=int(sku.price_fen),
                 stock=int(sku.stock), per_user_limit=product.per_user_limit,
                 on_shelf=bool(product.on_shelf and sku.enabled), sku_per_user_limit=sku.per_user_limit)


class Availability(StrEnum):
    """Whether a line could be ordered now, in the order ``line_state`` checks it."""

    AVAILABLE = "available"
    GONE = "gone"  # the product or SKU no longer exists
    OFF_SHELF = "off_shelf"  # 已下架
    OUT_OF_STOCK = "out_of_stock"  # fewer left than the line's quantity (``available_stock`` says how many)
    OVER_LIMIT = "over_limit"  # the per-customer limit would be passed (counting earlier orders)


@dataclass(frozen=True, slots=True)
class LineState:
    availability: Availability
    unit_price_fen: int | None
    price_changed: bool
    available_stock: int | None
    limit_left: int | None


def line_state(line: CartLine, offer: Offer | None, *, already_bought: int, sku_bought: int = 0) -> LineState:
    """The line against the catalog now: current price (never the one stored), and whether it can
    be ordered. ``already_bought`` is the customer's reserved quantity of the product (its limit),
    ``sku_bought`` of the SKU (the SKU's own limit); what is left is the tighter of the two."""
    if offer is None:
        return LineState(Availability.GONE, None, False, None, None)
    lefts = [max(limit - bought, 0) for limit, bought in ((offer.per_user_limit, already_bought),
                                                          (offer.sku_per_user_limit, sku_bought)) if limit is not None]
    left = min(lefts) if lefts else None
    stock = max(offer.stock, 0)
    if not offer.on_shelf:
        availability = Availability.OFF_SHELF
    elif stock < line.quantity:
        availability = Availability.OUT_OF_STOCK
    elif left is not None and line.quantity > left:
        availability = Availability.OVER_LIMIT
    else:
        availability = Availability.AVAILABLE
    return LineState(availability, offer.price_fen, offer.price_fen != line.added_price_fen, stock, left)


def added_quantity(existing: CartLine | None, quantity: int, *, line_count: int) -> int:
    """The line's quantity after adding ``quantity``; refuses passing the per-line cap (422) or, for a
    new line, the cart's line cap (409 ``cart_full``)."""
    if existing is None and line_count >= MAX_CART_LINES:
        raise Conflict(f"a cart holds at most {MAX_CART_LINES} lines", code="cart_full",
                       details={"max_lines": MAX_CART_LINES})
    total = (existing.quantity if existing is not None else 0) + quantity
    if total > MAX_LINE_QUANTITY:
        raise InvalidInput(f"a cart line holds at most {MAX_LINE_QUANTITY}", code="quantity_over_cap",
                           fields=[FieldProblem("quantity", f"the line would hold {total}; at most "
                                                            f"{MAX_LINE_QUANTITY}")])
    return total


def checkout_lines(named: Sequence[str], cart: Mapping[str, CartLine],
                   ordered: Sequence[tuple[str, str | None]]) -> list[CartLine]:
    """The cart lines an order checks out: each named line must be in the cart and be one of the
    order's lines (the same product and SKU), else 422 naming it. The order's quantities are what
    the buyer confirmed at checkout; the named lines are removed whatever their quantity."""
    problems: list[FieldProblem] = []
    wanted = set(ordered)
    found: list[CartLine] = []
    for index, line_id in enumerate(named):
        line = cart.get(line_id)
        if named.index(line_id) != index:
            problems.append(FieldProblem(f"cart_line_ids.{index}", "listed twice"))
        elif line is None:
            problems.append(FieldProblem(f"cart_line_ids.{index}", "not in your cart"))
        elif (line.product_id, line.sku_id) not in wanted:
            problems.append(FieldProblem(f"cart_line_ids.{index}", "no order line for this cart line's product"))
        else:
            found.append(line)
    if problems:
        raise InvalidInput("some cart lines cannot be checked out with this order", code="invalid_cart_lines",
                           fields=problems)
    return found
