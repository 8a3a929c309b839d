"""The commission rate index (mall.dal.commission_rates): a copy of every category's, product's and
promoter's own rate in one partition, which the commission cap check of a settings or override
save reads in one Query. New and edited rates get their copy in the transaction of the edit; this
copies the rates stored before the index existed, then marks the index ``READY``. Until it has run
to the end, those saves read the categories, products and promoters themselves (the same answer,
eight Queries), so running it late costs round trips, never a wrong check.

A copy is written only if absent or older (by the source's ``version``): an edit made while this
runs wrote a newer copy, which a scanned older item must not replace. Running it again writes
nothing new."""

from __future__ import annotations

from mall.dal.catalog.categories import category_from_item
from mall.dal.catalog.product_items import product_from_item
from mall.dal.commission_rates import RateIndex, category_copy, product_copy, promoter_copy
from mall.dal.keys import category_key, product_key, promoter_key
from mall.dal.table import Item, Table, key_of
from tools.migrations import Migration

NAME = "commission_rate_index"


def _copy(item: Item) -> Item | None:
    version = int(item.get("version", 1))
    entity = item.get("entity")
    key = key_of(item)
    if entity == "category" and key == category_key(str(item.get("category_id"))):
        return category_copy(category_from_item(item), version=version)
    if entity == "product" and key == product_key(str(item.get("product_id"))):
        return product_copy(product_from_item(item), version=version)
    if entity == "promoter" and key == promoter_key(str(item.get("user_id"))):
        return promoter_copy(str(item["user_id"]), l1_bp=item.get("l1_override_bp"), l2_bp=item.get("l2_override_bp"),
                             version=version)
    return None


def apply(table: Table, item: Item, dry_run: bool) -> bool:
    copy = _copy(item)
    if copy is None:
        return False
    if dry_run:
        return True
    return RateIndex(table).copy(copy)


def finish(table: Table) -> None:
    RateIndex(table).mark_ready()


MIGRATION = Migration(
    name=NAME,
    description="copy every category, product and promoter rate into the commission rate index, then mark it ready "
                "(settings and override saves check the cap in one Query)",
    apply=apply,
    filter_expression="entity IN (:category, :product, :promoter)",
    values={":category": "category", ":product": "product", ":promoter": "promoter"},
    finish=finish,
)
