"""The catalog on real DynamoDB Local: stock reservations under real parallel transactions,
conditional edits, BatchGetItem, the shelf index and the low-stock flag."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from threading import Barrier

import pytest

from mall.dal.catalog import MAX_LISTED_PRODUCTS, CategoryRepository, ProductRepository
from mall.dal.table import Table, TransactionCancelled, Write
from mall.domain.catalog import Category, CommissionSetting, Product
from mall.errors import Conflict, InvalidInput
from mall.schemas.catalog import ProductUpdate
from mall.services.catalog.common import CatalogRepositories
from mall.services.catalog.products import update_product
from mall.services.catalog.stock import note_stock_levels

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def seed(table: Table, *, stock: int = 10, on_shelf: bool = True, product_id: str = "p_tea",
         threshold: int = 0) -> Product:
    CategoryRepository(table).create(Category(category_id="c_tea", name="Tea", created_at=NOW))
    return ProductRepository(table).create(Product(
        product_id=product_id, name="Longjing", type="physical", category_id="c_tea", price_fen=10_000, stock=stock,
        on_shelf=on_shelf, low_stock_threshold=threshold, commission=CommissionSetting("ratio", 1000, 500),
        created_at=NOW))


def test_fifty_buyers_racing_for_ten_units_never_oversell(table: Table) -> None:
    seed(table, stock=10)
    repo = ProductRepository(table)
    buyers = 50
    barrier = Barrier(buyers)

    def buy(index: int) -> bool:
        order = {"pk": f"ORDER#o_{index:03d}", "sk": "ORDER", "entity": "order", "quantity": 1}
        barrier.wait()
        try:
            table.transact([Write.put(table.name, order, condition="attribute_not_exists(pk)"),
                            repo.reserve_stock("p_tea", 1)])
        except TransactionCancelled as exc:
            # Lost on the stock condition, or on contention with a concurrent transaction.
            assert set(exc.reasons) <= {"None", "ConditionalCheckFailed", "TransactionConflict"}
            return False
        return True

    with ThreadPoolExecutor(buyers) as pool:
        outcomes = list(pool.map(buy, range(buyers)))
    product = repo.get("p_tea", consistent=True)
    assert product is not None
    sold = sum(outcomes)
    assert product.stock == 10 - sold and product.stock >= 0
    assert product.sales == sold and product.stock_seq == sold
    orders = [i for i in range(buyers) if table.get({"pk": f"ORDER#o_{i:03d}", "sk": "ORDER"})]
    assert len(orders) == sold <= 10  # every order that exists holds stock, and no other does
    for _ in range(product.stock):  # what contention left unsold can still be sold, and no more
        table.transact([repo.reserve_stock("p_tea", 1)])
    with pytest.raises(TransactionCancelled) as refused:
        table.transact([repo.reserve_stock("p_tea", 1)])
    assert refused.value.reasons == ["ConditionalCheckFailed"]
    assert refused.value.items[0] is not None and refused.value.items[0]["stock"] == 0


def test_every_parallel_reservation_that_succeeds_is_counted_exactly(table: Table) -> None:
    seed(table, stock=10)
    repo = ProductRepository(table)
    buyers = 50
    barrier = Barrier(buyers)

    def buy(_: int) -> bool:
        barrier.wait()
        for _attempt in range(20):  # retry contention like a client would; stop when sold out
            try:
                table.transact([repo.reserve_stock("p_tea", 1)])
            except TransactionCancelled as exc:
                if "ConditionalCheckFailed" in exc.reasons:
                    return False
                continue
            return True
        return False

    with ThreadPoolExecutor(buyers) as pool:
        outcomes = list(pool.map(buy, range(buyers)))
    product = repo.get("p_tea", consistent=True)
    assert product is not None
    assert sum(outcomes) == 10 and product.stock == 0 and product.sales == 10


def test_reserve_refuses_an_off_shelf_product_and_release_gives_back(table: Table) -> None:
    seed(table, stock=5, on_shelf=False)
    repo = ProductRepository(table)
    with pytest.raises(TransactionCancelled):
        table.transact([repo.reserve_stock("p_tea", 1)])
    table.transact([repo.release_stock("p_tea", 2)])
    product = repo.get("p_tea", consistent=True)
    assert product is not None and product.stock == 7
    with pytest.raises(ValueError, match="quantity"):
        repo.reserve_stock("p_tea", 0)


def test_get_many_reads_in_batches_and_skips_unknown_ids(table: Table) -> None:
    seed(table)
    repo = ProductRepository(table)
    base = repo.get("p_tea")
    assert base is not None
    for i in range(120):
        repo.create(replace(base, product_id=f"p_{i:03d}", name=f"Tea {i}", price_fen=100 + i))
    wanted = [f"p_{i:03d}" for i in range(120)] + ["p_missing", "p_000"]
    found = repo.get_many(wanted)
    assert set(found) == {f"p_{i:03d}" for i in range(120)}
    assert found["p_007"].price_fen == 107
    assert repo.get_many([]) == {}
    category = CategoryRepository(table).get("c_tea")
    assert category is not None and category.product_count == 121


def test_shelf_partition_with_a_price_range(table: Table) -> None:
    seed(table)
    repo = ProductRepository(table)
    base = repo.get("p_tea")
    assert base is not None
    for i, price in enumerate([100, 999, 1000, 5000, 5001]):
        repo.create(replace(base, product_id=f"p_{i}", price_fen=price))
    repo.create(replace(base, product_id="p_off", price_fen=2000, on_shelf=False))
    found, truncated = repo.list_shelf(on_shelf=True, min_price_fen=999, max_price_fen=5000)
    assert sorted(p.price_fen for p in found) == [999, 1000, 5000] and not truncated
    assert [p.product_id for p in repo.list_shelf(on_shelf=False)[0]] == ["p_off"]
    assert len(repo.list_shelf(on_shelf=True, min_price_fen=5001)[0]) == 2  # 5001 and the seeded 10000
    assert MAX_LISTED_PRODUCTS >= 1000


def test_two_admins_editing_at_once_cannot_both_win(table: Table) -> None:
    seed(table)
    editors = 8
    barrier = Barrier(editors)

    def edit(index: int) -> str:
        barrier.wait()
        try:
            update_product(repos=CatalogRepositories.on(table), product_id="p_tea",
                           body=ProductUpdate(version=1, name=f"Edited by {index}"), now=NOW)
        except Conflict:
            return "conflict"
        return "saved"

    with ThreadPoolExecutor(editors) as pool:
        outcomes = list(pool.map(edit, range(editors)))
    assert outcomes.count("saved") == 1
    product = ProductRepository(table).get("p_tea", consistent=True)
    assert product is not None and product.version == 2
    assert product.name == f"Edited by {outcomes.index('saved')}"


def test_moving_to_an_unknown_category_changes_nothing(table: Table) -> None:
    seed(table)
    with pytest.raises(InvalidInput):
        update_product(repos=CatalogRepositories.on(table), product_id="p_tea",
                       body=ProductUpdate(version=1, category_id="c_nope"), now=NOW)
    product = ProductRepository(table).get("p_tea", consistent=True)
    assert product is not None and product.version == 1 and product.category_id == "c_tea"
    category = CategoryRepository(table).get("c_tea", consistent=True)
    assert category is not None and category.product_count == 1


def test_low_stock_flag_follows_the_latest_stock_under_concurrency(table: Table) -> None:
    seed(table, stock=30, threshold=5)
    repo = ProductRepository(table)
    workers = 25
    barrier = Barrier(workers)

    def buy_and_note(_: int) -> None:
        barrier.wait()
        for _attempt in range(20):
            try:
                table.transact([repo.reserve_stock("p_tea", 1)])
                break
            except TransactionCancelled:
                continue
        note_stock_levels(products=repo, product_ids=["p_tea"], now=NOW)

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(buy_and_note, range(workers)))
    product = repo.get("p_tea", consistent=True)
    assert product is not None and product.stock == 5
    flagged, _ = repo.low_stock_page(limit=10, start_key=None)
    assert flagged == ["p_tea"]
    flag = table.get({"pk": "PRODUCT#p_tea", "sk": "LOWSTOCK"}, consistent=True)
    assert flag is not None and flag["stock_seq"] == 25 and flag["stock"] == 5
    # An older observation arriving late cannot lower the flag.
    stale = replace(product, stock=29, stock_seq=1)
    assert repo.record_stock_level(stale, low=False, now=NOW) is False
    assert repo.low_stock_page(limit=10, start_key=None)[0] == ["p_tea"]


def test_category_delete_and_rates_round_trip(table: Table) -> None:
    repo = CategoryRepository(table)
    repo.create(Category(category_id="c_a", name="A", sort=3, l1_rate_bp=1200, created_at=NOW))
    repo.create(Category(category_id="c_b", name="B", sort=1, created_at=NOW))
    assert [c.category_id for c in repo.list_all()] == ["c_b", "c_a"]
    changed = repo.update(Category(category_id="c_a", name="A2", sort=0, l1_rate_bp=None, l2_rate_bp=300),
                          expected_version=1, now=NOW)
    assert (changed.name, changed.l1_rate_bp, changed.l2_rate_bp, changed.version) == ("A2", None, 300, 2)
    assert [c.category_id for c in repo.list_all()] == ["c_a", "c_b"]
    with pytest.raises(Conflict):
        repo.delete("c_a", expected_version=1)
    repo.delete("c_a", expected_version=2)
    assert repo.get("c_a", consistent=True) is None
