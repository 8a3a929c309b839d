"""The commission rate index on DynamoDB Local: every cap check of the save routes gives the same
answer from the index (one Query) as from the categories, products and promoters themselves (the
cap tests are run again here with the index ready), the migration copies what was stored before,
never replacing a newer copy, and until it has finished the saves read the sources."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mall.clock import utc_now
from mall.dal.catalog import CategoryRepository, ProductRepository
from mall.dal.commission_rates import RateIndex
from mall.dal.keys import commission_rate_key
from mall.dal.referral import PromoterRepository
from mall.dal.table import Table
from mall.domain.catalog import Category, CommissionSetting, Product
from mall.domain.referral import Promoter
from tests.integration.test_commission_cap_saves import *  # noqa: F403 - the same cap checks, with the index ready
from tools.migrations import run
from tools.migrations.commission_rate_index import MIGRATION

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def index_ready(table: Table) -> Iterator[None]:
    """The index of an empty table is complete: mark it ready before anything is stored, so every
    rate below gets its copy from the edit that writes it."""
    run(table, MIGRATION)
    yield


def _stored_before_the_index(table: Table) -> None:
    """Sources as stored before the index: written through their repositories, then their copies,
    the index's readiness and the migration's record removed."""
    now = utc_now()
    CategoryRepository(table).create(Category(category_id="c_tea", name="茶", l1_rate_bp=1_500, l2_rate_bp=500,
                                              created_at=now))
    CategoryRepository(table).create(Category(category_id="c_gift", name="礼盒", created_at=now))
    ProductRepository(table).create(Product(
        product_id="p_fixed", name="定额茶", type="physical", category_id="c_gift", price_fen=10_000, stock=5,
        commission=CommissionSetting(mode="fixed", l1=800, l2=200), created_at=now))
    ProductRepository(table).create(Product(product_id="p_plain", name="普通茶", type="physical",
                                            category_id="c_tea", price_fen=5_000, stock=5, created_at=now))
    PromoterRepository(table).create(
        Promoter(user_id="u_vip", code="PVIP0001", status="frozen", level_id="basic", l1_override_bp=2_000),
        grant_role=False, replaces_rejected=False, now=now, reserve_code=True)
    for key in (commission_rate_key("CATEGORY", "c_tea"), commission_rate_key("PRODUCT", "p_fixed"),
                commission_rate_key("PROMOTER", "u_vip"), {"pk": "COMMISSION_RATES", "sk": "READY"},
                {"pk": f"MIGRATION#{MIGRATION.name}", "sk": "STATE"}):
        table.client.delete_item(TableName=table.name, Key={"pk": {"S": key["pk"]}, "sk": {"S": key["sk"]}})


def test_the_migration_copies_stored_rates_once_keeps_newer_copies_then_marks_the_index_ready(table: Table) -> None:
    index = RateIndex(table)
    _stored_before_the_index(table)
    assert index.read() is None  # not ready: the saves read the sources meanwhile
    # An edit while the migration runs: the category's copy at version 2 is newer than the item scanned below.
    table.put({**commission_rate_key("CATEGORY", "c_tea"), "entity": "commission_rate", "kind": "CATEGORY",
               "version": 2, "category_id": "c_tea", "name": "茶", "l1_rate_bp": 1_200, "l2_rate_bp": 500})

    progress = run(table, MIGRATION, page_size=2)
    again = run(table, MIGRATION, restart=True)

    assert progress.changed == 2 and again.changed == 0  # the product and the promoter; the category's copy is newer
    rates = index.read()
    assert rates is not None
    assert [(c.category_id, c.l1_rate_bp, c.l2_rate_bp) for c in rates.categories] == [("c_tea", 1_200, 500)]
    assert [(p.product_id, p.commission.mode, p.commission.l1, p.price_fen) for p in rates.products] == [
        ("p_fixed", "fixed", 800, 10_000)]
    assert [(p.user_id, p.l1_override_bp, p.l2_override_bp) for p in rates.promoters] == [("u_vip", 2_000, None)]


def test_edits_keep_the_copies_of_their_sources(table: Table) -> None:
    now = utc_now()
    categories, products, promoters = CategoryRepository(table), ProductRepository(table), PromoterRepository(table)
    categories.create(Category(category_id="c_tea", name="茶", l1_rate_bp=1_500, created_at=now))
    product = Product(product_id="p_1", name="茶", type="physical", category_id="c_tea", price_fen=1_000, stock=1,
                      commission=CommissionSetting(mode="ratio", l1=1_000, l2=300), created_at=now)
    products.create(product)
    promoters.create(Promoter(user_id="u_p", code="PUP00001", status="active", level_id="basic"),
                     grant_role=False, replaces_rejected=False, now=now, reserve_code=True)
    stored = promoters.get("u_p", consistent=True)
    assert stored is not None
    promoters.set_override(stored, l1_bp=1_800, l2_bp=None, by="admin:t", reason="vip", now=now)

    rates = RateIndex(table).read()
    assert rates is not None
    assert ([c.category_id for c in rates.categories], [p.product_id for p in rates.products],
            [(p.user_id, p.l1_override_bp) for p in rates.promoters]) == (["c_tea"], ["p_1"], [("u_p", 1_800)])

    categories.update(Category(category_id="c_tea", name="茶"), expected_version=1, now=now)  # rates removed
    products.update(Product(**{**{f: getattr(product, f) for f in product.__slots__},  # type: ignore[attr-defined]
                               "commission": CommissionSetting()}), expected_version=1, previous_category_id="c_tea",
                    now=now)
    again = promoters.get("u_p", consistent=True)
    assert again is not None
    promoters.set_override(again, l1_bp=None, l2_bp=None, by="admin:t", reason="done", now=now)
    categories.create(Category(category_id="c_gone", name="旧", l2_rate_bp=100, created_at=now))
    categories.delete("c_gone", expected_version=1)

    rates = RateIndex(table).read()
    assert rates is not None and (rates.categories, rates.products, rates.promoters) == ([], [], [])
