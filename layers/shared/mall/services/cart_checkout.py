"""Checking cart lines out (结算) with ``POST /orders``: the lines' removal in the order's own transaction,
and the refusal when one changed meanwhile.

Apart from the cart's use cases (``mall.services.cart``), so placing an order does not load the cart
routes' models (``mall.schemas.cart``) at its cold start (docs/performance.md, "Cold start: place order's
init")."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from mall.dal.request_markers import TransactionCancelled, Write
from mall.errors import Conflict
from mall.schemas.orders import PlaceOrderRequest

if TYPE_CHECKING:
    from mall.dal.cart import CartRepository
    from mall.domain.cart import CartLine


def checked_out(request: PlaceOrderRequest, found: Mapping[str, CartLine], *, buyer_id: str,
                cart_of: Callable[[], CartRepository]) -> list[Write]:
    """The removal, in the order's transaction, of the cart lines the order names (``cart_line_ids``,
    read with the order's facts): each must be in the cart and match one of the order's lines."""
    if not request.cart_line_ids:
        return []
    # The cart's rules are imported by an order that checks lines out, not at every placing cold start.
    from mall.domain.cart import checkout_lines, sku_of_line

    ordered = [(line.product_id, sku_of_line(line.sku_id)) for line in request.lines]
    return cart_of().checkout_writes(buyer_id, checkout_lines(request.cart_line_ids, found, ordered))


def checkout_refusal(exc: TransactionCancelled, *, cart_writes: int, after: int) -> Conflict | None:
    """409 ``cart_changed`` when the order's transaction was cancelled by one of its ``cart_writes``
    (placed just before the ``after`` last writes): a line checked out, removed or changed since it
    was read. Nothing was written: the buyer reloads the cart."""
    end = len(exc.reasons) - after
    if cart_writes and "ConditionalCheckFailed" in exc.reasons[end - cart_writes:end]:
        return Conflict("your cart changed while the order was placed; reload it", code="cart_changed")
    return None
