"""Demo catalog for the local stack: a few categories and products (physical, service, virtual).

    from tools.seed_catalog import seed_catalog
    seed_catalog(main_table())          # idempotent: fixed ids, existing items are left alone

Everything goes through the catalog's own use cases, so the demo data obeys the same rules
(commission cap, shipping only for physical goods) as the merchant's."""

from __future__ import annotations

import contextlib

from mall.clock import utc_now
from mall.dal.catalog import CategoryRepository, ProductRepository
from mall.dal.table import Table
from mall.errors import Conflict
from mall.schemas.catalog import CommissionSettingIn, ProductCreate
from mall.schemas.catalog_categories import CategoryCreate
from mall.services.catalog.categories import create_category
from mall.services.catalog.common import CatalogRepositories
from mall.services.catalog.products import create_product

DEMO_CATEGORIES: dict[str, CategoryCreate] = {
    "c_demo_tea": CategoryCreate(name="茶叶", sort=1, l1_rate_bp=1200, l2_rate_bp=600),
    "c_demo_teaware": CategoryCreate(name="茶具", sort=2),
    "c_demo_services": CategoryCreate(name="茶艺体验", sort=3),
    "c_demo_cards": CategoryCreate(name="礼品卡", sort=4, l1_rate_bp=500, l2_rate_bp=200),
}

# No images: a product image is an uploaded, verified media-bucket object (POST /admin/media/uploads).
DEMO_PRODUCTS: dict[str, ProductCreate] = {
    "p_demo_longjing": ProductCreate(
        name="西湖龙井 250g", type="physical", category_id="c_demo_tea",
        description="明前龙井, 罐装", price_fen=16_800, stock=120, shipping_fee_fen=800, per_user_limit=5,
        on_shelf=True, low_stock_threshold=10),
    "p_demo_puer": ProductCreate(
        name="普洱茶饼 357g", type="physical", category_id="c_demo_tea",
        price_fen=29_900, stock=8, shipping_fee_fen=800, on_shelf=True, low_stock_threshold=10,
        commission=CommissionSettingIn(mode="ratio", l1=1500, l2=500)),
    "p_demo_gaiwan": ProductCreate(
        name="白瓷盖碗", type="physical", category_id="c_demo_teaware",
        price_fen=6_800, stock=50, shipping_fee_fen=1000, on_shelf=True, low_stock_threshold=5),
    "p_demo_ceremony": ProductCreate(
        name="茶艺体验课 (到店核销)", type="service", category_id="c_demo_services",
        price_fen=19_900, stock=30, per_user_limit=2, on_shelf=True,
        commission=CommissionSettingIn(mode="fixed", l1=2000, l2=1000)),
    "p_demo_giftcard": ProductCreate(
        name="100 元礼品卡", type="virtual", category_id="c_demo_cards",
        price_fen=10_000, stock=1000, on_shelf=True),
    "p_demo_tray": ProductCreate(
        name="竹制茶盘 (已下架)", type="physical", category_id="c_demo_teaware", price_fen=12_800, stock=0,
        shipping_fee_fen=1200, on_shelf=False, distribution_enabled=False),
}


def seed_catalog(table: Table) -> list[str]:
    """Create whatever demo categories and products are missing; returns the ids created."""
    created: list[str] = []
    now = utc_now()
    categories = CategoryRepository(table)
    for category_id, category in DEMO_CATEGORIES.items():
        if categories.get(category_id, consistent=True) is None:
            with contextlib.suppress(Conflict):  # a concurrent seed created it first
                create_category(repos=CatalogRepositories.on(table), body=category, now=now, category_id=category_id)
                created.append(category_id)
    products = ProductRepository(table)
    for product_id, product in DEMO_PRODUCTS.items():
        if products.get(product_id, consistent=True) is None:
            with contextlib.suppress(Conflict):
                create_product(repos=CatalogRepositories.on(table), body=product, now=now, product_id=product_id)
                created.append(product_id)
    return created
