"""The cart's rules (pure): one line per (product, SKU), the current offer decides price and
availability, the caps, and which cart lines an order may check out."""

from __future__ import annotations

from dataclasses import replace

import pytest

from mall.domain.cart import (
    MAX_CART_LINES,
    MAX_LINE_QUANTITY,
    Availability,
    CartLine,
    added_quantity,
    cart_line_id,
    checkout_lines,
    line_state,
    offer_of,
)
from mall.domain.catalog import Product
from mall.domain.orders import MAX_QUANTITY
from mall.errors import Conflict, InvalidInput

TEA = Product(product_id="p_tea", name="龙井", type="physical", category_id="c", price_fen=16_800, stock=5,
              per_user_limit=4, on_shelf=True, images=["product-images/a.jpg"])


def line(quantity: int = 1, price: int = 16_800, product_id: str = "p_tea") -> CartLine:
    return CartLine(line_id=cart_line_id(product_id, None), product_id=product_id, sku_id=None, quantity=quantity,
                    added_price_fen=price, added_at="2026-11-03T12:00:00Z", updated_at="2026-11-03T12:00:00Z")


def test_a_line_id_is_the_same_for_the_same_product_and_sku_only() -> None:
    assert cart_line_id("p_tea", None) == cart_line_id("p_tea", None)
    assert len({cart_line_id("p_tea", None), cart_line_id("p_tea", "s_1"), cart_line_id("p_te", "a")}) == 3
    assert cart_line_id("p_tea", None).startswith("cl_") and len(cart_line_id("p_tea", None)) == 23


def test_a_product_without_specs_offers_its_top_level_price_and_stock_and_no_other_sku() -> None:
    offer = offer_of(TEA, None)
    assert offer is not None and (offer.price_fen, offer.stock, offer.image) == (16_800, 5, "product-images/a.jpg")
    assert offer_of(TEA, "s_500g") is None and offer_of(None, None) is None


@pytest.mark.parametrize(("change", "quantity", "bought", "expected"), [
    ({}, 1, 0, Availability.AVAILABLE),
    ({"on_shelf": False}, 1, 0, Availability.OFF_SHELF),
    ({}, 6, 0, Availability.OUT_OF_STOCK),
    ({}, 2, 3, Availability.OVER_LIMIT),
    ({"stock": 0, "on_shelf": False}, 1, 0, Availability.OFF_SHELF),
])
def test_availability_is_decided_on_the_catalog_now(change: dict[str, object], quantity: int, bought: int,
                                                    expected: Availability) -> None:
    product = replace(TEA, **change)  # type: ignore[arg-type]
    assert line_state(line(quantity), offer_of(product, None), already_bought=bought).availability == expected


def test_the_price_shown_is_the_current_one_never_the_stored_one() -> None:
    state = line_state(line(2, price=15_000), offer_of(TEA, None), already_bought=0)
    assert (state.unit_price_fen, state.price_changed) == (16_800, True)
    assert line_state(line(2), None, already_bought=0).availability == Availability.GONE


def test_the_caps_are_the_order_lines_quantity_and_fifty_lines() -> None:
    assert MAX_LINE_QUANTITY == MAX_QUANTITY
    assert added_quantity(line(998), 1, line_count=MAX_CART_LINES) == MAX_QUANTITY  # an existing line
    with pytest.raises(InvalidInput) as too_many:
        added_quantity(line(998), 2, line_count=1)
    assert too_many.value.fields[0].field == "quantity"
    with pytest.raises(Conflict) as full:
        added_quantity(None, 1, line_count=MAX_CART_LINES)
    assert full.value.code == "cart_full"


def test_checkout_takes_only_lines_in_the_cart_that_match_an_order_line() -> None:
    tea, cup = line(product_id="p_tea"), line(product_id="p_cup")
    cart = {tea.line_id: tea, cup.line_id: cup}
    assert checkout_lines([tea.line_id], cart, [("p_tea", None)]) == [tea]
    with pytest.raises(InvalidInput) as refused:
        checkout_lines([tea.line_id, cup.line_id, tea.line_id, cart_line_id("p_x", None)], cart, [("p_tea", None)])
    assert [(f.field, f.reason) for f in refused.value.fields] == [
        ("cart_line_ids.1", "no order line for this cart line's product"), ("cart_line_ids.2", "listed twice"),
        ("cart_line_ids.3", "not in your cart")]
