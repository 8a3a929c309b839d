"""The dashboard's product, promoter and buyer items per month (``STATS_ENTITIES_MONTH#<year>`` /
``<month>#<KIND>#<id>``) are no longer written nor read: the dashboard sums the same figures from the
day items of each month (mall.dal.keys.counter_items), so a paid order writes one item per product,
promoter and buyer instead of two. This deletes the month items stored before.

Run it after the release that stopped reading them (and after ``stats_entity_partitions``, which
moved older month items there). Each delete is conditional on the item being there: a second run, or
a page run again after a stop, deletes nothing more."""

from __future__ import annotations

from mall.dal.table import ConditionFailed, Item, Table, Write
from tools.migrations import Migration

NAME = "stats_entity_months_dropped"
ENTITIES = ("stats_product_month", "stats_promoter_month", "stats_buyer_month")
PARTITION_PREFIX = "STATS_ENTITIES_MONTH#"


def apply(table: Table, item: Item, dry_run: bool) -> bool:
    if item.get("entity") not in ENTITIES or not str(item["pk"]).startswith(PARTITION_PREFIX):
        return False
    if dry_run:
        return True
    try:
        key = {"pk": item["pk"], "sk": item["sk"]}
        table.write_one(Write.delete(table.name, key, condition="attribute_exists(pk)"))
    except ConditionFailed:
        return False  # deleted already (a repeated page, a second run)
    return True


MIGRATION = Migration(
    name=NAME,
    description="delete the dashboard's product / promoter / buyer month items: the dashboard sums their days",
    apply=apply,
    filter_expression="entity IN (:e0, :e1, :e2) AND begins_with(pk, :month)",
    values={**{f":e{i}": entity for i, entity in enumerate(ENTITIES)}, ":month": PARTITION_PREFIX},
)
