"""Order and commission items stay under 1 KB through a lifecycle (DynamoDB bills a write per
started KB of the whole item, twice in a transaction, again per index entry), read back whole, and
records stored in the older, whole shape keep reading and are compacted by their migration."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from bench._meter import item_size
from mall.dal.catalog import CategoryRepository, ProductRepository
from mall.dal.commissions import commission_from_item
from mall.dal.erasure import ErasureRaced, ErasureRepository, ErasureWrites
from mall.dal.fraud import FraudRepository
from mall.dal.orders import OrderRepository
from mall.dal.table import Table, serialize
from mall.domain.catalog import Category, Product
from mall.schemas.orders import AddressRequest, OrderLineRequest, PlaceOrderRequest
from mall.services import fulfilment
from mall.services.commissions import CommissionRepositories, sync_order
from mall.services.orders import PlacementRepositories, PlaceOrder, place_order
from mall.services.settlement import SettlementRepositories, settle_due
from tests.integration.test_commission_sync import (
    COMPLETED,
    NOW,
    complete,
    line,
    promoter,
    put_order,
    records,
    save_settings,
)
from tests.integration.test_payment_snapshot import MERCHANT, T0, _no_pay
from tests.integration.test_payment_snapshot import World as PaymentWorld
from tools.migrations import run
from tools.migrations.compact_commission_records import MIGRATION as COMPACT_COMMISSIONS
from tools.migrations.order_addresses_apart import MIGRATION as ADDRESSES_APART

pytestmark = pytest.mark.integration

#: Ids as the services make them (``mall.ids``) and a product name as merchants write them.
ORDER = "o_01m95rvgdrwkb843nz6fgp"
L1, L2 = "u_5gkmykuv7lan4iujtqsju4wh", "u_4f2njrl5gupa7zzrv53rowlx"
BUYER = "u_b3bo4o4iwanmgywpsqkrmfc3"
KB = 1024


@pytest.fixture
def world(table: Table) -> tuple[Table, int]:
    CategoryRepository(table).create(Category(category_id="c_tea", name="茶", l1_rate_bp=1200, l2_rate_bp=600))
    return table, save_settings(table, settlement_days=7)


def stored_commissions(table: Table) -> list[dict[str, Any]]:
    page = table.query_where("#pk = :pk AND begins_with(#sk, :sk)", names={"#pk": "pk", "#sk": "sk"},
                             values={":pk": f"ORDER#{ORDER}", ":sk": "COMMISSION#"}, limit=None, consistent=True)
    assert page.items
    return page.items


def sizes(items: list[dict[str, Any]]) -> list[int]:
    return [item_size(serialize(item)) for item in items]


def lifecycle_records(table: Table, version: int) -> None:
    promoter(table, L1, level="senior")
    promoter(table, L2)
    tea = {**line("1", 39_900), "name": "明前西湖龙井 特级 250g 礼盒装", "product_id": "p_01m95rv51xa63a8chydjxt"}
    put_order(table, ORDER, [tea], l1=L1, l2=L2, version=version, buyer=BUYER)


def test_a_commission_record_stays_under_one_kb_from_creation_to_settlement(world: tuple[Table, int]) -> None:
    table, version = world
    lifecycle_records(table, version)
    repos = CommissionRepositories.on(table)
    sync_order(repos, order_id=ORDER, now=NOW)
    created = sizes(stored_commissions(table))
    complete(table, ORDER)
    assert sync_order(repos, order_id=ORDER, now=NOW).due_set == 2
    due = sizes(stored_commissions(table))
    settled_at = COMPLETED + timedelta(days=8)
    assert settle_due(SettlementRepositories.on(table), as_of=settled_at, now=settled_at).settled == 2
    settled = sizes(stored_commissions(table))
    assert max(created + due + settled) < KB, (created, due, settled)


def test_a_record_reads_back_whole(world: tuple[Table, int]) -> None:
    table, version = world
    lifecycle_records(table, version)
    sync_order(CommissionRepositories.on(table), order_id=ORDER, now=NOW)
    found = records(table, ORDER)[("1", 1)]
    assert {k: found.rule[k] for k in ("level", "base_fen", "quantity", "fixed_fen", "level_points_bp", "wanted_fen",
                                       "capped", "cap_fen", "basis", "self_purchase")} == {
        "level": 1, "base_fen": 39_900, "quantity": 1, "fixed_fen": 0, "level_points_bp": 300, "wanted_fen": 5_985,
        "capped": False, "cap_fen": 11_970, "basis": "binding", "self_purchase": False}
    assert found.history == [{"at": "2026-11-03T10:00:00Z", "status": "FROZEN", "amount_fen": 5_985}]


def test_records_stored_whole_keep_reading_and_the_migration_compacts_them_once(world: tuple[Table, int]) -> None:
    table, version = world
    lifecycle_records(table, version)
    sync_order(CommissionRepositories.on(table), order_id=ORDER, now=NOW)
    compact = {(i["pk"], i["sk"]): i for i in stored_commissions(table)}
    before = records(table, ORDER)
    # The shape written before: the whole rule snapshot and the creation entry in the history.
    for key, item in compact.items():
        record = commission_from_item(item)
        table.update({"pk": key[0], "sk": key[1]}, "SET #rule = :rule, #history = :history",
                     names={"#rule": "rule", "#history": "history"},
                     values={":rule": record.rule, ":history": record.history})
    whole = {(i["pk"], i["sk"]): i for i in stored_commissions(table)}
    assert all(sizes([whole[k]])[0] > sizes([compact[k]])[0] for k in compact)
    assert records(table, ORDER) == before  # the tolerant reader

    first = run(table, COMPACT_COMMISSIONS)
    assert first.finished and first.changed == 2
    assert {(i["pk"], i["sk"]): i for i in stored_commissions(table)} == compact
    assert records(table, ORDER) == before
    again = run(table, COMPACT_COMMISSIONS, restart=True)
    assert again.finished and again.changed == 0


# ---- the order: its delivery address kept apart ----------------------------------------------


ADDRESS = {"name": "欧阳明月", "phone": "13812341234", "province": "浙江省", "city": "杭州市",
           "detail": "西湖区文三路 398 号东方通信科技园 3 号楼 1201 室"}


def physical_order(table: Table) -> tuple[str, str]:
    """An order placed and paid through the real services: one physical line, a delivery address."""
    world = PaymentWorld(table)
    ProductRepository(table).create(Product(product_id="p_01m95rv51xa63a8chydjxt", name="明前西湖龙井 特级 250g 礼盒装",
                                            type="physical", category_id="c_tea", price_fen=39_900, stock=100,
                                            on_shelf=True))
    buyer = world.customer("buyer")
    request = PlaceOrderRequest(lines=[OrderLineRequest(product_id="p_01m95rv51xa63a8chydjxt", quantity=1)],
                                address=AddressRequest(**ADDRESS))
    order_id = place_order(PlaceOrder(request=request, buyer_id=buyer, now=T0, device_id="dev-8c1f2e9a4b7d",
                                      source_ip="203.0.113.7"),
                           repos=PlacementRepositories.on(table), pay=_no_pay, notify_url=MERCHANT.notify_url).order_id
    world.pay(order_id)
    return order_id, buyer


def order_size(table: Table, order_id: str) -> int:
    item = table.get({"pk": f"ORDER#{order_id}", "sk": "ORDER"}, consistent=True)
    assert item is not None
    return item_size(serialize(item))


def test_an_order_item_stays_under_one_kb_from_placing_to_receipt(table: Table) -> None:
    order_id, buyer = physical_order(table)
    repo = OrderRepository(table)
    paid = order_size(table, order_id)
    fulfilment.ship_order(repo=repo, order_id=order_id, carrier="SF", tracking_no="SF1234567890123", admin="admin:a",
                          now=NOW)
    shipped = order_size(table, order_id)
    fulfilment.confirm_receipt(repo=repo, buyer_id=buyer, order_id=order_id, now=NOW + timedelta(days=2))
    completed = order_size(table, order_id)
    assert max(paid, shipped, completed) < KB, (paid, shipped, completed)
    # Every reader still sees the address: the detail (masked), the merchant's reveal.
    detail = fulfilment.my_order(repo=repo, buyer_id=buyer, order_id=order_id)
    assert detail.address is not None and detail.address.city == "杭州市" and detail.address.phone == "138****1234"
    order = repo.get_with_address(order_id)
    assert order is not None and isinstance(order.address, dict) and order.address["province"] == "浙江省"


def _erase(erasure: ErasureRepository, changes: ErasureWrites, buyer: str) -> bool:
    return erasure.erase(changes, buyer, remove=[], erased_at="2026-11-20T00:00:00Z", seen_last_erasure=None,
                         audit=None, now=NOW)


def test_the_fraud_scan_and_the_erasure_find_an_address_kept_apart(table: Table) -> None:
    order_id, buyer = physical_order(table)
    fraud = FraudRepository(table)
    assert fraud.orders([order_id])[order_id]["address"]["phone_fp"]
    assert [o["address"]["address_fp"] for o in fraud.own_orders(buyer) if o.get("entity") == "order"]
    erasure = ErasureRepository(table)
    records = erasure.buyer_records(buyer)
    (order,) = [o for o in records.orders if o.get("entity") == "order"]
    # Placed without a gsi1 entry on its address item: the order's physical line says it has one.
    assert "address" not in order and records.unread_addresses == {order_id}
    changes = erasure.writes()
    changes.replace_map(order, "address", {"name_enc": "ERASED", "erased_at": "2026-11-20T00:00:00Z"},
                        remove=["device_id", "source_ip"])
    assert _erase(erasure, changes, buyer)
    apart = table.get({"pk": f"ORDER#{order_id}", "sk": "ADDRESS"}, consistent=True)
    stored = table.get({"pk": f"ORDER#{order_id}", "sk": "ORDER"}, consistent=True)
    assert apart is not None and apart["address"] == {"name_enc": "ERASED", "erased_at": "2026-11-20T00:00:00Z"}
    assert stored is not None and "device_id" not in stored and "address" not in stored
    # Indexed by the erasure: the next request reads it back, erased.
    again = erasure.buyer_records(buyer)
    assert again.orders[0]["address"] == apart["address"] and not again.unread_addresses


def _old_shape(table: Table, order_id: str) -> dict[str, Any]:
    """The order as stored before: its address on the order item, no address item."""
    key = {"pk": f"ORDER#{order_id}", "sk": "ADDRESS"}
    apart = table.get(key, consistent=True)
    assert apart is not None
    table.update({"pk": f"ORDER#{order_id}", "sk": "ORDER"}, "SET #a = :a", names={"#a": "address"},
                 values={":a": apart["address"]})
    table.client.delete_item(TableName=table.name, Key=serialize(key))
    return dict(apart["address"])


def test_orders_stored_with_their_address_keep_reading_and_the_migration_moves_it_once(table: Table) -> None:
    order_id, buyer = physical_order(table)
    address = _old_shape(table, order_id)
    repo = OrderRepository(table)
    before = fulfilment.my_order(repo=repo, buyer_id=buyer, order_id=order_id)
    assert before.address is not None and before.address.city == "杭州市"
    first = run(table, ADDRESSES_APART)
    assert first.finished and first.changed == 1
    stored = table.get({"pk": f"ORDER#{order_id}", "sk": "ORDER"}, consistent=True)
    apart = table.get({"pk": f"ORDER#{order_id}", "sk": "ADDRESS"}, consistent=True)
    assert stored is not None and "address" not in stored and apart is not None and apart["address"] == address
    assert fulfilment.my_order(repo=repo, buyer_id=buyer, order_id=order_id) == before
    assert run(table, ADDRESSES_APART, restart=True).changed == 0


def test_an_erasure_that_read_the_address_on_the_order_erases_it_where_the_migration_moved_it(table: Table) -> None:
    order_id, buyer = physical_order(table)
    _old_shape(table, order_id)
    erasure = ErasureRepository(table)
    (order,) = [o for o in erasure.buyer_records(buyer).orders if o.get("entity") == "order"]  # read before the move
    assert run(table, ADDRESSES_APART).changed == 1
    erased = {"name_enc": "ERASED", "erased_at": "2026-11-20T00:00:00Z"}
    changes = erasure.writes()
    changes.replace_map(order, "address", erased)
    with pytest.raises(ErasureRaced):  # the address is no longer where it was read: nothing written
        _erase(erasure, changes, buyer)
    assert table.get({"pk": f"ORDER#{order_id}", "sk": "ADDRESS"}, consistent=True)["address"] != erased
    # read again, as the service does
    (order,) = [o for o in erasure.buyer_records(buyer).orders if o.get("entity") == "order"]
    changes = erasure.writes()
    changes.replace_map(order, "address", erased)
    assert _erase(erasure, changes, buyer)
    apart = table.get({"pk": f"ORDER#{order_id}", "sk": "ADDRESS"}, consistent=True)
    stored = table.get({"pk": f"ORDER#{order_id}", "sk": "ORDER"}, consistent=True)
    assert apart is not None and apart["address"] == erased
    assert stored is not None and "address" not in stored
