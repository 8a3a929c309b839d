"""The cart on DynamoDB Local through the real handlers: lines added, changed and removed within the
customer routes' round trips (a retried add adds nothing again); listed at the catalog's current
price and availability; never holding stock; and checked out by POST /orders, which removes exactly
the lines it names, once, even when the order's request is replayed or raced."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from mall.clock import utc_now
from mall.dal.keys import cart_key, product_key
from mall.dal.request_markers import MarkedRequest, RequestMarkers
from mall.dal.table import Table
from mall.domain.cart import MAX_CART_LINES, cart_line_id
from mall.errors import Conflict, InvalidInput
from mall.schemas.catalog import ProductUpdate
from mall.schemas.orders import PlaceOrderRequest
from mall.services.catalog.products import get_admin_product, update_product
from mall.services.orders import PlacementRepositories, PlaceOrder, place_order
from tests.integration.test_customer_round_trips import (
    CUSTOMER_ROUTE_TRIPS,
    Trips,
    _no_pay,
    call,
    created_then_replayed,
)
from tests.integration.test_skus import _sku, _tour
from tests.unit.test_orders_handlers import ADDRESS, BOOK, CARD, Mall, add_products, customer_token, make_mall, stock_of

pytestmark = pytest.mark.integration

BOOK_LINE = cart_line_id("book", None)
CARD_LINE = cart_line_id("card", None)


@pytest.fixture
def mall(table: Table, monkeypatch: pytest.MonkeyPatch) -> Iterator[Mall]:
    yield make_mall(monkeypatch)


def add(mall: Mall, token: str, body: dict[str, Any], key: str) -> tuple[int, dict[str, Any]]:
    return call(mall, "cart", "POST /cart/lines", token=token, body=body, key=key)


def cart_of(mall: Mall, token: str) -> dict[str, Any]:
    status, body = call(mall, "cart", "GET /cart", token=token)
    assert status == 200, body
    return body


def lines_of(mall: Mall, token: str) -> dict[str, dict[str, Any]]:
    return {line["line_id"]: line for line in cart_of(mall, token)["lines"]}


def head_count(table: Table, user_id: str) -> int:
    return int((table.get(cart_key(user_id), consistent=True) or {}).get("line_count", 0))


def test_lines_are_added_changed_and_removed_within_three_round_trips(mall: Mall, table: Table) -> None:
    add_products(BOOK, CARD)
    buyer, token = customer_token()
    trips = Trips()

    def ask(key: str, sent: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
        return add(mall, token, sent or {"product_id": "book", "quantity": 2}, key)

    first = created_then_replayed(trips, ask, "cart-key-0001", {"product_id": "book", "quantity": 3})
    assert (first["line_id"], first["quantity"], first["unit_price_fen"]) == (BOOK_LINE, 2, BOOK.price_fen)
    # The same product again is the same line, its quantity added to; the retry above added nothing.
    status, again = add(mall, token, {"product_id": "book", "quantity": 1}, "cart-key-0002")
    assert status == 201 and (again["line_id"], again["quantity"]) == (BOOK_LINE, 3)
    assert add(mall, token, {"product_id": "card"}, "cart-key-0003")[0] == 201

    listed = trips.of(lambda: cart_of(mall, token))
    assert len(trips.sent) <= CUSTOMER_ROUTE_TRIPS, trips.sent
    assert {line["line_id"] for line in listed["lines"]} == {CARD_LINE, BOOK_LINE}
    assert listed["available_fen"] == 3 * BOOK.price_fen + CARD.price_fen
    assert head_count(table, buyer) == 2

    params = {"line_id": BOOK_LINE}
    status, changed = trips.of(lambda: call(mall, "cart", "PATCH /cart/lines/{line_id}", params=params, token=token,
                                            body={"quantity": 5, "version": again["version"]}))
    assert status == 200 and changed["quantity"] == 5, changed
    assert len(trips.sent) <= CUSTOMER_ROUTE_TRIPS, trips.sent
    status, stale = call(mall, "cart", "PATCH /cart/lines/{line_id}", params=params, token=token,
                         body={"quantity": 1, "version": again["version"]})
    assert status == 409 and stale["error"]["code"] == "version_conflict"
    assert lines_of(mall, token)[BOOK_LINE]["quantity"] == 5

    status, _ = trips.of(lambda: call(mall, "cart", "DELETE /cart/lines/{line_id}", params=params, token=token))
    assert status == 204
    assert len(trips.sent) <= CUSTOMER_ROUTE_TRIPS, trips.sent
    status, gone = call(mall, "cart", "DELETE /cart/lines/{line_id}", params=params, token=token)
    assert status == 404 and gone["error"]["code"] == "cart_line_not_found"
    assert list(lines_of(mall, token)) == [CARD_LINE] and head_count(table, buyer) == 1


def test_adding_refuses_what_cannot_be_sold_and_the_caps(mall: Mall, table: Table) -> None:
    add_products(BOOK)
    buyer, token = customer_token()
    status, body = add(mall, token, {"product_id": "nope"}, "cap-key-0001")
    assert status == 422 and body["error"]["fields"][0]["field"] == "product_id"
    status, body = add(mall, token, {"product_id": "book", "sku_id": "s_500g"}, "cap-key-0002")
    assert status == 422 and body["error"]["fields"][0]["field"] == "sku_id"
    assert add(mall, token, {"product_id": "book", "quantity": 999}, "cap-key-0003")[0] == 201
    status, body = add(mall, token, {"product_id": "book", "quantity": 1}, "cap-key-0004")
    assert status == 422 and body["error"]["fields"][0]["field"] == "quantity"
    table.update(cart_key(buyer), "SET line_count = :n", values={":n": MAX_CART_LINES})
    add_products(CARD)
    status, body = add(mall, token, {"product_id": "card"}, "cap-key-0005")
    assert status == 409 and body["error"]["code"] == "cart_full"
    table.update(product_key("card"), "SET on_shelf = :f", values={":f": False})
    table.update(cart_key(buyer), "SET line_count = :n", values={":n": 1})
    status, body = add(mall, token, {"product_id": "card"}, "cap-key-0006")
    assert status == 409 and body["error"]["code"] == "product_unavailable"
    assert list(lines_of(mall, token)) == [BOOK_LINE]


def test_the_cart_holds_no_stock_and_shows_current_prices_and_availability(mall: Mall, table: Table) -> None:
    add_products(BOOK, CARD)
    _, token = customer_token()
    assert add(mall, token, {"product_id": "book", "quantity": 2}, "hold-key-0001")[0] == 201
    assert add(mall, token, {"product_id": "card", "quantity": 1}, "hold-key-0002")[0] == 201
    assert stock_of("book") == 10  # nothing reserved by the cart

    # Another customer buys all but one: the cart's line is now short, and nothing stopped the sale.
    _, other = customer_token("other")
    assert mall.place(other, {"lines": [{"product_id": "book", "quantity": 9}], "address": ADDRESS})[0] == 201
    table.update(product_key("card"), "SET price_fen = :p", values={":p": 12_900})
    line = lines_of(mall, token)
    assert (line[BOOK_LINE]["availability"], line[BOOK_LINE]["available_stock"]) == ("out_of_stock", 1)
    card = line[CARD_LINE]
    assert (card["unit_price_fen"], card["added_price_fen"], card["price_changed"]) == (12_900, CARD.price_fen, True)
    assert card["line_fen"] == 12_900 and card["availability"] == "available"

    # The buyer's own earlier orders count against the per-customer limit (2 cards).
    assert mall.place(token, {"lines": [{"product_id": "card", "quantity": 2}]})[0] == 201
    card = lines_of(mall, token)[CARD_LINE]
    assert (card["availability"], card["limit_left"]) == ("over_limit", 0)
    table.update(product_key("book"), "SET on_shelf = :f", values={":f": False})
    assert lines_of(mall, token)[BOOK_LINE]["availability"] == "off_shelf"
    table.client.delete_item(TableName=table.name, Key={"pk": {"S": "PRODUCT#book"}, "sk": {"S": "PRODUCT"}})
    gone = lines_of(mall, token)[BOOK_LINE]
    assert (gone["availability"], gone["unit_price_fen"], gone["name"]) == ("gone", None, None)

    # An order refused for stock leaves the cart as it was.
    table.update(product_key("card"), "SET per_user_limit = :n", values={":n": 10})
    table.update(product_key("card"), "SET stock = :n", values={":n": 0})
    status, refused = mall.place(token, {"lines": [{"product_id": "card", "quantity": 1}],
                                         "cart_line_ids": [CARD_LINE]})
    assert status == 409 and refused["error"]["code"] == "out_of_stock"
    assert CARD_LINE in lines_of(mall, token)


def test_checking_out_removes_exactly_the_named_lines_once_even_when_the_order_is_replayed(
        mall: Mall, table: Table) -> None:
    add_products(BOOK, CARD)
    buyer, token = customer_token()
    assert add(mall, token, {"product_id": "book", "quantity": 2}, "co-key-0001")[0] == 201
    assert add(mall, token, {"product_id": "card", "quantity": 1}, "co-key-0002")[0] == 201
    body = {"lines": [{"product_id": "book", "quantity": 2}], "address": ADDRESS, "cart_line_ids": [BOOK_LINE]}
    trips = Trips()
    status, placed = trips.of(lambda: mall.place(token, body, key="co-order-0001"))
    assert status == 201, placed
    assert len(trips.sent) <= CUSTOMER_ROUTE_TRIPS, trips.sent
    assert list(lines_of(mall, token)) == [CARD_LINE] and head_count(table, buyer) == 1
    assert stock_of("book") == 8

    # The buyer puts the book back in the cart; the order's request is then retried: the first answer
    # comes back and the new line stays (nothing removed twice, nothing added back).
    assert add(mall, token, {"product_id": "book", "quantity": 1}, "co-key-0003")[0] == 201
    status, again = mall.place(token, body, key="co-order-0001")
    assert (status, again) == (201, placed)
    lines = lines_of(mall, token)
    assert set(lines) == {BOOK_LINE, CARD_LINE} and lines[BOOK_LINE]["quantity"] == 1
    assert head_count(table, buyer) == 2 and stock_of("book") == 8

    # A line that is not in the cart, or matches no order line, is refused by name; nothing changes.
    status, refused = mall.place(token, {**body, "cart_line_ids": [cart_line_id("nope", None)]})
    assert status == 422 and refused["error"]["fields"][0]["field"] == "cart_line_ids.0"
    status, refused = mall.place(token, {**body, "cart_line_ids": [BOOK_LINE, CARD_LINE]})
    assert status == 422 and [f["field"] for f in refused["error"]["fields"]] == ["cart_line_ids.1"]
    assert set(lines_of(mall, token)) == {BOOK_LINE, CARD_LINE} and stock_of("book") == 8


def _marked(table: Table, buyer: str, key: str, request: PlaceOrderRequest) -> MarkedRequest:
    markers = RequestMarkers(table, "PlaceOrderFunction")
    return MarkedRequest(markers, markers.marker(buyer, key, request.model_dump(mode="json")), utc_now())


def test_racing_checkouts_of_one_line_place_one_order_and_remove_the_line_once(mall: Mall, table: Table) -> None:
    add_products(BOOK)
    buyer, token = customer_token()
    assert add(mall, token, {"product_id": "book", "quantity": 1}, "race-key-0001")[0] == 201
    request = PlaceOrderRequest.model_validate({"lines": [{"product_id": "book", "quantity": 1}],
                                                "address": ADDRESS, "cart_line_ids": [BOOK_LINE]})
    start = threading.Barrier(4)

    def place(n: int) -> str:
        """Two requests under one key, two under keys of their own (a double tap)."""
        start.wait()
        try:
            return place_order(PlaceOrder(request=request, buyer_id=buyer, now=utc_now()),
                               repos=PlacementRepositories.on(table), pay=_no_pay, notify_url="http://n.test/",
                               marked=_marked(table, buyer, "same-key-0001" if n < 2 else f"own-key-000{n}",
                                              request)).order_id
        except (Conflict, InvalidInput) as exc:
            assert exc.code in {"cart_changed", "invalid_cart_lines", "order_contention"}, exc.code
            return exc.code

    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(place, range(4)))
    orders = {a for a in answers if a.startswith("o_")}
    assert len(orders) == 1, answers
    assert stock_of("book") == 9
    assert lines_of(mall, token) == {} and head_count(table, buyer) == 0


def test_a_cart_holds_each_sku_as_its_own_line_priced_and_checked_out_as_that_sku(mall: Mall, table: Table) -> None:
    repos, tour = _tour(table)
    adult, child = _sku(repos, tour, "成人"), _sku(repos, tour, "儿童")
    _, token = customer_token()
    # A product with specs needs its SKU named; an unknown SKU is named as such.
    status, refused = add(mall, token, {"product_id": tour, "quantity": 1}, "sku-cart-0001")
    assert status == 422 and refused["error"]["fields"][0]["field"] == "sku_id"
    status, refused = add(mall, token, {"product_id": tour, "sku_id": "nope", "quantity": 1}, "sku-cart-0002")
    assert status == 422 and refused["error"]["fields"][0]["field"] == "sku_id"

    assert add(mall, token, {"product_id": tour, "sku_id": adult["sku_id"], "quantity": 2}, "sku-cart-0003")[0] == 201
    assert add(mall, token, {"product_id": tour, "sku_id": child["sku_id"], "quantity": 1}, "sku-cart-0004")[0] == 201
    adult_line, child_line = cart_line_id(tour, adult["sku_id"]), cart_line_id(tour, child["sku_id"])
    listed = lines_of(mall, token)
    assert (listed[adult_line]["unit_price_fen"], listed[child_line]["unit_price_fen"]) == (20_000, 10_000)
    assert listed[adult_line]["name"].endswith("成人") and listed[child_line]["sku_id"] == child["sku_id"]
    # The SKU's own stock answers availability: 5 adults, 2 children.
    assert add(mall, token, {"product_id": tour, "sku_id": child["sku_id"], "quantity": 2}, "sku-cart-0005")[0] == 201
    assert lines_of(mall, token)[child_line]["availability"] == "out_of_stock"
    assert call(mall, "cart", "PATCH /cart/lines/{line_id}", token=token, params={"line_id": child_line},
                body={"quantity": 1})[0] == 200

    # Both SKUs of the one product check out in one order, each line removed, each SKU's stock taken.
    status, placed = mall.place(token, {"lines": [{"product_id": tour, "sku_id": adult["sku_id"], "quantity": 2},
                                                  {"product_id": tour, "sku_id": child["sku_id"], "quantity": 1}],
                                        "cart_line_ids": [adult_line, child_line]})
    assert status == 201, placed
    assert lines_of(mall, token) == {}
    assert (_sku(repos, tour, "成人")["stock"], _sku(repos, tour, "儿童")["stock"]) == (3, 1)

    # A SKU the merchant stops selling stays in the cart, shown as not on sale.
    assert add(mall, token, {"product_id": tour, "sku_id": child["sku_id"], "quantity": 1}, "sku-cart-0006")[0] == 201
    current = get_admin_product(repos=repos, product_id=tour)
    skus = [{"options": s.options, "price_fen": s.price_fen, "enabled": s.options != ["儿童"] and s.enabled}
            for s in current.skus]
    update_product(repos=repos, product_id=tour, now=utc_now(),
                   body=ProductUpdate.model_validate({"version": current.version,
                                                      "specs": [s.model_dump() for s in current.specs],
                                                      "skus": skus}))
    assert lines_of(mall, token)[child_line]["availability"] == "off_shelf"
