"""An order is its own unpaid and auto-confirm entry (sparse gsi2 keys set and removed in the
transitions' own writes): no marker item is put or deleted through a lifecycle, the schedules still
find exactly the orders that are due, and the migration moves markers stored before."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from mall.dal.catalog import ProductRepository
from mall.dal.orders import OrderRepository
from mall.dal.table import Table
from mall.domain.catalog import Product
from mall.schemas.orders import AddressRequest, OrderLineRequest, PlaceOrderRequest
from mall.services import fulfilment
from mall.services.orders import PlacementRepositories, PlaceOrder, place_order
from tests.integration.test_payment_snapshot import MERCHANT, T0, _no_pay
from tests.integration.test_payment_snapshot import World as PaymentWorld
from tools.migrations import run
from tools.migrations.order_index_markers import MIGRATION

pytestmark = pytest.mark.integration

PRODUCT = "p_01m95rv51xa63a8chydjxt"
ADDRESS = {"name": "欧阳明月", "phone": "13812341234", "province": "浙江省", "city": "杭州市",
           "detail": "文三路 398 号"}


def _place(table: Table, world: PaymentWorld, buyer: str) -> str:
    request = PlaceOrderRequest(lines=[OrderLineRequest(product_id=PRODUCT, quantity=1)],
                                address=AddressRequest(**ADDRESS))
    return place_order(PlaceOrder(request=request, buyer_id=buyer, now=T0, device_id="dev-1", source_ip="203.0.113.7"),
                       repos=PlacementRepositories.on(table), pay=_no_pay, notify_url=MERCHANT.notify_url).order_id


@pytest.fixture
def world(table: Table) -> PaymentWorld:
    world = PaymentWorld(table)
    ProductRepository(table).create(Product(product_id=PRODUCT, name="龙井", type="physical", category_id="c_tea",
                                            price_fen=39_900, stock=100, on_shelf=True))
    return world


def _written_keys(table: Table) -> tuple[list[tuple[str, str]], Any]:
    """Every key a write request names (puts, updates, deletes, inside transactions too)."""
    keys: list[tuple[str, str]] = []

    def record(**kwargs: Any) -> None:
        params = kwargs.get("params") or {}
        ops = [next(iter(t.values())) for t in params.get("TransactItems", [])] or [params]
        for op in ops:
            key = op.get("Key") or op.get("Item") or {}
            if "pk" in key:
                keys.append((key["pk"]["S"], key["sk"]["S"]))

    table.client.meta.events.register("provide-client-params.dynamodb", record, unique_id="order-entries")
    return keys, lambda: table.client.meta.events.unregister("provide-client-params.dynamodb",
                                                              unique_id="order-entries")


def _due_unpaid(repo: OrderRepository) -> list[str]:
    until = T0 + timedelta(days=1)
    return [m.order_id for m in repo.unpaid_due(placed_until=until, expiring_until=until)]


def _due_auto_confirm(repo: OrderRepository, days: int) -> list[str]:
    return [str(i["order_id"]) for i in repo.due_for_auto_confirm(T0 + timedelta(days=days), limit=100).items]


def test_a_lifecycle_writes_no_marker_item_and_the_schedules_find_the_due_orders(
        table: Table, world: PaymentWorld) -> None:
    repo = OrderRepository(table)
    buyer = world.customer("buyer")
    keys, stop = _written_keys(table)
    try:
        paid_id = _place(table, world, buyer)
        unpaid_id = _place(table, world, buyer)
        assert sorted(_due_unpaid(repo)) == sorted([paid_id, unpaid_id])
        world.pay(paid_id)
        assert _due_unpaid(repo) == [unpaid_id]
        fulfilment.ship_order(repo=repo, order_id=paid_id, carrier="SF", tracking_no="SF1", admin="admin:a",
                              now=T0 + timedelta(hours=1))
        assert _due_auto_confirm(repo, 10) == [paid_id] and _due_auto_confirm(repo, 0) == []
        fulfilment.confirm_receipt(repo=repo, buyer_id=buyer, order_id=paid_id, now=T0 + timedelta(days=2))
        assert _due_auto_confirm(repo, 10) == []
    finally:
        stop()
    markers = [k for k in keys if k[0].startswith("UNPAID#") or k[1] == "AUTOCONFIRM"]
    assert markers == []
    # A placed, a paid and a completed order: none is in an index partition of gsi2 (the schedules read
    # the by-status list, gsi3).
    unpaid = table.get({"pk": f"ORDER#{unpaid_id}", "sk": "ORDER"}, consistent=True)
    done = table.get({"pk": f"ORDER#{paid_id}", "sk": "ORDER"}, consistent=True)
    assert unpaid is not None and unpaid["gsi3pk"] == "ORDERS#CREATED" and "gsi2pk" not in unpaid
    assert done is not None and done["status"] == "COMPLETED" and "gsi2pk" not in done and "gsi2sk" not in done


def test_a_stale_entry_is_dropped_and_a_current_one_kept(table: Table, world: PaymentWorld,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDER_STATUS_LIST", "entries")  # the stage whose schedule reads the gsi2 entries
    repo = OrderRepository(table, status_list="entries")
    order_id = _place(table, world, world.customer("buyer"))
    repo.drop_marker(order_id)  # still CREATED: it stays due
    assert _due_unpaid(repo) == [order_id]
    table.update({"pk": f"ORDER#{order_id}", "sk": "ORDER"}, "SET #s = :x", names={"#s": "status"},
                 values={":x": "EXPIRED"})
    repo.drop_marker(order_id)
    assert _due_unpaid(repo) == []


def test_the_migration_moves_markers_stored_before_onto_their_orders_once(table: Table, world: PaymentWorld) -> None:
    repo = OrderRepository(table, status_list="entries")  # the stage whose schedule reads the gsi2 entries
    buyer = world.customer("buyer")
    unpaid_id, shipped_id, gone_id = (_place(table, world, buyer) for _ in range(3))
    world.pay(shipped_id)
    fulfilment.ship_order(repo=repo, order_id=shipped_id, carrier="SF", tracking_no="SF1", admin="admin:a",
                          now=T0 + timedelta(hours=1))
    world.pay(gone_id)
    # The shape stored before: marker items, no gsi2 keys on the orders (and a stale marker).
    for order_id in (unpaid_id, shipped_id):
        table.update({"pk": f"ORDER#{order_id}", "sk": "ORDER"}, "REMOVE gsi2pk, gsi2sk")
    order = table.get({"pk": f"ORDER#{unpaid_id}", "sk": "ORDER"}, consistent=True)
    assert order is not None
    for order_id in (unpaid_id, gone_id):
        table.put({"pk": f"UNPAID#{order_id}", "sk": "UNPAID", "entity": "unpaid_order", "order_id": order_id,
                   "buyer_id": buyer, "created_at": order["created_at"], "expires_at_order": order["expires_at_order"],
                   "gsi1pk": "UNPAID_ORDERS", "gsi1sk": f"{order['expires_at_order']}#{order_id}"})
    shipped_at = (T0 + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    table.put({"pk": f"ORDER#{shipped_id}", "sk": "AUTOCONFIRM", "entity": "order_auto_confirm",
               "order_id": shipped_id, "shipped_at": shipped_at, "gsi1pk": "AUTOCONFIRM",
               "gsi1sk": f"{shipped_at}#{shipped_id}"})
    assert _due_unpaid(repo) == [] and _due_auto_confirm(repo, 10) == []

    first = run(table, MIGRATION)
    assert first.finished and first.changed == 3
    assert _due_unpaid(repo) == [unpaid_id] and _due_auto_confirm(repo, 10) == [shipped_id]
    for key in ({"pk": f"UNPAID#{unpaid_id}", "sk": "UNPAID"}, {"pk": f"UNPAID#{gone_id}", "sk": "UNPAID"},
                {"pk": f"ORDER#{shipped_id}", "sk": "AUTOCONFIRM"}):
        assert table.get(key, consistent=True) is None
    gone = table.get({"pk": f"ORDER#{gone_id}", "sk": "ORDER"}, consistent=True)
    assert gone is not None and "gsi2pk" not in gone
    again = run(table, MIGRATION, restart=True)
    assert again.finished and again.changed == 0
