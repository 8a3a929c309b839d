"""Products saved before specs and SKUs (规格) become single-SKU products: ``specs`` empty and
``skus`` holding the one default SKU by id (``mall.dal.catalog.skus.sku_values``). Its price and
stock stay at the top level, where they were, so nothing an order or a client reads moves.

Readers treat a product without ``skus`` the same way, so the order of deploy and run does not
matter; the migration makes the stored shape uniform. Idempotent and resumable: the write is
conditional on ``skus`` still being absent (a product an admin gave specs meanwhile is left as
it is), and a second run finds nothing to change."""

from __future__ import annotations

from mall.dal.catalog.skus import sku_values
from mall.dal.table import ConditionFailed, Item, Table, key_of
from mall.domain.catalog import Product
from tools.migrations import Migration

NAME = "single_sku_products"

#: What a product without specs stores (the same shape every new product gets).
_SINGLE = sku_values(Product(product_id="", name="", type="physical", category_id="", price_fen=1, stock=0))


def apply(table: Table, item: Item, dry_run: bool) -> bool:
    if item.get("entity") != "product" or "skus" in item:
        return False
    if dry_run:
        return True
    try:
        table.update(key_of(item), "SET specs = :specs, skus = :skus",
                     condition="attribute_exists(pk) AND attribute_not_exists(skus)",
                     values={":specs": _SINGLE["specs"], ":skus": _SINGLE["skus"]})
    except ConditionFailed:
        return False  # given specs (or migrated) since the scan read it
    return True


MIGRATION = Migration(
    name=NAME,
    description="give every product stored before SKUs its one default SKU (specs empty, price and stock at the top)",
    apply=apply,
    filter_expression="entity = :product AND attribute_not_exists(skus)",
    values={":product": "product"},
)
