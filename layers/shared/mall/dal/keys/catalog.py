"""Keys of the catalog: products, categories, the shelves, low-stock entries, stock adjustments and
media uploads (docs/data-model.md, "catalog")."""

from __future__ import annotations

from mall.dal.table import Key

CATEGORIES_PARTITION = "CATEGORIES"
LOW_STOCK_PARTITION = "LOWSTOCK"
#: The partition a cursor of the low-stock list is bound to (``mall.api.cursor``).
LOW_STOCK_LIST: tuple[str, str] = ("gsi1pk", LOW_STOCK_PARTITION)
#: gsi2 partition of the products with a planned shelf change (定时上下架), sorted by the next
#: planned time: sparse, a product leaves it when its last planned time is applied or cleared.
SHELF_PLAN_PARTITION = "SHELFPLAN"


def shelf_partition(on_shelf: bool) -> str:
    return "SHELF#on" if on_shelf else "SHELF#off"


def category_key(category_id: str) -> Key:
    return {"pk": f"CATEGORY#{category_id}", "sk": "CATEGORY"}


def product_key(product_id: str) -> Key:
    return {"pk": f"PRODUCT#{product_id}", "sk": "PRODUCT"}


def product_detail_key(product_id: str) -> Key:
    """``PRODUCT#<id>`` / ``DETAIL``: what the product page says (attributes, description blocks,
    after-sales policy), apart from the item lists read."""
    return {"pk": f"PRODUCT#{product_id}", "sk": "DETAIL"}


def low_stock_key(product_id: str) -> Key:
    return {"pk": f"PRODUCT#{product_id}", "sk": "LOWSTOCK"}


def stock_adjustment_key(product_id: str, at: str, adjustment_id: str) -> Key:
    """``PRODUCT#<id>`` / ``STOCKADJ#<at>#<adjustment_id>``: one change of the stock, kept as a log."""
    return {"pk": f"PRODUCT#{product_id}", "sk": f"STOCKADJ#{at}#{adjustment_id}"}


def upload_key(upload_id: str) -> Key:
    return {"pk": f"MEDIA_UPLOAD#{upload_id}", "sk": "UPLOAD"}


COMMISSION_RATES_PARTITION = "COMMISSION_RATES"
COMMISSION_RATES_READY_SK = "READY"


def commission_rate_key(kind: str, subject: str) -> Key:
    """A copy of one source of a commission rate other than the global one (``CATEGORY``, ``PRODUCT``,
    ``PROMOTER``): all of them in one partition, so the cap check of a save reads them in one Query."""
    return {"pk": COMMISSION_RATES_PARTITION, "sk": f"{kind}#{subject}"}
