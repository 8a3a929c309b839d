"""An order's address item without its gsi1 ``BUYER#`` entry (``ORDER_ADDRESS_INDEXED`` = 0), on DynamoDB Local:
the placing transaction writes no index unit for it (the bench's meter prices it), and the erasure request
still erases it — it tells from each order it reads whether the order has an address item and writes it by
its key — together with the addresses indexed as before and those kept on the order itself, in the same
three round trips, creating no address item, and a second request changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from mall.dal.keys import audit_entity_partition, order_address_key, order_key
from mall.dal.table import Table
from mall.domain.erasure import erased_address
from mall.domain.masking import ERASED
from tests.at_once import run_at_once
from tests.conftest import clear_caches
from tests.integration.test_customer_round_trips import CUSTOMER_ROUTE_TRIPS, Trips, call
from tests.integration.test_order_history_units import table_items
from tests.integration.test_purchase_counter_units import place, placing_transaction
from tests.unit.test_fulfilment_factory import Line, order_item
from tests.unit.test_orders_handlers import ADDRESS, BOOK, CARD, Mall, add_products, customer_token, make_mall

pytestmark = pytest.mark.integration

ERASED_KEYS = set(erased_address("2026-12-07T00:00:00Z"))


@pytest.fixture
def mall(table: Table, monkeypatch: pytest.MonkeyPatch) -> Iterator[Mall]:
    clear_caches()
    yield make_mall(monkeypatch)
    clear_caches()


def indexed(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("ORDER_ADDRESS_INDEXED", value)
    clear_caches()


def placed(mall: Mall, token: str, lines: list[dict[str, Any]], **body: Any) -> str:
    status, answer = mall.place(token, {"lines": lines, **body})
    assert status == 201, answer
    return str(answer["order_id"])


def erase(mall: Mall, token: str) -> tuple[int, dict[str, Any]]:
    return call(mall, "me_erasure", "POST /me/erasure", token=token, body={"confirm": True})


def is_erased(address: Any) -> bool:
    return isinstance(address, dict) and set(address) == ERASED_KEYS and all(
        address[k] == ERASED for k in ("name_enc", "phone_enc", "detail_enc"))


def test_the_placing_transaction_indexes_the_address_item_only_while_order_address_indexed(
        mall: Mall, table: Table, monkeypatch: pytest.MonkeyPatch) -> None:
    add_products(BOOK)
    _, token = customer_token()
    indexed(monkeypatch, "1")
    old_style, units = place(mall, table, token, [{"product_id": "book", "quantity": 1}])
    assert placing_transaction(units)["ADDRESS"] == 3  # a put in a transaction (2) and its gsi1 entry (1)
    assert (table.get(order_address_key(old_style), consistent=True) or {}).get("gsi1sk", "").startswith("!ADDRESS#")
    indexed(monkeypatch, "0")
    order_id, units = place(mall, table, token, [{"product_id": "book", "quantity": 1}])
    assert placing_transaction(units)["ADDRESS"] == 2  # the put alone
    apart = table.get(order_address_key(order_id), consistent=True)
    assert apart is not None and "gsi1pk" not in apart and "gsi1sk" not in apart


def test_one_erasure_erases_every_address_however_it_is_kept_and_a_second_changes_nothing(
        mall: Mall, table: Table, monkeypatch: pytest.MonkeyPatch) -> None:
    add_products(BOOK, CARD)
    buyer, token = customer_token("derived-addresses")
    book = [{"product_id": "book", "quantity": 1}]
    indexed(monkeypatch, "1")
    with_entry = placed(mall, token, book, address=ADDRESS)  # (b) an address item placed with its gsi1 entry
    indexed(monkeypatch, "0")
    without_entry = placed(mall, token, book, address=ADDRESS)  # (a) one placed without
    virtual = placed(mall, token, [{"product_id": "card", "quantity": 1}])  # (c) nothing to ship: no address item
    # (d) placed before the address was kept apart: the order carries it, and has no address item.
    on_order = order_item(buyer_id=buyer, status="COMPLETED", created_at="2026-11-01T08:00:00Z")
    table.put(on_order)
    assert "gsi1pk" not in (table.get(order_address_key(without_entry), consistent=True) or {})
    assert table.get(order_address_key(virtual), consistent=True) is None

    trips = Trips()
    status, erased = trips.of(lambda: erase(mall, token))
    # Three addresses, and the device and IP the virtual order was placed from.
    assert status == 200 and erased["orders_erased"] == 4 and not erased["already_erased"], erased
    assert not {"device_id", "source_ip"} & set(table.get(order_key(virtual), consistent=True) or {})
    assert len(trips.sent) <= CUSTOMER_ROUTE_TRIPS, trips.sent  # no read of the address items
    for order_id in (with_entry, without_entry):
        apart = table.get(order_address_key(order_id), consistent=True)
        assert apart is not None and is_erased(apart["address"]), apart
        assert "address" not in (table.get(order_key(order_id), consistent=True) or {})
    assert is_erased((table.get(order_key(on_order["order_id"]), consistent=True) or {})["address"])
    assert table.get(order_address_key(virtual), consistent=True) is None
    assert table.get(order_address_key(on_order["order_id"]), consistent=True) is None

    before = table_items(table)
    status, again = trips.of(lambda: erase(mall, token))
    assert status == 200 and again["already_erased"] and again["orders_erased"] == 0, again
    assert len(trips.sent) <= CUSTOMER_ROUTE_TRIPS, trips.sent
    assert table_items(table) == before  # nothing written: no address, no audit entry, no tombstone


def test_an_order_missing_the_address_item_it_should_have_does_not_get_one_nor_fails_the_erasure(
        mall: Mall, table: Table) -> None:
    add_products(BOOK)
    buyer, token = customer_token("missing-address")
    kept = placed(mall, token, [{"product_id": "book", "quantity": 1}], address=ADDRESS)
    # A physical line and no address of its own, yet no address item (no code writes such an order).
    odd = order_item(buyer_id=buyer, status="COMPLETED", with_address=False, created_at="2026-11-01T08:00:00Z",
                     lines=[Line(type="physical")])
    table.put(odd)

    status, erased = erase(mall, token)
    assert status == 200 and not erased["already_erased"], erased
    assert table.get(order_address_key(odd["order_id"]), consistent=True) is None
    apart = table.get(order_address_key(kept), consistent=True)
    assert apart is not None and is_erased(apart["address"])


def test_a_paid_parcel_whose_address_item_was_not_read_refuses_the_erasure(mall: Mall, table: Table) -> None:
    add_products(BOOK)
    _, token = customer_token("unread-parcel")
    order_id = placed(mall, token, [{"product_id": "book", "quantity": 1}], address=ADDRESS)
    assert mall.pay(order_id)[0] == 204
    before = table.get(order_address_key(order_id), consistent=True)
    status, refused = erase(mall, token)
    assert status == 409 and refused["error"]["code"] == "order_awaiting_delivery", refused
    assert refused["error"]["details"]["orders"] == [{"order_id": order_id, "status": "PAID"}]
    assert table.get(order_address_key(order_id), consistent=True) == before  # the parcel's address is intact


def test_requests_at_once_erase_an_unread_address_once_and_audit_once(mall: Mall, table: Table) -> None:
    add_products(BOOK)
    buyer, token = customer_token("at-once")
    order_ids = [placed(mall, token, [{"product_id": "book", "quantity": 1}], address=ADDRESS) for _ in range(2)]
    answers = run_at_once([lambda: erase(mall, token) for _ in range(4)])
    assert all(status == 200 for status, _ in answers), answers
    assert len({answer["erased_at"] for _, answer in answers}) == 1
    for order_id in order_ids:
        apart = table.get(order_address_key(order_id), consistent=True)
        assert apart is not None and is_erased(apart["address"]) and apart["gsi1pk"] == f"BUYER#{buyer}"
    audit = table.query(partition=("gsi2pk", audit_entity_partition("customer", buyer)), index="gsi2").items
    assert len(audit) == 1
