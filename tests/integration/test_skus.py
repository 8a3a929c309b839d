"""Products with specs and SKUs (规格) on DynamoDB Local: the admin's create and edit, per-SKU
orders, stock, expiry, the commission snapshot and the cap; old clients without SKUs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from mall.clock import utc_now
from mall.dal.orders import OrderRepository
from mall.dal.refunds import RefundRepository
from mall.dal.table import Table
from mall.domain.refunds import LineRequest as RefundLine
from mall.errors import Conflict, InvalidInput
from mall.schemas.catalog import ProductCreate, ProductUpdate, StockAdjustment
from mall.schemas.catalog_categories import CategoryCreate
from mall.schemas.orders import OrderLineRequest, PlaceOrderRequest
from mall.services.catalog.categories import create_category
from mall.services.catalog.common import CatalogRepositories
from mall.services.catalog.products import adjust_stock, create_product, get_admin_product, update_product
from mall.services.orders import PlacementRepositories, PlaceOrder, place_order
from mall.services.refunds import request_refund
from tests.integration.test_customer_round_trips import CUSTOMER_ROUTE_TRIPS, Trips
from tests.integration.test_orders_concurrency import NOTIFY_URL, World
from tests.integration.test_payment_snapshot import T0, _chain, _no_pay
from tests.integration.test_payment_snapshot import World as PaymentWorld
from tests.integration.test_record_sizes import KB, order_size
from tools.migrations import run
from tools.migrations.single_sku_products import MIGRATION

pytestmark = pytest.mark.integration

TRAVELLERS = {"name": "出行人", "values": ["成人", "儿童", "老人"]}


def _tour(table: Table, **extra: Any) -> tuple[CatalogRepositories, str]:
    repos = CatalogRepositories.on(table)
    category = create_category(repos=repos, body=CategoryCreate(name="旅游"), now=utc_now())
    body = ProductCreate.model_validate({
        "name": "西湖一日游", "type": "service", "category_id": category.category_id, "on_shelf": True,
        "commission": {"mode": "ratio", "l1": 1000, "l2": 500}, "specs": [TRAVELLERS],
        "skus": [{"options": ["成人"], "price_fen": 20_000, "stock": 5},
                 {"options": ["儿童"], "price_fen": 10_000, "stock": 2,
                  "commission": {"mode": "fixed", "l1": 800, "l2": 200}},
                 {"options": ["老人"], "price_fen": 12_000, "stock": 9, "enabled": False}], **extra})
    return repos, create_product(repos=repos, body=body, now=utc_now()).product_id


def _sku(repos: CatalogRepositories, product_id: str, option: str) -> dict[str, Any]:
    view = get_admin_product(repos=repos, product_id=product_id)
    return next(s.model_dump() for s in view.skus if s.options == [option])


def _place(world: World, buyer: str, *lines: dict[str, Any]) -> Any:
    request = PlaceOrderRequest(lines=[OrderLineRequest.model_validate(line) for line in lines])
    return place_order(PlaceOrder(request=request, buyer_id=buyer, now=utc_now()),
                       repos=PlacementRepositories.on(world.table), pay=world.pay, notify_url=NOTIFY_URL)


def test_a_product_with_specs_is_priced_and_stocked_per_sku(table: Table) -> None:
    repos, pid = _tour(table)
    view = get_admin_product(repos=repos, product_id=pid)
    assert view.price_fen == 10_000 and view.stock == 16  # the lowest enabled price; every SKU's stock
    assert [s.label for s in view.skus] == ["成人", "儿童", "老人"] and [s.enabled for s in view.skus] == [
        True, True, False]
    world = World(table)
    adult, child = _sku(repos, pid, "成人"), _sku(repos, pid, "儿童")
    placed = _place(world, world.buyer(1), {"product_id": pid, "sku_id": adult["sku_id"], "quantity": 2},
                    {"product_id": pid, "sku_id": child["sku_id"], "quantity": 1})
    assert [(x.sku_label, x.unit_price_fen) for x in placed.lines] == [("成人", 20_000), ("儿童", 10_000)]
    assert placed.amount_fen == 50_000
    assert _sku(repos, pid, "成人")["stock"] == 3 and _sku(repos, pid, "儿童")["stock"] == 1
    assert get_admin_product(repos=repos, product_id=pid).stock == 13
    stored = world.item(f"ORDER#{placed.order_id}", "ORDER")["lines"]
    # the commission each line pays: the product's ratio for adults, the child SKU's own fixed amount
    assert [(line["sku_id"], line["sku_index"], line["commission"]["mode"]) for line in stored] == [
        (adult["sku_id"], 0, "ratio"), (child["sku_id"], 1, "fixed")]


def test_a_sku_sells_only_its_own_stock_and_a_disabled_one_not_at_all(table: Table) -> None:
    repos, pid = _tour(table)
    world = World(table)
    child, old = _sku(repos, pid, "儿童"), _sku(repos, pid, "老人")
    with pytest.raises(Conflict) as short:  # 16 in total, 2 of this SKU
        _place(world, world.buyer(1), {"product_id": pid, "sku_id": child["sku_id"], "quantity": 3})
    assert short.value.code == "out_of_stock"
    with pytest.raises(Conflict) as disabled:
        _place(world, world.buyer(1), {"product_id": pid, "sku_id": old["sku_id"], "quantity": 1})
    assert disabled.value.code == "sku_unavailable"
    assert get_admin_product(repos=repos, product_id=pid).stock == 16


def test_a_line_without_sku_is_refused_on_a_product_with_specs_and_kept_working_without(table: Table) -> None:
    _, pid = _tour(table)
    world = World(table)
    with pytest.raises(InvalidInput) as missing:
        _place(world, world.buyer(1), {"product_id": "p_plain", "quantity": 1}, {"product_id": pid, "quantity": 1})
    assert [f.field for f in missing.value.fields] == ["lines.1.sku_id"]
    world.add_product("p_plain", 4)  # an old client's product and order: no specs, no sku_id
    placed = _place(world, world.buyer(1), {"product_id": "p_plain", "quantity": 1})
    assert placed.lines[0].sku_id is None and world.stock("p_plain") == 3


def test_an_expired_order_gives_each_sku_back_its_units(table: Table) -> None:
    repos, pid = _tour(table)
    world = World(table)
    adult, child = _sku(repos, pid, "成人"), _sku(repos, pid, "儿童")
    _place(world, world.buyer(1), {"product_id": pid, "sku_id": adult["sku_id"], "quantity": 2},
           {"product_id": pid, "sku_id": child["sku_id"], "quantity": 2})
    assert world.expire(minutes_ahead=24 * 60)["expired"] == 1
    assert _sku(repos, pid, "成人")["stock"] == 5 and _sku(repos, pid, "儿童")["stock"] == 2
    assert get_admin_product(repos=repos, product_id=pid).stock == 16


def test_an_edit_keeps_each_combination_its_id_and_stock_and_a_stale_one_is_409(table: Table) -> None:
    repos, pid = _tour(table)
    before = get_admin_product(repos=repos, product_id=pid)
    edit = ProductUpdate.model_validate({
        "version": before.version, "specs": [{"name": "出行人", "values": ["成人", "儿童", "学生"]}],
        "skus": [{"options": ["儿童"], "price_fen": 9_000, "stock": 99},
                 {"options": ["学生"], "price_fen": 15_000, "stock": 4}]})
    after = update_product(repos=repos, product_id=pid, body=edit, now=utc_now())
    by_label = {s.label: s for s in after.skus}
    assert by_label["儿童"].sku_id == before.skus[1].sku_id and by_label["儿童"].stock == 2
    assert by_label["儿童"].price_fen == 9_000
    assert not by_label["成人"].enabled and not by_label["老人"].enabled  # not sent: disabled, kept
    assert [s.label for s in after.skus] == ["成人", "儿童", "老人", "学生"]  # positions never move
    assert after.stock == 5 + 2 + 9 + 4 and after.price_fen == 9_000
    with pytest.raises(Conflict) as stale:
        update_product(repos=repos, product_id=pid, body=edit, now=utc_now())
    assert stale.value.code == "version_conflict"


def test_an_edit_racing_an_order_is_refused_rather_than_losing_its_stock(table: Table) -> None:
    repos, pid = _tour(table)
    version = get_admin_product(repos=repos, product_id=pid).version
    world = World(table)
    read = repos.products.get_detailed(pid, consistent=True)
    _place(world, world.buyer(1), {"product_id": pid, "sku_id": _sku(repos, pid, "成人")["sku_id"], "quantity": 1})

    class StaleRead(type(repos.products)):  # type: ignore[misc]
        def get(self, product_id: str, *, consistent: bool = False) -> Any:
            return read  # the edit was decided on the product as read before the order

        def get_detailed(self, product_id: str, *, consistent: bool = False) -> Any:
            return read

    stale = CatalogRepositories(categories=repos.categories, products=StaleRead(table), promoters_of=repos.promoters_of,
                                settings=repos.settings, uploads=repos.uploads, pages_of=repos.pages_of)
    edit = ProductUpdate.model_validate({"version": version, "specs": [TRAVELLERS],
                                         "skus": [{"options": ["成人"], "price_fen": 21_000}]})
    with pytest.raises(Conflict) as moved:
        update_product(repos=stale, product_id=pid, body=edit, now=utc_now())
    assert moved.value.code == "stock_changed"
    assert _sku(repos, pid, "成人")["stock"] == 4


def test_a_sku_commission_over_the_cap_is_refused_at_save_and_named(table: Table) -> None:
    repos = CatalogRepositories.on(table)
    category = create_category(repos=repos, body=CategoryCreate(name="茶"), now=utc_now())
    body = ProductCreate.model_validate({
        "name": "龙井", "type": "physical", "category_id": category.category_id,
        "specs": [{"name": "规格", "values": ["250g", "500g"]}],
        "skus": [{"options": ["250g"], "price_fen": 1_000, "commission": {"mode": "fixed", "l1": 400, "l2": 0}},
                 {"options": ["500g"], "price_fen": 100_000, "commission": {"mode": "fixed", "l1": 400, "l2": 0}}]})
    with pytest.raises(InvalidInput) as over:
        create_product(repos=repos, body=body, now=utc_now())
    # 400 fen is 40% of the 250g price (the cap is 30%), and a mere 0.4% of the 500g one
    assert {f.field for f in over.value.fields} == {"skus.0.commission.l1"}


def test_stock_adjustments_name_the_sku_of_a_product_with_specs(table: Table) -> None:
    repos, pid = _tour(table)
    with pytest.raises(InvalidInput) as unnamed:
        adjust_stock(repos=repos, product_id=pid, body=StockAdjustment(delta=5, reason="入库"), by="admin",
                     now=utc_now())
    assert [f.field for f in unnamed.value.fields] == ["sku_id"]
    child = _sku(repos, pid, "儿童")
    view = adjust_stock(repos=repos, product_id=pid, body=StockAdjustment(delta=-2, reason="损耗",
                                                                           sku_id=child["sku_id"]),
                        by="admin", now=utc_now() + timedelta(seconds=1))
    assert view.stock == 14 and {s.label: s.stock for s in view.skus}["儿童"] == 0
    with pytest.raises(Conflict) as below:
        adjust_stock(repos=repos, product_id=pid, body=StockAdjustment(delta=-1, reason="损耗",
                                                                        sku_id=child["sku_id"]),
                     by="admin", now=utc_now() + timedelta(seconds=2))
    assert below.value.code == "insufficient_stock"


def _old_product(table: Table, product_id: str, stock: int) -> None:
    """A product as stored before specs and SKUs existed (no ``specs``, no ``skus``)."""
    World(table).add_product(product_id, stock)
    table.update({"pk": f"PRODUCT#{product_id}", "sk": "PRODUCT"}, "REMOVE specs, skus")


def test_the_migration_makes_old_products_single_sku_once_and_resumably(table: Table) -> None:
    for n in range(3):
        _old_product(table, f"p_old{n}", stock=4 + n)
    _, tour = _tour(table)
    with_specs = table.get({"pk": f"PRODUCT#{tour}", "sk": "PRODUCT"})
    assert run(table, MIGRATION, dry_run=True).changed == 3
    assert "skus" not in (table.get({"pk": "PRODUCT#p_old0", "sk": "PRODUCT"}) or {})
    first = run(table, MIGRATION, page_size=1)
    assert first.changed == 3 and first.finished
    old = table.get({"pk": "PRODUCT#p_old1", "sk": "PRODUCT"}) or {}
    assert old["specs"] == [] and old["skus"] == [{"sku_id": "default"}]
    assert old["price_fen"] == 1990 and old["stock"] == 5  # price and stock stay where old clients read them
    assert table.get({"pk": f"PRODUCT#{tour}", "sk": "PRODUCT"}) == with_specs
    assert run(table, MIGRATION, restart=True).changed == 0
    world = World(table)  # a client that knows nothing of SKUs still orders the migrated product
    placed = _place(world, world.buyer(1), {"product_id": "p_old1", "quantity": 2})
    assert placed.lines[0].sku_id is None and world.stock("p_old1") == 3


def test_an_order_of_several_skus_of_one_product_stays_within_three_round_trips(table: Table,
                                                                                ddb_client: Any) -> None:
    repos, pid = _tour(table)
    world = World(table)
    buyer = world.buyer(1)
    adult, child = _sku(repos, pid, "成人"), _sku(repos, pid, "儿童")
    trips = Trips(ddb_client)
    trips.of(lambda: _place(world, buyer, {"product_id": pid, "sku_id": adult["sku_id"], "quantity": 1},
                            {"product_id": pid, "sku_id": child["sku_id"], "quantity": 1}))
    assert len(trips.sent) <= CUSTOMER_ROUTE_TRIPS, trips.sent


def test_a_paid_order_of_a_sku_stays_under_one_kb(table: Table) -> None:
    repos, pid = _tour(table)
    world = PaymentWorld(table)
    buyer = world.customer("buyer")
    adult = _sku(repos, pid, "成人")
    request = PlaceOrderRequest(lines=[OrderLineRequest(product_id=pid, sku_id=adult["sku_id"], quantity=2)])
    order_id = place_order(PlaceOrder(request=request, buyer_id=buyer, now=T0, device_id="dev-8c1f2e9a4b7d",
                                      source_ip="203.0.113.7"),
                           repos=PlacementRepositories.on(table), pay=_no_pay, notify_url=NOTIFY_URL).order_id
    world.pay(order_id)
    size = order_size(table, order_id)
    assert size < KB, size


def test_each_line_earns_the_commission_of_the_sku_it_bought(table: Table) -> None:
    repos, pid = _tour(table)
    world = PaymentWorld(table)
    a, b, buyer = _chain(world)
    adult, child = _sku(repos, pid, "成人"), _sku(repos, pid, "儿童")
    request = PlaceOrderRequest(lines=[OrderLineRequest(product_id=pid, sku_id=adult["sku_id"], quantity=1),
                                       OrderLineRequest(product_id=pid, sku_id=child["sku_id"], quantity=2)])
    order_id = place_order(PlaceOrder(request=request, buyer_id=buyer, now=T0),
                           repos=PlacementRepositories.on(table), pay=_no_pay, notify_url=NOTIFY_URL).order_id
    world.pay(order_id)
    world.commission_worker(order_id, now=T0 + timedelta(minutes=1))
    paid = {key: (who, amount) for key, (who, amount, _) in world.records(order_id).items()}
    # adults: the product's ratio 10% / 5% of 20,000; children: their SKU's own 800 / 200 fen per unit
    assert paid == {("1", 1): (b, 2_000), ("1", 2): (a, 1_000), ("2", 1): (b, 1_600), ("2", 2): (a, 400)}


def test_a_refund_of_one_sku_line_holds_that_skus_amount_only(table: Table) -> None:
    repos, pid = _tour(table)
    world = PaymentWorld(table)
    buyer = world.customer("buyer")
    adult, child = _sku(repos, pid, "成人"), _sku(repos, pid, "儿童")
    request = PlaceOrderRequest(lines=[OrderLineRequest(product_id=pid, sku_id=adult["sku_id"], quantity=1),
                                       OrderLineRequest(product_id=pid, sku_id=child["sku_id"], quantity=2)])
    order_id = place_order(PlaceOrder(request=request, buyer_id=buyer, now=T0),
                           repos=PlacementRepositories.on(table), pay=_no_pay, notify_url=NOTIFY_URL).order_id
    world.pay(order_id)
    orders, refunds = OrderRepository(table), RefundRepository(table)
    refund = request_refund(orders=orders, refunds=refunds, buyer_id=buyer, order_id=order_id, reason="行程取消",
                            lines=[RefundLine("2")], now=T0 + timedelta(hours=1))
    assert refund.amount_fen == 20_000  # the two children at their SKU's price, not the adult's
    lines = (table.get({"pk": f"ORDER#{order_id}", "sk": "ORDER"}, consistent=True) or {})["lines"]
    assert [(line["sku_label"], line.get("refund_held_fen", 0)) for line in lines] == [("成人", 0), ("儿童", 20_000)]
