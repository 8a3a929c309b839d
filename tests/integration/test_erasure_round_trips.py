"""POST /me/erasure answers a customer in at most three DynamoDB round trips (the own partition, the
gsi1 ``BUYER#`` partition holding their orders, the orders' addresses and their share visits, then the
one transaction), counted on the real handler against DynamoDB Local; and the migration that indexes
address items and visits written before makes the erasure find them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from mall.dal.keys import order_address_key, order_key
from mall.dal.order_items import address_context
from mall.dal.referral import VisitRepository
from mall.dal.table import Table
from mall.domain.masking import ERASED
from mall.integrations import pii_crypto
from tests.integration.test_customer_round_trips import CUSTOMER_ROUTE_TRIPS, Trips, call
from tests.unit.test_orders_handlers import ADDRESS, BOOK, Mall, add_products, customer_token, make_mall
from tools.migrations import run
from tools.migrations.buyer_index_entries import MIGRATION

DEVICE, IP = "dev-erase-trips-1", "198.51.100.23"
NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def mall(table: Table, monkeypatch: pytest.MonkeyPatch) -> Iterator[Mall]:
    yield make_mall(monkeypatch)


def buyer_with_orders_book_and_visit(mall: Mall, table: Table, code: str) -> tuple[str, str, list[str]]:
    user_id, token = customer_token(code)
    add_products(BOOK)
    orders = []
    for _ in range(2):
        status, placed = mall.place(token, {"lines": [{"product_id": "book", "quantity": 1}], "address": ADDRESS})
        assert status == 201, placed
        orders.append(placed["order_id"])
    status, _ = call(mall, "me_contact", "POST /me/addresses", token=token, body=ADDRESS)
    assert status == 201
    VisitRepository(table).record(promoter_id="u_sharer", promoter_code="SHARER01", source="link", product_id=None,
                                  visitor_id=user_id, device_id=DEVICE, source_ip=IP, now=NOW)
    return user_id, token, orders


def erase(mall: Mall, token: str) -> tuple[int, dict[str, Any]]:
    return call(mall, "me_erasure", "POST /me/erasure", token=token, body={"confirm": True})


def visits_of(table: Table) -> list[dict[str, Any]]:
    return table.query(partition=("pk", "PVISITS#u_sharer"), limit=100).items


def test_erasing_a_buyer_with_orders_visits_and_a_book_takes_at_most_three_round_trips(mall: Mall,
                                                                                     table: Table) -> None:
    _, token, orders = buyer_with_orders_book_and_visit(mall, table, "erase-trips")
    trips = Trips()
    status, erased = trips.of(lambda: erase(mall, token))
    assert status == 200 and erased["orders_erased"] == 2 and not erased["already_erased"], erased
    assert len(trips.sent) <= CUSTOMER_ROUTE_TRIPS, trips.sent
    for order_id in orders:
        address = (table.get(order_address_key(order_id), consistent=True) or {})["address"]
        assert address["detail_enc"] == ERASED
    assert all("device_id" not in v and "source_ip" not in v for v in visits_of(table))
    # A repeat finds nothing left, as cheaply.
    status, again = trips.of(lambda: erase(mall, token))
    assert status == 200 and again["already_erased"], again
    assert len(trips.sent) <= CUSTOMER_ROUTE_TRIPS, trips.sent


def test_the_buyers_order_list_reads_only_orders_and_leaves_no_cursor_to_an_empty_page(mall: Mall,
                                                                                      table: Table) -> None:
    _, token, orders = buyer_with_orders_book_and_visit(mall, table, "order-lister")
    # Two orders, their two address items and a visit share the gsi1 partition: a page of five
    # that read them all would end on a cursor to nothing.
    status, page = call(mall, "orders_read", "GET /orders", token=token, query={"limit": "5"})
    assert status == 200, page
    assert sorted(o["order_id"] for o in page["items"]) == sorted(orders) and page["next_cursor"] is None, page


def test_the_migration_indexes_addresses_and_visits_written_before_so_the_erasure_finds_them(
        mall: Mall, table: Table) -> None:
    _, token, orders = buyer_with_orders_book_and_visit(mall, table, "erase-old-shapes")
    # The shapes written before: address items without a gsi1 entry, visits under gsi2 VISITOR# only.
    for order_id in orders:
        table.update(order_address_key(order_id), "REMOVE gsi1pk, gsi1sk")
    for visit in visits_of(table):
        table.update({"pk": visit["pk"], "sk": visit["sk"]}, "SET gsi2pk = :pk, gsi2sk = :sk REMOVE gsi1pk, gsi1sk",
                     values={":pk": f"VISITOR#{visit['visitor_id']}", ":sk": f"{visit['at']}#{visit['visit_id']}"})
    expected = {order_id: dict(table.get(order_address_key(order_id)) or {}) for order_id in orders}

    first = run(table, MIGRATION)
    assert first.changed == 3
    assert run(table, MIGRATION, restart=True).changed == 0  # idempotent
    for order_id in orders:
        indexed = table.get(order_address_key(order_id), consistent=True) or {}
        order = table.get(order_key(order_id)) or {}
        assert indexed["gsi1pk"] == order["gsi1pk"] and indexed["gsi1sk"].endswith(order_id)
        assert indexed["address"] == expected[order_id]["address"]
        assert pii_crypto.decrypt(indexed["address"]["detail_enc"], context=address_context(order_id)) \
            == ADDRESS["detail"]

    trips = Trips()
    status, erased = trips.of(lambda: erase(mall, token))
    assert status == 200 and erased["orders_erased"] == 2, erased
    assert len(trips.sent) <= CUSTOMER_ROUTE_TRIPS, trips.sent
    remaining = json.dumps(visits_of(table), default=str)
    assert DEVICE not in remaining and IP not in remaining
