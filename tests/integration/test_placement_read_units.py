"""Placing an order reads its facts eventually consistent (half the units) and lets the transaction's
conditions refuse what a stale fact decided: then it reads again, consistently, and decides again.

The stale reads are served by a test double of ``Table.batch_get``: an eventually consistent batch
answers, for the keys given, the items as they were before a change (DynamoDB Local itself always
answers the latest)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pytest

from mall.dal import retry
from mall.dal.address_book import AddressBookRepository
from mall.dal.catalog import ProductRepository
from mall.dal.keys import product_key, purchase_key
from mall.dal.request_markers import MarkedRequest, RequestMarkers
from mall.dal.table import Item, Key, Table, TransactionCancelled
from mall.domain.catalog import Product
from mall.errors import Conflict
from mall.schemas.address_book import SaveAddressRequest
from mall.schemas.orders import OrderLineRequest, PlaceOrderRequest
from mall.services.address_book import add_address
from mall.services.orders import PlacementRepositories, PlaceOrder, place_order
from tests.integration.test_lifecycle_read_units import _calls, read_units
from tests.integration.test_payment_snapshot import PRICE, T0, World, _chain, _no_pay

pytestmark = pytest.mark.integration

Stale = dict[tuple[str, str], Item | None]


def _serve_stale(monkeypatch: pytest.MonkeyPatch, stale: Stale) -> list[bool]:
    """Eventually consistent batches answer ``stale`` for its keys (None: not there yet); returns the
    ``consistent`` flag of every batch, in order."""
    real = Table.batch_get
    flags: list[bool] = []

    def batch_get(self: Table, keys: Sequence[Key], *, consistent: bool = False) -> list[Item]:
        flags.append(consistent)
        found = real(self, keys, consistent=consistent)
        if consistent:
            return found
        by_key: dict[tuple[str, str], Item | None] = {(str(i["pk"]), str(i["sk"])): i for i in found}
        for key in keys:
            pair = (str(key["pk"]), str(key["sk"]))
            if pair in stale:
                by_key[pair] = stale[pair]
        return [item for item in by_key.values() if item is not None]

    monkeypatch.setattr(Table, "batch_get", batch_get)
    return flags


def _pair(key: Key) -> tuple[str, str]:
    return str(key["pk"]), str(key["sk"])


def _place(table: Table, buyer: str, *, product_id: str = "p_tea", key: str | None = None) -> Any:
    request = PlaceOrderRequest(lines=[OrderLineRequest(product_id=product_id, quantity=1)])
    marked = None
    if key is not None:
        markers = RequestMarkers(table, "PlaceOrderFunction")
        marked = MarkedRequest(markers, markers.marker(buyer, key, request.model_dump(mode="json")), T0)
    return place_order(PlaceOrder(request=request, buyer_id=buyer, now=T0), repos=PlacementRepositories.on(table),
                       pay=_no_pay, notify_url="http://n.test/", marked=marked)


def _edit(table: Table, product_id: str, **changes: Any) -> None:
    """An admin's edit of the product (it counts ``version``)."""
    repo = ProductRepository(table)
    product = repo.get(product_id, consistent=True)
    assert product is not None
    repo.update(replace(product, **changes), expected_version=product.version,
                previous_category_id=str(product.category_id), now=T0)


def _stock(table: Table, product_id: str = "p_tea") -> int:
    item = table.get(product_key(product_id), consistent=True)
    assert item is not None
    return int(item["stock"])


def test_a_bound_buyer_s_placement_reads_its_facts_at_half_the_units(table: Table) -> None:
    world = World(table)
    _, _, buyer = _chain(world)  # A ← B ← buyer: both batches (the buyer's facts, then the parent's)
    seen = read_units(table, lambda: _place(table, buyer, key="units-key-0001"))
    kinds = seen["rcu_by_item_kind"]
    # Was 8 + 2 RCU, every item consistent: each item under 4 KB is now ½.
    assert kinds == {"SETTINGS#/CURRENT": 0.5, "USER#/PROFILE": 0.5, "USER#/BINDING": 1.0, "USER#/PROMOTER": 1.0,
                     "PRODUCT#/PRODUCT": 0.5, "PRODUCT#/LOWSTOCK": 0.5, "USER#/PURCHASE#": 0.5,
                     "IDEMPOTENCY#/REQUEST#": 0.5}, kinds
    assert seen["rcu"] == 5.0
    assert _calls(seen, "BatchGetItem") == 2 and _calls(seen, "TransactWriteItems") == 1


def test_a_price_changed_since_a_stale_read_is_refused_and_the_order_takes_the_new_price(
        table: Table, monkeypatch: pytest.MonkeyPatch) -> None:
    world = World(table)
    buyer = world.customer("buyer")
    old = table.get(product_key("p_tea"), consistent=True)
    _edit(table, "p_tea", price_fen=PRICE + 2_000)
    flags = _serve_stale(monkeypatch, {_pair(product_key("p_tea")): old})
    placed = _place(table, buyer)
    assert placed.amount_fen == PRICE + 2_000  # never the stale price
    assert flags == [False, True]  # refused by the product's version, then read consistently
    assert _stock(table) == 999


def test_a_product_taken_off_the_shelf_since_a_stale_read_is_refused_from_fresh_reads(
        table: Table, monkeypatch: pytest.MonkeyPatch) -> None:
    world = World(table)
    buyer = world.customer("buyer")
    old = table.get(product_key("p_tea"), consistent=True)
    _edit(table, "p_tea", on_shelf=False)
    flags = _serve_stale(monkeypatch, {_pair(product_key("p_tea")): old})
    with pytest.raises(Conflict) as refused:
        _place(table, buyer)
    assert refused.value.code == "product_unavailable"
    assert flags == [False, True]
    assert _stock(table) == 1_000


def _limited(world: World) -> None:
    ProductRepository(world.table).create(Product(
        product_id="p_one", name="限购", type="virtual", category_id="c_tea", price_fen=PRICE, stock=10,
        on_shelf=True, per_user_limit=1))


def test_a_limit_reached_since_a_stale_read_is_refused_by_the_counter_and_then_from_fresh_reads(
        table: Table, monkeypatch: pytest.MonkeyPatch) -> None:
    world = World(table)
    _limited(world)
    buyer = world.customer("buyer")
    _place(table, buyer, product_id="p_one")
    flags = _serve_stale(monkeypatch, {_pair(purchase_key(buyer, "p_one")): None})  # the counter not seen yet
    with pytest.raises(Conflict) as refused:
        _place(table, buyer, product_id="p_one")
    assert refused.value.code == "purchase_limit_exceeded" and refused.value.details["already"] == 1
    assert flags == [False, True]
    assert _stock(table, "p_one") == 9


def test_a_refusal_decided_from_a_stale_counter_is_decided_again_from_fresh_reads(
        table: Table, monkeypatch: pytest.MonkeyPatch) -> None:
    world = World(table)
    _limited(world)
    buyer = world.customer("buyer")
    counter = {**purchase_key(buyer, "p_one"), "entity": "purchase_counter", "user_id": buyer,
               "product_id": "p_one", "reserved_quantity": 1}  # an order since expired, as a stale read shows it
    flags = _serve_stale(monkeypatch, {_pair(purchase_key(buyer, "p_one")): counter})
    placed = _place(table, buyer, product_id="p_one")
    assert placed.amount_fen == PRICE and flags == [False, True]
    assert _stock(table, "p_one") == 9


def test_a_marker_a_stale_read_misses_replays_the_first_answer(table: Table, monkeypatch: pytest.MonkeyPatch) -> None:
    world = World(table)
    buyer = world.customer("buyer")
    first = _place(table, buyer, key="stale-key-0001")
    markers = RequestMarkers(table, "PlaceOrderFunction")
    request = PlaceOrderRequest(lines=[OrderLineRequest(product_id="p_tea", quantity=1)])
    marker = markers.marker(buyer, "stale-key-0001", request.model_dump(mode="json"))
    flags = _serve_stale(monkeypatch, {_pair(marker.key): None})
    again = _place(table, buyer, key="stale-key-0001")
    assert again == first  # the marker's put refused the second order; its stored answer is the answer
    assert flags == [False]  # the refusal returned the marker: nothing read again
    assert _stock(table) == 999


def test_an_edit_between_the_read_and_the_commit_is_refused_and_the_order_takes_the_new_price(
        table: Table, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test double: the admin's edit lands during the first attempt's prepay, after its reads."""
    world = World(table)
    buyer = world.customer("buyer")
    flags = _serve_stale(monkeypatch, {})
    edits: list[int] = []

    def pay() -> Any:
        if not edits:
            edits.append(1)
            _edit(table, "p_tea", price_fen=PRICE + 500)
        return _no_pay()

    request = PlaceOrderRequest(lines=[OrderLineRequest(product_id="p_tea", quantity=1)])
    placed = place_order(PlaceOrder(request=request, buyer_id=buyer, now=T0), repos=PlacementRepositories.on(table),
                         pay=pay, notify_url="http://n.test/")
    assert placed.amount_fen == PRICE + 500 and flags == [False, True]
    assert _stock(table) == 999


def test_an_edit_between_consistent_reads_and_the_commit_answers_409_order_contention(
        table: Table, monkeypatch: pytest.MonkeyPatch) -> None:
    world = World(table)
    buyer = world.customer("buyer")
    prices = iter([PRICE + 1, PRICE + 2])

    def pay() -> Any:
        _edit(table, "p_tea", price_fen=next(prices))  # every attempt's product changes before its commit
        return _no_pay()

    request = PlaceOrderRequest(lines=[OrderLineRequest(product_id="p_tea", quantity=1)])
    with pytest.raises(Conflict) as refused:
        place_order(PlaceOrder(request=request, buyer_id=buyer, now=T0), repos=PlacementRepositories.on(table),
                    pay=pay, notify_url="http://n.test/")
    assert refused.value.code == "order_contention" and refused.value.details == {"product_id": "p_tea"}
    assert _stock(table) == 1_000


def test_an_order_naming_a_saved_address_reads_consistently(table: Table) -> None:
    """The buyer's own address, perhaps saved or edited a moment ago, is guarded by no condition."""
    world = World(table)
    buyer = world.customer("buyer")
    ProductRepository(table).create(Product(product_id="p_box", name="礼盒", type="physical", category_id="c_tea",
                                            price_fen=PRICE, stock=10, on_shelf=True))
    saved, _ = add_address(books=AddressBookRepository(table), user_id=buyer, now=T0,
                           body=SaveAddressRequest(name="张三丰", phone="13812341234", province="广东省",
                                                   city="深圳市", detail="南山区科技园一路 1 号"))
    request = PlaceOrderRequest(lines=[OrderLineRequest(product_id="p_box", quantity=1)], address_id=saved.address_id)
    seen = read_units(table, lambda: place_order(PlaceOrder(request=request, buyer_id=buyer, now=T0),
                                                 repos=PlacementRepositories.on(table), pay=_no_pay,
                                                 notify_url="http://n.test/"))
    assert all(units >= 1.0 for units in seen["rcu_by_item_kind"].values()), seen["rcu_by_item_kind"]
    assert _calls(seen, "BatchGetItem") == 1


def test_contention_is_not_read_again(table: Table, monkeypatch: pytest.MonkeyPatch) -> None:
    """A transaction that lost to concurrent ones on every try failed no condition: no fact was stale,
    so the busy product is not asked again."""
    world = World(table)
    buyer = world.customer("buyer")
    flags = _serve_stale(monkeypatch, {})

    def transact(self: Table, writes: Sequence[Any], **_: Any) -> None:
        raise TransactionCancelled(["TransactionConflict"] * len(writes), [None] * len(writes))

    monkeypatch.setattr(Table, "transact", transact)
    monkeypatch.setattr(retry.time, "sleep", lambda _: None)
    with pytest.raises(Conflict) as refused:
        _place(table, buyer)
    assert refused.value.code == "order_contention" and flags == [False]
