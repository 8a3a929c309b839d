"""The product page's reads (``GET /products/{id}``): at most two round trips whoever asks.

(1) one BatchGetItem of the product, its detail item and, for a signed-in viewer, their promoter
record, the settings in force and the book of campaigns (what they would earn); (2) the product's
category (its name, and its rates for the earnings). The shop's list reads the viewer's three in
one BatchGetItem too (``viewer``)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from mall.dal.campaigns import book_from_item
from mall.dal.catalog.categories import category_from_item
from mall.dal.catalog.product_items import content_from_item, product_from_item
from mall.dal.keys import (
    CAMPAIGNS_KEY,
    SETTINGS_CURRENT_KEY,
    category_key,
    product_detail_key,
    product_key,
    promoter_key,
)
from mall.dal.settings import current_from_item
from mall.dal.table import Item, Key, Table
from mall.domain.campaigns import Campaign
from mall.domain.catalog import Category, Product

if TYPE_CHECKING:
    from mall.domain.referral import Promoter
    from mall.domain.settings import DistributionSettings


@dataclass(frozen=True)
class ProductPage:
    """The product with its ``content``; ``promoter`` and ``settings`` only for a signed-in viewer."""

    product: Product | None
    category: Category | None = None
    promoter: Promoter | None = None
    settings: DistributionSettings | None = None
    #: the book's campaigns, for a signed-in viewer (the earnings apply those in force for them)
    campaigns: tuple[Campaign, ...] = ()


@dataclass(frozen=True)
class Viewer:
    """What the shop's list reads of a signed-in viewer to show what they would earn."""

    promoter: Promoter | None
    settings: DistributionSettings
    campaigns: tuple[Campaign, ...] = ()


def _promoter(item: Item | None) -> Promoter | None:
    # The referral repositories are imported for a signed-in viewer only: a guest's product page
    # (most of them) reads no promoter, and the package is a large share of the catalog's cold start.
    from mall.dal.referral.records import promoter_from_item

    return promoter_from_item(item) if item else None


def _k(key: Key) -> tuple[str, str]:
    return str(key["pk"]), str(key["sk"])


class ProductPageReads:
    def __init__(self, table: Table) -> None:
        self._table = table

    def read(self, product_id: str, *, viewer: str | None) -> ProductPage:
        keys = [product_key(product_id), product_detail_key(product_id)]
        if viewer:
            keys += [promoter_key(viewer), SETTINGS_CURRENT_KEY, CAMPAIGNS_KEY]
        found = {(str(i["pk"]), str(i["sk"])): i for i in self._table.batch_get(keys)}
        item = found.get(_k(product_key(product_id)))
        if item is None:
            return ProductPage(product=None)
        product = replace(product_from_item(item), content=content_from_item(found.get(_k(keys[1]))))
        category_item = self._table.get(category_key(product.category_id))
        promoter_item = found.get(_k(promoter_key(viewer))) if viewer else None
        return ProductPage(
            product=product, category=category_from_item(category_item) if category_item else None,
            promoter=_promoter(promoter_item),
            settings=current_from_item(found.get(_k(SETTINGS_CURRENT_KEY))).settings if viewer else None,
            campaigns=book_from_item(found.get(_k(CAMPAIGNS_KEY))).campaigns if viewer else ())

    def viewer(self, user_id: str) -> Viewer:
        """The viewer's promoter record, the settings in force and the campaigns: one BatchGetItem."""
        found: dict[tuple[str, str], Item] = {
            _k(i): i for i in self._table.batch_get([promoter_key(user_id), SETTINGS_CURRENT_KEY, CAMPAIGNS_KEY])}
        promoter_item = found.get(_k(promoter_key(user_id)))
        return Viewer(promoter=_promoter(promoter_item),
                      settings=current_from_item(found.get(_k(SETTINGS_CURRENT_KEY))).settings,
                      campaigns=book_from_item(found.get(_k(CAMPAIGNS_KEY))).campaigns)
