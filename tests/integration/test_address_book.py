"""The customer's address book (``/me/addresses``) through the real handlers on DynamoDB Local: sealed
at rest and masked in answers, one default moved atomically, a bounded book, 409 on a stale version,
another customer's address never reachable; ``POST /orders`` with an ``address_id`` keeps its own
sealed copy within the customer routes' round trips; the erasure request empties the book."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from mall.dal.erasure import ErasureRepository
from mall.dal.keys import address_book_key, order_address_key
from mall.dal.order_items import address_context
from mall.dal.table import Table
from mall.domain.address_book import MAX_ADDRESSES
from mall.integrations import pii_crypto
from mall.services.erasure import erase_customer
from tests.integration.test_customer_round_trips import CUSTOMER_ROUTE_TRIPS, Trips, call
from tests.unit.test_orders_handlers import BOOK, Mall, add_products, customer_token, make_mall, stock_of

HOME = {"name": "欧阳书架", "phone": "13911112222", "province": "浙江省", "city": "杭州市",
        "detail": "西湖区文三路 478 号 12 楼"}
WORK = {"name": "欧阳工位", "phone": "13933334444", "province": "上海市", "city": "上海市",
        "detail": "浦东新区世纪大道 100 号 8 层"}
RAW = ["欧阳书架", "13911112222", "文三路 478 号", "欧阳工位", "13933334444", "世纪大道 100 号"]


@pytest.fixture
def mall(table: Table, monkeypatch: pytest.MonkeyPatch) -> Iterator[Mall]:
    yield make_mall(monkeypatch)


def book_call(mall: Mall, route: str, token: str, *, params: dict[str, str] | None = None, body: Any = None,
              query: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    return call(mall, "me_contact", route, params=params, token=token, body=body, query=query)


def save(mall: Mall, token: str, address: dict[str, Any], **extra: Any) -> tuple[int, dict[str, Any]]:
    return book_call(mall, "POST /me/addresses", token, body={**address, **extra})


def stored_book(table: Table, user_id: str) -> dict[str, Any]:
    return table.get(address_book_key(user_id), consistent=True) or {}


def test_the_book_is_sealed_masked_and_keeps_exactly_one_default(mall: Mall, table: Table) -> None:
    user_id, token = customer_token("book-owner")
    trips = Trips()
    status, home = trips.of(lambda: save(mall, token, HOME))
    assert status == 201 and home["is_default"] is True, home  # the first address is the default
    assert len(trips.sent) <= CUSTOMER_ROUTE_TRIPS, trips.sent
    assert (home["name"], home["phone"], home["detail"]) == ("欧***", "139****2222", "西湖区文三路****")
    status, work = save(mall, token, WORK, is_default=True)
    assert status == 201 and work["is_default"] is True
    status, listed = trips.of(lambda: book_call(mall, "GET /me/addresses", token))
    assert len(trips.sent) <= CUSTOMER_ROUTE_TRIPS, trips.sent
    assert status == 200 and listed["default_id"] == work["address_id"] and listed["limit"] == MAX_ADDRESSES
    assert [(a["address_id"], a["is_default"]) for a in listed["items"]] == [(work["address_id"], True),
                                                                          (home["address_id"], False)]
    # Back to the first: the old default is unset in the same write.
    status, again = trips.of(lambda: book_call(mall, "POST /me/addresses/{address_id}/default", token,
                                               params={"address_id": home["address_id"]}))
    assert len(trips.sent) <= CUSTOMER_ROUTE_TRIPS, trips.sent
    assert status == 200 and [a["is_default"] for a in again["items"]] == [True, False]
    assert again["items"][0]["address_id"] == home["address_id"]
    # Nothing readable is stored; nothing readable is answered.
    stored = json.dumps(stored_book(table, user_id), ensure_ascii=False, default=str)
    answered = json.dumps([home, work, listed, again], ensure_ascii=False)
    for raw in RAW:
        assert raw not in stored and raw not in answered, raw
    # Saving the same address again (a retried create) answers the saved one.
    status, same = save(mall, token, HOME)
    assert status == 200 and same["address_id"] == home["address_id"]
    assert len(stored_book(table, user_id)["addresses"]) == 2


def test_listing_the_book_opens_no_sealed_field(mall: Mall, monkeypatch: pytest.MonkeyPatch) -> None:
    _, token = customer_token("book-lister")
    save(mall, token, HOME)

    def refuse(*_: Any, **__: Any) -> str:
        raise AssertionError("a list must not decrypt: the masks are stored beside the tokens")

    monkeypatch.setattr(pii_crypto, "decrypt", refuse)
    status, listed = book_call(mall, "GET /me/addresses", token)
    assert status == 200 and listed["items"][0]["phone"] == "139****2222", listed


def test_a_stale_version_is_409_and_changes_nothing(mall: Mall, table: Table) -> None:
    user_id, token = customer_token("book-editor")
    _, home = save(mall, token, HOME)
    params = {"address_id": home["address_id"]}
    trips = Trips()
    status, changed = trips.of(lambda: book_call(mall, "PUT /me/addresses/{address_id}", token, params=params,
                                                 body={**HOME, "detail": "西湖区文一路 9 号", "version": 1}))
    assert len(trips.sent) <= CUSTOMER_ROUTE_TRIPS, trips.sent
    assert status == 200 and changed["version"] == 2 and changed["detail"] == "西湖区文一路****"
    before = stored_book(table, user_id)
    status, stale = book_call(mall, "PUT /me/addresses/{address_id}", token, params=params,
                              body={**HOME, "version": 1})
    assert status == 409 and stale["error"]["code"] == "address_changed" and stale["error"]["details"]["version"] == 2
    status, stale = book_call(mall, "DELETE /me/addresses/{address_id}", token, params=params, query={"version": "1"})
    assert status == 409 and stale["error"]["code"] == "address_changed"
    assert stored_book(table, user_id) == before
    status, _ = trips.of(lambda: book_call(mall, "DELETE /me/addresses/{address_id}", token, params=params,
                                           query={"version": "2"}))
    assert status == 204 and len(trips.sent) <= CUSTOMER_ROUTE_TRIPS, trips.sent
    assert stored_book(table, user_id)["addresses"] == {}


def test_deleting_the_default_hands_it_on_and_the_book_is_bounded(mall: Mall) -> None:
    _, token = customer_token("book-filler")
    ids = []
    for n in range(MAX_ADDRESSES):
        status, saved = save(mall, token, {**HOME, "detail": f"西湖区文三路 {n} 号"})
        assert status == 201, saved
        ids.append(saved["address_id"])
    status, full = save(mall, token, WORK)
    assert status == 409 and full["error"]["code"] == "address_book_full"
    status, _ = book_call(mall, "DELETE /me/addresses/{address_id}", token, params={"address_id": ids[0]},
                          query={"version": "1"})
    assert status == 204
    _, listed = book_call(mall, "GET /me/addresses", token)
    assert len(listed["items"]) == MAX_ADDRESSES - 1 and listed["default_id"] in ids[1:]
    assert [a["is_default"] for a in listed["items"]].count(True) == 1


def test_another_customers_address_is_never_reachable(mall: Mall, table: Table) -> None:
    owner_id, owner = customer_token("book-owner-2")
    _, other = customer_token("book-stranger")
    _, home = save(mall, owner, HOME)
    params = {"address_id": home["address_id"]}
    for route, body, query in [("PUT /me/addresses/{address_id}", {**HOME, "version": 1}, None),
                               ("DELETE /me/addresses/{address_id}", None, {"version": "1"}),
                               ("POST /me/addresses/{address_id}/default", None, None)]:
        status, refused = book_call(mall, route, other, params=params, body=body, query=query)
        assert status == 404 and refused["error"]["code"] == "address_not_found", (route, refused)
    add_products(BOOK)
    status, refused = mall.place(other, {"lines": [{"product_id": "book", "quantity": 1}],
                                         "address_id": home["address_id"]})
    assert status == 422 and refused["error"]["fields"][0]["field"] == "address_id", refused
    assert stock_of("book") == 10
    assert len(stored_book(table, owner_id)["addresses"]) == 1


def test_an_order_placed_with_a_saved_address_keeps_its_own_sealed_copy(mall: Mall, table: Table) -> None:
    _, token = customer_token("book-buyer")
    add_products(BOOK)
    _, home = save(mall, token, HOME)
    body = {"lines": [{"product_id": "book", "quantity": 1}], "address_id": home["address_id"]}
    trips = Trips()
    status, placed = trips.of(lambda: mall.place(token, body))
    assert status == 201, placed
    assert len(trips.sent) <= CUSTOMER_ROUTE_TRIPS, trips.sent
    assert placed["address"] == {"name": "欧***", "phone": "139****2222", "province": "浙江省", "city": "杭州市",
                                 "detail": "西湖区文三路****"}
    order_id = placed["order_id"]
    sealed = (table.get(order_address_key(order_id), consistent=True) or {})["address"]
    context = address_context(order_id)
    assert pii_crypto.decrypt(sealed["detail_enc"], context=context) == HOME["detail"]
    assert pii_crypto.decrypt(sealed["name_enc"], context=context) == HOME["name"]
    # A later edit of the book never reaches the order.
    status, _ = book_call(mall, "PUT /me/addresses/{address_id}", token, params={"address_id": home["address_id"]},
                          body={**WORK, "version": 1})
    assert status == 200
    after = (table.get(order_address_key(order_id), consistent=True) or {})["address"]
    assert after == sealed
    # Both forms at once is ambiguous; neither, for goods to ship, is missing.
    status, refused = mall.place(token, {**body, "address": HOME})
    assert status == 422 and refused["error"]["fields"][0]["field"] == "address_id"
    status, refused = mall.place(token, {"lines": body["lines"]})
    assert status == 422 and refused["error"]["code"] == "address_required"


def test_the_erasure_request_empties_the_book(mall: Mall, table: Table) -> None:
    user_id, token = customer_token("book-forgotten")
    save(mall, token, HOME)
    save(mall, token, WORK)
    result = erase_customer(repo=ErasureRepository(table), user_id=user_id, now=datetime(2026, 12, 1, tzinfo=UTC))
    assert result.records_cleaned >= 1
    stored = stored_book(table, user_id)
    assert "addresses" not in stored
    assert json.dumps(stored, ensure_ascii=False, default=str).count("v1:") == 0
    status, listed = book_call(mall, "GET /me/addresses", token)
    assert status == 200 and listed["items"] == [] and listed["default_id"] is None


def test_concurrent_saves_never_pass_the_cap_nor_leave_two_defaults(table: Table) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from mall.dal.address_book import AddressBookRepository
    from mall.errors import Conflict
    from mall.schemas.address_book import SaveAddressRequest
    from mall.services.address_book import add_address, list_addresses

    books = AddressBookRepository(table)
    user_id = "u_concurrent_book"
    for n in range(MAX_ADDRESSES - 3):
        add_address(books=books, user_id=user_id, now=datetime(2026, 12, 1, tzinfo=UTC),
                    body=SaveAddressRequest(**{**HOME, "detail": f"西湖区文三路 {n} 号"}))

    def save_one(n: int) -> str:
        body = SaveAddressRequest(**{**WORK, "detail": f"浦东新区世纪大道 {n} 号"}, is_default=True)
        try:
            view, _ = add_address(books=books, user_id=user_id, body=body, now=datetime(2026, 12, 2, tzinfo=UTC))
        except Conflict as refused:
            return refused.code
        return view.address_id

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(save_one, range(8)))
    saved = [a for a in answers if a.startswith("a_")]
    assert set(answers) - set(saved) <= {"address_book_full", "retry_later"}
    book = list_addresses(books=books, user_id=user_id)
    assert len(book.items) <= MAX_ADDRESSES and {a.address_id for a in book.items} >= set(saved)
    assert [a.is_default for a in book.items].count(True) == 1 and book.default_id in saved
