"""What the commission preview (佣金预估) reads: the product, the caller's promoter record, the
settings in force and the book of campaigns in one BatchGetItem, then the product's category (its id
comes with the product).
A display, not a decision: eventually consistent reads, as before."""

from __future__ import annotations

from dataclasses import dataclass

from mall.dal.campaigns import book_from_item
from mall.dal.catalog import category_from_item
from mall.dal.catalog.product_items import product_from_item
from mall.dal.keys import CAMPAIGNS_KEY, SETTINGS_CURRENT_KEY, category_key, product_key, promoter_key
from mall.dal.referral import promoter_from_item
from mall.dal.settings import SettingsVersion, current_from_item
from mall.dal.table import Item, Key, Table
from mall.domain.campaigns import Campaign
from mall.domain.catalog import Category, Product
from mall.domain.referral import Promoter


@dataclass(frozen=True)
class PreviewFacts:
    product: Product | None
    promoter: Promoter | None
    current: SettingsVersion
    #: every campaign of the book (the preview applies those in force, as the payment would)
    campaigns: tuple[Campaign, ...] = ()


class PreviewReads:
    def __init__(self, table: Table) -> None:
        self._table = table

    def read(self, *, user_id: str, product_id: str) -> PreviewFacts:
        keys: list[Key] = [product_key(product_id), promoter_key(user_id), SETTINGS_CURRENT_KEY, CAMPAIGNS_KEY]
        found = {(str(i["pk"]), str(i["sk"])): i for i in self._table.batch_get(keys)}

        def at(key: Key) -> Item | None:
            return found.get((str(key["pk"]), str(key["sk"])))

        product = at(product_key(product_id))
        promoter = at(promoter_key(user_id))
        return PreviewFacts(product=product_from_item(product) if product else None,
                            promoter=promoter_from_item(promoter) if promoter else None,
                            current=current_from_item(at(SETTINGS_CURRENT_KEY)),
                            campaigns=book_from_item(at(CAMPAIGNS_KEY)).campaigns)

    def category(self, category_id: str) -> Category | None:
        item = self._table.get(category_key(category_id))
        return category_from_item(item) if item else None
