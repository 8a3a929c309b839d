"""Use cases of the cart (购物车): list it priced now, add to a line, change or remove a line.

Rules: ``mall.domain.cart`` (the catalog is consulted through ``offer_of`` only); storage:
``mall.dal.cart``. The cart never reserves stock; checking lines out is ``POST /orders`` with
``cart_line_ids`` (``mall.services.orders``), which removes them in the order's own transaction.
Round trips: listing 2 (the cart's Query, one BatchGetItem of its products), adding 2 (one batch
read, one transaction holding the ``Idempotency-Key`` marker), changing 2, removing 1."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from mall.clock import iso
from mall.dal.cart import CartRepository, CatalogNow, ConditionFailed, TransactionCancelled, cart_line_from_item
from mall.dal.request_markers import MarkedRequest
from mall.domain.cart import (
    MAX_CART_LINES,
    Availability,
    CartLine,
    Offer,
    added_quantity,
    cart_line_id,
    line_state,
    offer_of,
    sku_of_line,
)
from mall.errors import Conflict, FieldProblem, InvalidInput, NotFound
from mall.schemas.cart import AddCartLineRequest, CartLineView, CartView, ChangeCartLineRequest
from mall.services.request_replay import replay, replay_refused


def _offer(catalog: CatalogNow, line: CartLine) -> Offer | None:
    return offer_of(catalog.products.get(line.product_id), line.sku_id)


def _sku_lines(lines: Sequence[CartLine]) -> list[tuple[str, str]]:
    return [(line.product_id, line.sku_id) for line in lines if line.sku_id is not None]


def _bought(catalog: CatalogNow, line: CartLine) -> dict[str, int]:
    """What the customer has already counted against the line's limits (product's, SKU's own)."""
    sku = catalog.sku_bought.get((line.product_id, line.sku_id), 0) if line.sku_id is not None else 0
    return {"bought": catalog.bought.get(line.product_id, 0), "sku_bought": sku}


def _view(line: CartLine, offer: Offer | None, *, bought: int, sku_bought: int = 0) -> CartLineView:
    state = line_state(line, offer, already_bought=bought, sku_bought=sku_bought)
    price = state.unit_price_fen
    return CartLineView(
        line_id=line.line_id, product_id=line.product_id, sku_id=line.sku_id,
        name=offer.name if offer is not None else None, image=offer.image if offer is not None else None,
        quantity=line.quantity, unit_price_fen=price, added_price_fen=line.added_price_fen,
        price_changed=state.price_changed, line_fen=price * line.quantity if price is not None else None,
        availability=state.availability.value, available_stock=state.available_stock, limit_left=state.limit_left,
        version=line.version, added_at=line.added_at, updated_at=line.updated_at)


def view_cart(*, cart: CartRepository, user_id: str) -> CartView:
    """The cart, newest line first, each priced and checked against the catalog as it is now."""
    lines = sorted(cart.lines(user_id), key=lambda line: (line.added_at, line.line_id), reverse=True)
    catalog = cart.catalog_now(user_id, [line.product_id for line in lines], _sku_lines(lines))
    views = [_view(line, _offer(catalog, line), **_bought(catalog, line)) for line in lines]
    return CartView(lines=views, line_count=len(views), max_lines=MAX_CART_LINES,
                    available_fen=sum(v.line_fen or 0 for v in views if v.availability == Availability.AVAILABLE.value))


@dataclass(frozen=True, slots=True)
class AddToCart:
    """加入购物车: what to add, for whom, when."""

    request: AddCartLineRequest
    user_id: str
    now: datetime


def add_line(command: AddToCart, *, cart: CartRepository, marked: MarkedRequest | None = None) -> CartLineView:
    """Adds to the line of (product, SKU), making it if new (the cart's line cap, the line's quantity
    cap). With an ``Idempotency-Key`` its marker rides in the same transaction: a retry gets the first
    answer and adds nothing again."""
    body, user_id = command.request, command.user_id
    line_id = cart_line_id(body.product_id, body.sku_id)
    facts = cart.add_facts(user_id, product_id=body.product_id, line_id=line_id, request=marked,
                           sku_id=sku_of_line(body.sku_id))
    if marked is not None and (earlier := replay(facts.marker, marked, CartLineView)) is not None:
        return earlier
    product = facts.catalog.products.get(body.product_id)
    offer = offer_of(product, body.sku_id)
    if offer is None:
        field, reason = ("product_id", "no such product") if product is None \
            else ("sku_id", "no such SKU of this product" if body.sku_id is not None
                  else "required: this product has specs; name one of its sku_id")
        raise InvalidInput(f"cannot add {body.product_id} to the cart: {reason}", code="no_such_product",
                           fields=[FieldProblem(field, reason)])
    if not offer.on_shelf:
        raise Conflict(f"product {body.product_id} is not on sale", code="product_unavailable",
                       details={"product_id": body.product_id})
    existing = facts.line
    at = iso(command.now)
    line = CartLine(line_id=line_id, product_id=body.product_id, sku_id=sku_of_line(body.sku_id),
                    quantity=added_quantity(existing, body.quantity, line_count=facts.line_count),
                    added_price_fen=offer.price_fen, added_at=existing.added_at if existing else at, updated_at=at,
                    version=existing.version + 1 if existing else 1)
    view = _view(line, offer, **_bought(facts.catalog, line))
    marker = [marked.put(view.model_dump_json())] if marked is not None else []
    try:
        cart.save_added(user_id, line, existed=existing, extra=marker)
    except TransactionCancelled as exc:
        if marked is not None and (earlier := replay_refused(exc, len(exc.reasons) - 1, marked,
                                                             CartLineView)) is not None:
            return earlier  # a concurrent request with the same key added first
        if existing is None and len(exc.reasons) > 1 and exc.reasons[1] == "ConditionalCheckFailed":
            raise Conflict(f"a cart holds at most {MAX_CART_LINES} lines", code="cart_full",
                           details={"max_lines": MAX_CART_LINES}) from exc
        raise Conflict("the cart changed while adding to it; retry", code="cart_contention") from exc
    return view


def change_line(*, cart: CartRepository, user_id: str, line_id: str, body: ChangeCartLineRequest,
                now: datetime) -> CartLineView:
    """Sets the line's quantity (optionally only at the ``version`` read: 409 otherwise)."""
    try:
        line = cart.set_quantity(user_id, line_id, quantity=body.quantity, at=iso(now),
                                 expected_version=body.version)
    except ConditionFailed as exc:
        if exc.item is None:
            raise NotFound("no such line in your cart", code="cart_line_not_found") from exc
        current = cart_line_from_item(exc.item)
        raise Conflict("the line changed since you read it", code="version_conflict",
                       details={"current": {"quantity": current.quantity, "version": current.version}}) from exc
    catalog = cart.catalog_now(user_id, [line.product_id], _sku_lines([line]))
    return _view(line, _offer(catalog, line), **_bought(catalog, line))


def remove_line(*, cart: CartRepository, user_id: str, line_id: str) -> None:
    """Removes the line (404 when there is none: a retried removal that already happened says so)."""
    if not cart.remove(user_id, line_id):
        raise NotFound("no such line in your cart", code="cart_line_not_found")
