"""The local demo catalog: valid under the catalog's own rules, and idempotent."""

from __future__ import annotations

import pytest

from mall.dal.catalog import CategoryRepository, ProductRepository
from mall.dal.table import main_table
from tools.seed_catalog import DEMO_CATEGORIES, DEMO_PRODUCTS, seed_catalog

pytestmark = pytest.mark.usefixtures("moto_table")


def test_seed_creates_every_kind_once() -> None:
    table = main_table()
    first = seed_catalog(table)
    assert set(first) == set(DEMO_CATEGORIES) | set(DEMO_PRODUCTS)
    assert seed_catalog(table) == []
    products = ProductRepository(table).get_many(DEMO_PRODUCTS)
    assert {p.type for p in products.values()} == {"physical", "service", "virtual"}
    assert any(not p.on_shelf for p in products.values()) and any(p.is_low_on_stock for p in products.values())
    counts = {c.category_id: c.product_count for c in CategoryRepository(table).list_all()}
    assert sum(counts.values()) == len(DEMO_PRODUCTS)
