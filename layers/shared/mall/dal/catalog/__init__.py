"""Categories and products in the single table (keys and costs: docs/data-model.md, "catalog").

| item | pk | sk | gsi1pk / gsi1sk |
|---|---|---|---|
| category | ``CATEGORY#<id>`` | ``CATEGORY`` | ``CATEGORIES`` / ``<sort 6 digits>#<id>`` |
| product | ``PRODUCT#<id>`` | ``PRODUCT`` | ``SHELF#on`` or ``SHELF#off`` / ``<price_fen 12 digits>#<id>`` |
| low-stock flag | ``PRODUCT#<id>`` | ``LOWSTOCK`` | ``LOWSTOCK`` / ``<flagged_at>#<id>`` only while low (sparse) |
| stock adjustment | ``PRODUCT#<id>`` | ``STOCKADJ#<at>#<adjustment_id>`` | — |

``categories`` and ``products`` hold the repositories; ``common`` the keys, partitions and ceilings
they share. Import from this package: its names are the catalog's storage interface.
"""

from mall.dal.catalog.categories import CategoryRepository, category_from_item, category_state
from mall.dal.catalog.common import MAX_CATEGORIES, MAX_LISTED_PRODUCTS
from mall.dal.catalog.products import (
    ProductRepository,
    SkuTake,
    StockObservation,
    editable_state,
    product_from_item,
    product_state,
)

__all__ = ["MAX_CATEGORIES", "MAX_LISTED_PRODUCTS", "CategoryRepository", "ProductRepository", "SkuTake",
           "StockObservation", "category_from_item", "category_state", "editable_state", "product_from_item",
           "product_state"]
