"""Merchandising on DynamoDB Local: the shelf schedule (定时上下架) under overlapping runs, the
customers' list at read time, the batch edit (批量操作), the hot sort (爆款) and the low-stock
alert sent once per crossing."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from threading import Barrier

import pytest

from mall.dal.audit import AuditLog
from mall.dal.catalog import CategoryRepository, LowStockAlerts, ProductRepository
from mall.dal.table import Table
from mall.domain.catalog import Category, CommissionSetting, ListingFilter, Product
from mall.errors import Conflict, InvalidInput
from mall.schemas.catalog import CommissionSettingIn, ProductCreate, ProductUpdate, StockAdjustment
from mall.schemas.catalog_batch import ProductBatchEdit
from mall.services.catalog.alerts import ALERT_LEASE, send_low_stock_alerts
from mall.services.catalog.browsing import BrowseProducts, browse_products, product_detail
from mall.services.catalog.common import CatalogRepositories
from mall.services.catalog.merchandising import BatchEdit, apply_due_shelf_changes, batch_edit_products
from mall.services.catalog.products import adjust_stock, create_product, update_product
from mall.services.catalog.stock import note_stock_levels

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
CHINA = timezone(timedelta(hours=8))


def _category(table: Table, category_id: str = "c_tea") -> None:
    CategoryRepository(table).create(Category(category_id=category_id, name=category_id, created_at=NOW))


def _product(table: Table, product_id: str, *, on_shelf: bool = False, on_at: datetime | None = None,
             off_at: datetime | None = None, price_fen: int = 10_000, hot_rank: int = 0, sales: int = 0,
             stock: int = 50, threshold: int = 0) -> Product:
    products = ProductRepository(table)
    created = products.create(Product(
        product_id=product_id, name=f"茶 {product_id}", type="physical", category_id="c_tea", price_fen=price_fen,
        stock=stock, on_shelf=on_shelf, on_shelf_at=on_at, off_shelf_at=off_at, hot_rank=hot_rank,
        low_stock_threshold=threshold, created_at=NOW - timedelta(days=1)))
    note_stock_levels(products=products, product_ids=[product_id], now=NOW)
    return created


def _actions(table: Table, action: str) -> list[str]:
    return sorted(str(i["entity_id"]) for i in AuditLog(table).on(NOW) if i["action"] == action)


def _stored(table: Table, product_id: str) -> Product:
    product = ProductRepository(table).get(product_id, consistent=True)
    assert product is not None
    return product


# ---- 定时上下架 ---------------------------------------------------------------------------------


def test_two_overlapping_schedule_runs_apply_each_due_change_once(table: Table) -> None:
    _category(table)
    past = NOW - timedelta(minutes=1)
    _product(table, "p_on", on_at=past)
    _product(table, "p_off", on_shelf=True, off_at=past)
    _product(table, "p_both", on_at=past - timedelta(hours=1), off_at=past)  # both passed: ends off
    _product(table, "p_later", on_at=past, off_at=NOW + timedelta(days=1))  # on now, off tomorrow
    _product(table, "p_future", on_at=NOW + timedelta(hours=1))
    repos = CatalogRepositories.on(table)
    barrier = Barrier(2)

    def run(_: int) -> list[str]:
        barrier.wait()
        return apply_due_shelf_changes(repos=repos, now=NOW).applied

    with ThreadPoolExecutor(2) as pool:
        applied = [pid for ran in pool.map(run, range(2)) for pid in ran]

    assert sorted(applied) == ["p_both", "p_later", "p_off", "p_on"]  # each by exactly one run
    assert _actions(table, "product.shelf_schedule") == ["p_both", "p_later", "p_off", "p_on"]
    on, off, both, later, future = (_stored(table, p) for p in ("p_on", "p_off", "p_both", "p_later", "p_future"))
    assert (on.on_shelf, on.on_shelf_at, on.version) == (True, None, 2)
    assert (off.on_shelf, off.off_shelf_at) == (False, None)
    assert (both.on_shelf, both.on_shelf_at, both.off_shelf_at) == (False, None, None)
    assert (later.on_shelf, later.on_shelf_at, later.off_shelf_at) == (True, None, NOW + timedelta(days=1))
    assert (future.on_shelf, future.version) == (False, 1)
    # A third run finds nothing due; the next day's run takes p_later off, once.
    assert apply_due_shelf_changes(repos=repos, now=NOW).as_dict() == {"applied": 0, "skipped": 0, "retry_later": 0}
    assert apply_due_shelf_changes(repos=repos, now=NOW + timedelta(days=1, hours=2)).applied == ["p_future",
                                                                                                   "p_later"]
    assert _stored(table, "p_later").on_shelf is False
    assert ProductRepository(table).due_for_shelf_change(NOW + timedelta(days=30)) == []


def test_a_schedule_run_after_an_admin_edit_applies_the_plan_to_the_edited_product(table: Table) -> None:
    _category(table)
    _product(table, "p_1", on_at=NOW - timedelta(minutes=1))
    repos = CatalogRepositories.on(table)
    update_product(repos=repos, product_id="p_1", body=ProductUpdate(version=1, name="改名"), now=NOW, by="admin")
    apply_due_shelf_changes(repos=repos, now=NOW)
    stored = _stored(table, "p_1")
    assert (stored.name, stored.on_shelf, stored.version) == ("改名", True, 3)  # nothing of the edit lost


def test_the_customers_list_hides_a_product_past_its_off_time_before_the_schedule_runs(table: Table) -> None:
    _category(table)
    _product(table, "p_gone", on_shelf=True, off_at=NOW - timedelta(seconds=1))
    _product(table, "p_stays", on_shelf=True, off_at=NOW + timedelta(hours=1))
    repos = CatalogRepositories.on(table)
    listed = browse_products(BrowseProducts(where=ListingFilter(), sort="newest", limit=20, now=NOW), repos=repos)
    assert [p.product_id for p in listed.items] == ["p_stays"]
    assert product_detail(repos=repos, product_id="p_gone", viewer=None, now=NOW).on_shelf is False
    assert product_detail(repos=repos, product_id="p_stays", viewer=None, now=NOW).on_shelf is True


def test_an_off_time_not_after_the_on_time_is_refused_naming_the_field(table: Table) -> None:
    _category(table)
    repos = CatalogRepositories.on(table)
    at = datetime(2026, 11, 23, 16, 0, tzinfo=CHINA)  # 16:00 China time is 08:00 UTC
    body = ProductCreate(name="定时", type="physical", category_id="c_tea", price_fen=100,
                         on_shelf_at=at, off_shelf_at=at)
    with pytest.raises(InvalidInput) as refused:
        create_product(repos=repos, body=body, now=NOW, product_id="p_x")
    assert [p.field for p in refused.value.fields] == ["off_shelf_at"]
    assert ProductRepository(table).get("p_x") is None
    created = create_product(repos=repos, body=body.model_copy(update={"off_shelf_at": at + timedelta(hours=2)}),
                             now=NOW, product_id="p_x")
    assert created.on_shelf_at == "2026-11-23T08:00:00Z" and created.off_shelf_at == "2026-11-23T10:00:00Z"
    with pytest.raises(InvalidInput) as refused:
        update_product(repos=repos, product_id="p_x", body=ProductUpdate(version=1, on_shelf_at=at + timedelta(days=1)),
                       now=NOW)
    assert [p.field for p in refused.value.fields] == ["off_shelf_at"]


def test_naive_shelf_times_are_refused_by_the_model() -> None:
    with pytest.raises(ValueError, match="on_shelf_at"):
        ProductUpdate.model_validate({"version": 1, "on_shelf_at": "2026-12-12T00:00:00"})


# ---- 爆款 ----------------------------------------------------------------------------------------


def test_sort_hot_lists_hot_products_first_by_rank_then_by_sales(table: Table) -> None:
    _category(table)
    _product(table, "p_plain", on_shelf=True)
    _product(table, "p_hot1", on_shelf=True, hot_rank=1)
    _product(table, "p_hot9", on_shelf=True, hot_rank=9)
    _product(table, "p_hidden", hot_rank=99)  # off the shelf: not listed however hot
    repos = CatalogRepositories.on(table)
    update_product(repos=repos, product_id="p_plain", body=ProductUpdate(version=1, hot_rank=0), now=NOW)
    first = browse_products(BrowseProducts(where=ListingFilter(), sort="hot", limit=2, now=NOW), repos=repos)
    assert [(p.product_id, p.hot) for p in first.items] == [("p_hot9", True), ("p_hot1", True)]
    rest = browse_products(BrowseProducts(where=ListingFilter(), sort="hot", limit=2, cursor=first.next_cursor,
                                          now=NOW), repos=repos)
    assert [(p.product_id, p.hot) for p in rest.items] == [("p_plain", False)]


# ---- 批量操作 ------------------------------------------------------------------------------------


def test_a_batch_edit_reports_each_product_and_is_safe_to_send_again(table: Table) -> None:
    _category(table)
    _category(table, "c_ware")
    _product(table, "p_a", price_fen=10_000)
    _product(table, "p_b", price_fen=10_000, on_shelf=True)
    _product(table, "p_cheap", price_fen=1_000)  # 20 + 10 yuan fixed is over the cap at 10 yuan
    repos = CatalogRepositories.on(table)
    body = ProductBatchEdit(product_ids=["p_a", "p_b", "p_cheap", "p_missing", "p_a"], on_shelf=True,
                            category_id="c_ware", commission=CommissionSettingIn(mode="fixed", l1=2000, l2=1000))
    result = batch_edit_products(BatchEdit(body=body, by="admin_1", now=NOW), repos=repos)
    outcomes = {i.product_id: i.outcome for i in result.items}
    assert outcomes == {"p_a": "updated", "p_b": "updated", "p_cheap": "refused", "p_missing": "not_found"}
    assert result.updated == 2
    refused = next(i for i in result.items if i.product_id == "p_cheap")
    assert refused.fields and refused.fields[0].field.startswith("commission")
    a, cheap = _stored(table, "p_a"), _stored(table, "p_cheap")
    assert (a.on_shelf, a.category_id, a.commission, a.version) == (True, "c_ware",
                                                                    CommissionSetting("fixed", 2000, 1000), 2)
    assert (cheap.on_shelf, cheap.category_id, cheap.version) == (False, "c_tea", 1)  # refused: nothing written
    counts = {c.category_id: c.product_count for c in CategoryRepository(table).list_all()}
    assert counts == {"c_tea": 1, "c_ware": 2}
    assert _actions(table, "product.batch_update") == ["p_a", "p_b"]

    again = batch_edit_products(BatchEdit(body=body, by="admin_1", now=NOW), repos=repos)
    assert {i.product_id: i.outcome for i in again.items}["p_a"] == "unchanged"
    assert again.updated == 0 and _stored(table, "p_a").version == 2
    assert _actions(table, "product.batch_update") == ["p_a", "p_b"]


def test_a_batch_edit_that_changes_nothing_or_names_no_category_is_refused(table: Table) -> None:
    _category(table)
    _product(table, "p_a")
    repos = CatalogRepositories.on(table)
    with pytest.raises(InvalidInput) as empty:
        batch_edit_products(BatchEdit(body=ProductBatchEdit(product_ids=["p_a"]), by="a", now=NOW), repos=repos)
    assert [p.field for p in empty.value.fields] == ["on_shelf"]
    with pytest.raises(InvalidInput) as unknown:
        batch_edit_products(BatchEdit(body=ProductBatchEdit(product_ids=["p_a"], category_id="c_none"), by="a",
                                      now=NOW), repos=repos)
    assert [p.field for p in unknown.value.fields] == ["category_id"]
    with pytest.raises(ValueError, match="product_ids"):
        ProductBatchEdit(product_ids=[f"p_{i}" for i in range(101)], on_shelf=True)


# ---- 库存预警提醒 --------------------------------------------------------------------------------


class Recorder:
    def __init__(self, fail: bool = False) -> None:
        self.sent: list[str] = []
        self.fail = fail

    def publish(self, *, subject: str, message: str, alert_key: str) -> None:
        if self.fail:
            raise RuntimeError("SNS unavailable")
        assert subject.isascii() and alert_key in message
        self.sent.append(alert_key)


def _remove(repos: CatalogRepositories, product_id: str, delta: int, now: datetime) -> None:
    adjust_stock(repos=repos, product_id=product_id, body=StockAdjustment(delta=delta, reason="盘点"), by="a",
                 now=now)


def test_a_low_stock_alert_goes_once_per_crossing_even_from_overlapping_runs(table: Table) -> None:
    _category(table)
    _product(table, "p_low", stock=12, threshold=5)
    repos = CatalogRepositories.on(table)
    alerts = LowStockAlerts(table)
    publisher = Recorder()
    _remove(repos, "p_low", -8, NOW)  # 12 → 4: crosses into low stock
    _remove(repos, "p_low", -1, NOW + timedelta(seconds=5))  # still low: the same crossing
    barrier = Barrier(2)

    def run(_: int) -> list[str]:
        barrier.wait()
        return send_low_stock_alerts(alerts=alerts, products=repos.products, publisher=publisher,
                                     now=NOW + timedelta(minutes=1)).sent

    with ThreadPoolExecutor(2) as pool:
        assert sum(len(sent) for sent in pool.map(run, range(2))) == 1
    assert publisher.sent == ["low-stock:p_low:2026-11-22T08:00:00Z"]
    assert send_low_stock_alerts(alerts=alerts, products=repos.products, publisher=publisher,
                                 now=NOW + timedelta(minutes=2)).sent == []

    _remove(repos, "p_low", 10, NOW + timedelta(minutes=3))  # recovers to 13
    assert send_low_stock_alerts(alerts=alerts, products=repos.products, publisher=publisher,
                                 now=NOW + timedelta(minutes=4)).sent == []
    _remove(repos, "p_low", -9, NOW + timedelta(minutes=5))  # crosses again: a new alert
    send_low_stock_alerts(alerts=alerts, products=repos.products, publisher=publisher,
                          now=NOW + timedelta(minutes=6))
    assert publisher.sent == ["low-stock:p_low:2026-11-22T08:00:00Z", "low-stock:p_low:2026-11-22T08:05:00Z"]


def test_an_alert_that_failed_to_publish_is_sent_again_after_its_lease(table: Table) -> None:
    _category(table)
    _product(table, "p_low", stock=3, threshold=5)  # low from the start
    repos = CatalogRepositories.on(table)
    alerts = LowStockAlerts(table)
    failed = send_low_stock_alerts(alerts=alerts, products=repos.products, publisher=Recorder(fail=True), now=NOW)
    assert failed.failed == ["p_low"]
    publisher = Recorder()
    assert send_low_stock_alerts(alerts=alerts, products=repos.products, publisher=publisher,
                                 now=NOW + timedelta(minutes=1)).sent == []  # leased by the failed run
    assert send_low_stock_alerts(alerts=alerts, products=repos.products, publisher=publisher,
                                 now=NOW + ALERT_LEASE + timedelta(seconds=1)).sent == ["p_low"]


def test_a_product_past_its_off_time_cannot_be_ordered_before_the_schedule_runs(table: Table) -> None:
    from mall.clock import utc_now
    from tests.integration.test_orders_concurrency import World

    world = World(table)
    world.add_product("p_open", stock=5)
    world.add_product("p_closed", stock=5)
    ProductRepository(table).update(replace(_stored(table, "p_closed"), off_shelf_at=utc_now() - timedelta(seconds=5)),
                                    expected_version=1, previous_category_id="c1", now=utc_now())
    buyer = world.buyer(1)
    assert world.place(buyer, "p_open")
    with pytest.raises(Conflict) as refused:
        world.place(buyer, "p_closed")
    assert refused.value.code == "product_unavailable"
    assert world.stock("p_closed") == 5


def test_an_order_read_just_before_the_off_time_cannot_commit_after_it(table: Table,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The read-time check and the commit are apart: the stock write itself refuses a product
    whose planned off time has passed by the order's time, as if it was read on the shelf."""
    from mall.clock import utc_now
    from mall.domain.catalog import Product
    from tests.integration.test_orders_concurrency import World

    world = World(table)
    world.add_product("p_closing", stock=5)
    ProductRepository(table).update(replace(_stored(table, "p_closing"), off_shelf_at=utc_now() - timedelta(seconds=1)),
                                    expected_version=1, previous_category_id="c1", now=utc_now())
    # The product as read a moment earlier, still on the shelf.
    monkeypatch.setattr(Product, "shown_on_shelf", lambda self, now: self.on_shelf)
    with pytest.raises(Conflict) as refused:
        world.place(world.buyer(1), "p_closing")
    assert refused.value.code == "product_unavailable"
    assert world.stock("p_closing") == 5
