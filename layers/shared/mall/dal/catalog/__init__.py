"""Categories and products in the single table (keys and costs: docs/data-model.md, "catalog").

| item | pk | sk | gsi1pk / gsi1sk |
|---|---|---|---|
| category | ``CATEGORY#<id>`` | ``CATEGORY`` | ``CATEGORIES`` / ``<sort 6 digits>#<id>`` |
| product | ``PRODUCT#<id>`` | ``PRODUCT`` | ``SHELF#on`` or ``SHELF#off`` / ``<price_fen 12 digits>#<id>`` |
| low-stock flag | ``PRODUCT#<id>`` | ``LOWSTOCK`` | ``LOWSTOCK`` / ``<flagged_at>#<id>`` only while low (sparse) |
| (product, gsi2) | | | ``SHELFPLAN`` / ``<next planned shelf change>#<id>`` only while one is planned |
| stock adjustment | ``PRODUCT#<id>`` | ``STOCKADJ#<at>#<adjustment_id>`` | — |
| product detail | ``PRODUCT#<id>`` | ``DETAIL`` | — (read only by the product itself, never by lists) |

``categories`` and ``products`` hold the repositories; ``common`` the keys, partitions and ceilings
they share. Import from this package: its names are the catalog's storage interface.
"""

from typing import TYPE_CHECKING

from mall.dal.catalog.alerts import LowStockAlert, LowStockAlerts
from mall.dal.catalog.categories import CategoryRepository, category_from_item, category_state
from mall.dal.catalog.common import MAX_CATEGORIES, MAX_LISTED_PRODUCTS
from mall.dal.catalog.product_items import editable_state, product_from_item, product_state
from mall.dal.catalog.products import ProductRepository, SkuTake, StockObservation
from mall.dal.table import TransactionCancelled

if TYPE_CHECKING:
    from mall.dal.catalog.page import ProductPage, ProductPageReads, Viewer

__all__ = ["MAX_CATEGORIES", "MAX_LISTED_PRODUCTS", "CategoryRepository", "LowStockAlert", "LowStockAlerts",
           "ProductPage", "ProductPageReads", "ProductRepository", "SkuTake", "StockObservation",
           "TransactionCancelled", "Viewer", "category_from_item", "category_state", "editable_state",
           "product_from_item", "product_state"]

if not TYPE_CHECKING:  # the type checker reads the import above, and a misspelt name stays an error

    def __getattr__(name: str) -> object:
        # The product page's reads, imported when first asked for (PEP 562): they bring the campaigns'
        # repository and rules, which placing an order, the products' writes and their stock flags never use.
        if name not in {"ProductPage", "ProductPageReads", "Viewer"}:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        from mall.dal.catalog import page

        value = getattr(page, name)
        globals()[name] = value  # imported once
        return value
