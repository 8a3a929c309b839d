"""The product page's reads (``GET /products/{id}``): at most two round trips whoever asks.

(1) one BatchGetItem of the product, its detail item and, for a signed-in viewer, their promoter
record and the settings in force (what they would earn); (2) the product's category (its name, and
its rates for the earnings)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from mall.dal.catalog.categories import category_from_item
from mall.dal.catalog.product_items import content_from_item, product_from_item
from mall.dal.keys import SETTINGS_CURRENT_KEY, category_key, product_detail_key, product_key, promoter_key
from mall.dal.referral import promoter_from_item
from mall.dal.settings import current_from_item
from mall.dal.table import Key, Table
from mall.domain.catalog import Category, Product
from mall.domain.referral import Promoter
from mall.domain.settings import DistributionSettings


@dataclass(frozen=True)
class ProductPage:
    """The product with its ``content``; ``promoter`` and ``settings`` only for a signed-in viewer."""

    product: Product | None
    category: Category | None = None
    promoter: Promoter | None = None
    settings: DistributionSettings | None = None


def _k(key: Key) -> tuple[str, str]:
    return str(key["pk"]), str(key["sk"])


class ProductPageReads:
    def __init__(self, table: Table) -> None:
        self._table = table

    def read(self, product_id: str, *, viewer: str | None) -> ProductPage:
        keys = [product_key(product_id), product_detail_key(product_id)]
        if viewer:
            keys += [promoter_key(viewer), SETTINGS_CURRENT_KEY]
        found = {(str(i["pk"]), str(i["sk"])): i for i in self._table.batch_get(keys)}
        item = found.get(_k(product_key(product_id)))
        if item is None:
            return ProductPage(product=None)
        product = replace(product_from_item(item), content=content_from_item(found.get(_k(keys[1]))))
        category_item = self._table.get(category_key(product.category_id))
        promoter_item = found.get(_k(promoter_key(viewer))) if viewer else None
        return ProductPage(
            product=product, category=category_from_item(category_item) if category_item else None,
            promoter=promoter_from_item(promoter_item) if promoter_item else None,
            settings=current_from_item(found.get(_k(SETTINGS_CURRENT_KEY))).settings if viewer else None)
