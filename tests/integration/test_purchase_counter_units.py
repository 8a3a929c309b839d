"""The buyer's purchase counter (``USER#<buyer>/PURCHASE#<product>``) on DynamoDB Local: the placement
reserves it only for a product with a per-customer limit (every product while ``PURCHASE_RESERVED_FOR_ALL``
= 1), the order names the lines it did not reserve (``nr``), the payment's update of the counter reserves
those, and the expiry releases only what was reserved. Writes priced by the bench's meter (``bench._meter``:
a write per started KB, twice in a transaction, plus the index entries)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from bench._meter import item_size, price_item
from mall.dal.table import Table, deserialize
from tests.at_once import run_at_once
from tests.conftest import clear_caches
from tests.integration.test_order_history_units import recorded_writes, table_items
from tests.integration.test_order_status_index import indexes
from tests.unit.test_orders_handlers import ADDRESS, BOOK, CARD, Mall, add_products, customer_token, make_mall
from tests.unit.test_payment_webhook import run_schedule

pytestmark = pytest.mark.integration

#: (operation, sort key) → the units the meter bills for what the step wrote on that item.
Units = dict[tuple[str, str], int]


@pytest.fixture
def mall(table: Table, monkeypatch: pytest.MonkeyPatch) -> Iterator[Mall]:
    clear_caches()
    yield make_mall(monkeypatch)
    clear_caches()


def priced(table: Table, step: Callable[[], Any]) -> tuple[Any, Units]:
    """Run ``step``; price every item it wrote (by the items before and after it), keyed by the operation
    and the item's sort key."""
    before = table_items(table)
    answer, calls = recorded_writes(table, step)
    after = table_items(table)
    units: Units = {}
    for operation, keys in calls:
        for key in keys:
            old, new = before.get(key), after.get(key)
            if new is None and old is None:
                continue  # a transaction that did not commit
            p = price_item("Put" if old is None else "Update", old, new, indexes=indexes(),
                           transactional=operation == "TransactWriteItems", succeeded=True, key=key[1], entity=key[1])
            units[(operation, key[1])] = units.get((operation, key[1]), 0) + p.table_units + p.index_units
    return answer, units


def counter(table: Table, buyer: str, product_id: str) -> dict[str, Any] | None:
    return table.get({"pk": f"USER#{buyer}", "sk": f"PURCHASE#{product_id}"}, consistent=True)


def order(table: Table, order_id: str) -> dict[str, Any]:
    item = table.get({"pk": f"ORDER#{order_id}", "sk": "ORDER"}, consistent=True)
    assert item is not None
    return item


def place(mall: Mall, table: Table, token: str, lines: list[dict[str, Any]]) -> tuple[str, Units]:
    (status, body), units = priced(table, lambda: mall.place(token, {"lines": lines, "address": ADDRESS}))
    assert status == 201, body
    return str(body["order_id"]), units


def placing_transaction(units: Units) -> dict[str, int]:
    return {sk: n for (operation, sk), n in units.items() if operation == "TransactWriteItems"}


def test_an_order_of_a_product_without_limit_reserves_its_counter_at_payment_not_at_placement(
        mall: Mall, table: Table) -> None:
    add_products(BOOK)
    buyer, token = customer_token()
    order_id, units = place(mall, table, token, [{"product_id": "book", "quantity": 2}])
    written = placing_transaction(units)
    # The placing transaction names no purchase counter: 2 units less than reserving it (2 in a transaction).
    assert "PURCHASE#book" not in written and counter(table, buyer, "book") is None
    # The order (2 + gsi1, gsi3), its address (2), the stock (2 + gsi1), the fraud scan's feed entry (2)
    # and the request's marker (2): 13, not 15.
    assert written == {"ORDER": 4, "ADDRESS": 2, "PRODUCT": 3, **{sk: 2 for sk in written if "#order#" in sk},
                       **{sk: 2 for sk in written if sk.startswith("REQUEST#")}}
    assert sum(written.values()) == 13
    placed = order(table, order_id)
    assert placed["nr"] == "1"
    # The mark costs the order item 3 bytes (its name and one line id): a one-line order stays under 1 KB
    # at every step (test_order_history_units measures it shipped, its largest).
    raw = table_items(table)[(f"ORDER#{order_id}", "ORDER")]
    assert item_size(raw) == item_size({k: v for k, v in raw.items() if k != "nr"}) + 3 < 1024
    (status, _), paid_units = priced(table, lambda: mall.pay(order_id))
    assert status == 204
    # The payment's update of the counter it made anyway (2 units in its transaction) reserves the units too.
    assert paid_units[("TransactWriteItems", "PURCHASE#book")] == 2
    found = counter(table, buyer, "book")
    assert found is not None and (found["paid_quantity"], found["reserved_quantity"]) == (2, 2)


def test_a_product_with_a_limit_is_reserved_at_placement_and_the_limit_refuses(mall: Mall, table: Table) -> None:
    add_products(BOOK, CARD)  # the card: at most 2 per customer
    buyer, token = customer_token()
    order_id, units = place(mall, table, token, [{"product_id": "book", "quantity": 1},
                                                 {"product_id": "card", "quantity": 1}])
    written = placing_transaction(units)
    assert written["PURCHASE#card"] == 2 and "PURCHASE#book" not in written
    assert order(table, order_id)["nr"] == "1"  # the book's line only
    card = counter(table, buyer, "card")
    assert card is not None and card["reserved_quantity"] == 1
    status, body = mall.place(token, {"lines": [{"product_id": "card", "quantity": 2}], "address": ADDRESS})
    assert status == 409 and body["error"]["code"] == "purchase_limit_exceeded", body
    assert mall.pay(order_id)[0] == 204
    card, book = counter(table, buyer, "card"), counter(table, buyer, "book")
    # Each counted once: the card at placement, the book at payment.
    assert card is not None and (card["paid_quantity"], card["reserved_quantity"]) == (1, 1)
    assert book is not None and (book["paid_quantity"], book["reserved_quantity"]) == (1, 1)
    only_card, _ = place(mall, table, token, [{"product_id": "card", "quantity": 1}])
    assert "nr" not in order(table, only_card)  # every product reserved: no mark


def test_the_expiry_releases_only_what_the_placement_reserved(mall: Mall, table: Table) -> None:
    add_products(BOOK, CARD)
    buyer, token = customer_token()
    paid_id, _ = place(mall, table, token, [{"product_id": "book", "quantity": 1}])
    assert mall.pay(paid_id)[0] == 204
    unpaid_id, _ = place(mall, table, token, [{"product_id": "book", "quantity": 3},
                                              {"product_id": "card", "quantity": 2}])
    report, units = priced(table, lambda: run_schedule(mall, "order_expiry", 31))
    assert report["expired"] == 1, report
    assert order(table, unpaid_id)["status"] == "EXPIRED"
    # The card's reservation goes back; the book's counter (the paid order's unit) is not written.
    assert ("TransactWriteItems", "PURCHASE#book") not in units
    assert units[("TransactWriteItems", "PURCHASE#card")] == 2
    card, book = counter(table, buyer, "card"), counter(table, buyer, "book")
    assert card is not None and card["reserved_quantity"] == 0
    assert book is not None and (book["paid_quantity"], book["reserved_quantity"]) == (1, 1)


def test_a_limit_set_after_a_paid_purchase_counts_it(mall: Mall, table: Table) -> None:
    add_products(BOOK)
    _, token = customer_token()
    order_id, _ = place(mall, table, token, [{"product_id": "book", "quantity": 2}])
    assert mall.pay(order_id)[0] == 204
    table.update({"pk": "PRODUCT#book", "sk": "PRODUCT"}, "SET per_user_limit = :limit", values={":limit": 2})
    status, body = mall.place(token, {"lines": [{"product_id": "book", "quantity": 1}], "address": ADDRESS})
    assert status == 409 and body["error"]["code"] == "purchase_limit_exceeded", body
    assert body["error"]["details"]["already"] == 2


def test_while_every_product_is_reserved_placement_writes_every_counter_and_marks_nothing(
        mall: Mall, table: Table, monkeypatch: pytest.MonkeyPatch) -> None:
    add_products(BOOK)
    buyer, token = customer_token()
    monkeypatch.setenv("PURCHASE_RESERVED_FOR_ALL", "1")
    clear_caches()
    paid_id, units = place(mall, table, token, [{"product_id": "book", "quantity": 1}])
    unpaid_id, _ = place(mall, table, token, [{"product_id": "book", "quantity": 2}])
    written = placing_transaction(units)
    assert written["PURCHASE#book"] == 2 and sum(written.values()) == 15  # every counter reserved: 2 units more
    assert "nr" not in order(table, paid_id) and "nr" not in order(table, unpaid_id)
    found = counter(table, buyer, "book")
    assert found is not None and found["reserved_quantity"] == 3
    # The next deploy ("0") pays and expires these orders as reserved: counted once, released once.
    monkeypatch.setenv("PURCHASE_RESERVED_FOR_ALL", "0")
    clear_caches()
    assert mall.pay(paid_id)[0] == 204
    assert run_schedule(mall, "order_expiry", 31)["expired"] == 1
    found = counter(table, buyer, "book")
    assert found is not None and (found["paid_quantity"], found["reserved_quantity"]) == (1, 1)


def test_a_payment_racing_the_expiry_of_an_unreserved_order_counts_it_once_or_not_at_all(
        mall: Mall, table: Table) -> None:
    add_products(BOOK)
    buyer, token = customer_token()
    order_id, _ = place(mall, table, token, [{"product_id": "book", "quantity": 1}])
    event = mall.sandbox.pay(order_id)  # paid at WeChat Pay just before the order's time ran out
    runs: list[Callable[[], Any]] = [
        lambda: run_schedule(mall, "order_expiry", 31), lambda: mall.deliver(event.headers, event.body),
        lambda: mall.deliver(event.headers, event.body), lambda: run_schedule(mall, "order_expiry", 31)]
    run_at_once(runs)
    status = order(table, order_id)["status"]
    found = counter(table, buyer, "book")
    if status == "PAID":
        assert found is not None and (found["paid_quantity"], found["reserved_quantity"]) == (1, 1)
    else:  # expired first (the payment then refunds, counting nothing): the counter was never written
        assert status == "PAID_AFTER_EXPIRY" and found is None
    raw = deserialize(table_items(table)[(f"ORDER#{order_id}", "ORDER")])
    assert raw["nr"] == "1"
