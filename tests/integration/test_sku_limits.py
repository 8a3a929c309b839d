"""A SKU's own purchase limit (规格限购) on DynamoDB Local: set by the admin, counted per (buyer,
product, SKU) in the order's transaction beside the product's counter, given back on expiry."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from mall.clock import utc_now
from mall.dal.cart import CartRepository
from mall.dal.table import Table
from mall.errors import Conflict
from mall.schemas.cart import AddCartLineRequest
from mall.schemas.catalog import ProductCreate, ProductUpdate
from mall.schemas.catalog_categories import CategoryCreate
from mall.services.cart import AddToCart, add_line, view_cart
from mall.services.catalog.categories import create_category
from mall.services.catalog.common import CatalogRepositories
from mall.services.catalog.products import create_product, get_admin_product, update_product
from tests.integration.test_customer_round_trips import CUSTOMER_ROUTE_TRIPS, Trips
from tests.integration.test_orders_concurrency import World, race
from tests.integration.test_skus import TRAVELLERS, _place, _sku

pytestmark = pytest.mark.integration


def _tour(table: Table, *, product_limit: int | None = None) -> tuple[CatalogRepositories, str]:
    """Adults without a limit of their own; children at most 2 per customer."""
    repos = CatalogRepositories.on(table)
    category = create_category(repos=repos, body=CategoryCreate(name="旅游"), now=utc_now())
    body = ProductCreate.model_validate({
        "name": "西湖一日游", "type": "service", "category_id": category.category_id, "on_shelf": True,
        "per_user_limit": product_limit, "specs": [TRAVELLERS],
        "skus": [{"options": ["成人"], "price_fen": 20_000, "stock": 50},
                 {"options": ["儿童"], "price_fen": 10_000, "stock": 50, "per_user_limit": 2},
                 {"options": ["老人"], "price_fen": 12_000, "stock": 50}]})
    return repos, create_product(repos=repos, body=body, now=utc_now()).product_id


def _line(repos: CatalogRepositories, pid: str, option: str, quantity: int) -> dict[str, Any]:
    return {"product_id": pid, "sku_id": _sku(repos, pid, option)["sku_id"], "quantity": quantity}


def test_the_admin_sets_a_skus_limit_and_a_bad_one_is_refused_naming_the_sku(table: Table) -> None:
    repos, pid = _tour(table)
    assert [s["per_user_limit"] for s in (_sku(repos, pid, o) for o in ("成人", "儿童", "老人"))] == [None, 2, None]
    edit = ProductUpdate.model_validate({"version": get_admin_product(repos=repos, product_id=pid).version,
                                         "specs": [TRAVELLERS],
                                         "skus": [{"options": ["成人"], "price_fen": 20_000, "per_user_limit": 4},
                                                  {"options": ["儿童"], "price_fen": 10_000}]})
    after = update_product(repos=repos, product_id=pid, body=edit, now=utc_now())
    assert {s.label: s.per_user_limit for s in after.skus} == {"成人": 4, "儿童": None, "老人": None}
    with pytest.raises(ValidationError) as bad:
        ProductUpdate.model_validate({"version": after.version, "specs": [TRAVELLERS],
                                      "skus": [{"options": ["成人"], "price_fen": 1, "per_user_limit": 0}]})
    assert [e["loc"] for e in bad.value.errors()] == [("skus", 0, "per_user_limit")]


def test_a_sku_limit_refuses_the_order_past_it_and_leaves_the_other_skus_buyable(table: Table) -> None:
    repos, pid = _tour(table)
    world = World(table)
    buyer = world.buyer(1)
    _place(world, buyer, _line(repos, pid, "儿童", 2))
    with pytest.raises(Conflict) as over:
        _place(world, buyer, _line(repos, pid, "成人", 1), _line(repos, pid, "儿童", 1))
    assert over.value.code == "purchase_limit_exceeded"
    assert over.value.details["sku_id"] == _sku(repos, pid, "儿童")["sku_id"]
    assert _sku(repos, pid, "成人")["stock"] == 50  # nothing of the refused order was taken
    _place(world, buyer, _line(repos, pid, "成人", 5), _line(repos, pid, "老人", 5))  # no limit of their own
    _place(world, world.buyer(2), _line(repos, pid, "儿童", 2))  # the limit is each customer's
    assert _sku(repos, pid, "儿童")["stock"] == 46


def test_a_product_limit_still_counts_every_sku_of_it(table: Table) -> None:
    repos, pid = _tour(table, product_limit=3)
    world = World(table)
    buyer = world.buyer(1)
    _place(world, buyer, _line(repos, pid, "成人", 2), _line(repos, pid, "儿童", 1))
    with pytest.raises(Conflict) as over:
        _place(world, buyer, _line(repos, pid, "老人", 1))
    assert over.value.code == "purchase_limit_exceeded" and "sku_id" not in over.value.details


def test_a_buyer_racing_with_itself_cannot_pass_a_skus_limit(table: Table) -> None:
    repos, pid = _tour(table)
    world = World(table)
    buyer = world.buyer(1)
    child = _line(repos, pid, "儿童", 1)
    results = race(6, lambda _: _place(world, buyer, child))
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(results) - len(refused) == 2, refused
    assert {getattr(r, "code", None) for r in refused} == {"purchase_limit_exceeded"}
    assert _sku(repos, pid, "儿童")["stock"] == 48


def test_an_expired_order_gives_the_sku_counter_back_once(table: Table) -> None:
    repos, pid = _tour(table)
    world = World(table)
    buyer = world.buyer(1)
    _place(world, buyer, _line(repos, pid, "儿童", 2), _line(repos, pid, "成人", 1))
    assert world.expire(minutes_ahead=24 * 60)["expired"] == 1
    assert world.expire(minutes_ahead=24 * 60)["expired"] == 0  # an overlapping run releases nothing twice
    child_id = _sku(repos, pid, "儿童")["sku_id"]
    counter = world.item(f"USER#{buyer}", f"PURCHASE#{pid}#SKU#{child_id}")
    assert counter["reserved_quantity"] == 0
    _place(world, buyer, _line(repos, pid, "儿童", 2))  # the two units are the buyer's to buy again
    with pytest.raises(Conflict):
        _place(world, buyer, _line(repos, pid, "儿童", 1))


def test_an_order_of_a_limited_sku_stays_within_three_round_trips(table: Table, ddb_client: Any) -> None:
    repos, pid = _tour(table, product_limit=10)
    world = World(table)
    buyer = world.buyer(1)
    lines = [_line(repos, pid, "儿童", 1), _line(repos, pid, "成人", 1)]
    trips = Trips(ddb_client)
    trips.of(lambda: _place(world, buyer, *lines))
    assert len(trips.sent) <= CUSTOMER_ROUTE_TRIPS, trips.sent
    trips.of(lambda: _place(world, buyer, *lines))
    with pytest.raises(Conflict):
        trips.of(lambda: _place(world, buyer, *lines))  # refused by what the first batch read
    assert len(trips.sent) <= CUSTOMER_ROUTE_TRIPS, trips.sent


def test_the_cart_shows_a_sku_past_its_own_limit_and_the_other_skus_available(table: Table) -> None:
    repos, pid = _tour(table, product_limit=10)
    world = World(table)
    buyer = world.buyer(1)
    cart = CartRepository(table)
    child, adult = _line(repos, pid, "儿童", 1), _line(repos, pid, "成人", 1)
    added = add_line(AddToCart(AddCartLineRequest.model_validate(child), buyer, utc_now()), cart=cart)
    assert (added.availability, added.limit_left) == ("available", 2)
    add_line(AddToCart(AddCartLineRequest.model_validate(adult), buyer, utc_now()), cart=cart)
    _place(world, buyer, {**child, "quantity": 2})
    state = {line.sku_id: (line.availability, line.limit_left) for line in view_cart(cart=cart, user_id=buyer).lines}
    # the child SKU's own 2 are bought; adults have the product's 10 less the 2 children
    assert state == {child["sku_id"]: ("over_limit", 0), adult["sku_id"]: ("available", 8)}
