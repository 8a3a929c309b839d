"""The dashboard's product, promoter and buyer items of each day and month move from one partition
per kind and period (``STATS_PROMOTER_DAY#2026-11-03`` / ``USER#u_1``) to one partition per month of
days or year of months (``STATS_ENTITIES_DAY#2026-11`` / ``2026-11-03#PROMOTER#u_1``), so a week is
read with one or two Queries instead of three per day (mall.dal.keys.stats_entities_partition).

Each old item is added into its new item and deleted, in one transaction conditional on the old
item still being there: the stats worker may already have added changes made after the deploy to
the new item (its counters are summed, labels such as a product's name are kept if set), and a
second run, or a page run again after a stop, finds the old item gone and changes nothing."""

from __future__ import annotations

from typing import Any

from mall.dal.keys import stats_entities_partition, stats_entity_partition, stats_entity_sort_key
from mall.dal.table import Item, Table, TransactionCancelled, Write
from tools.migrations import Migration

NAME = "stats_entity_partitions"
KINDS = {"product": "product_id", "promoter": "user_id", "buyer": "user_id"}
ENTITIES = {f"stats_{kind}_{granularity}": (kind, granularity.upper())
            for kind in KINDS for granularity in ("day", "month")}
NEW_PREFIX = "STATS_ENTITIES_"


def _old(item: Item) -> tuple[str, str, str, str] | None:
    """(kind, DAY or MONTH, period, subject) of an item still in its old partition, else None."""
    shape = ENTITIES.get(str(item.get("entity")))
    if shape is None or str(item["pk"]).startswith(NEW_PREFIX):
        return None
    kind, granularity = shape
    period = str(item.get("day") if granularity == "DAY" else item.get("month"))
    subject = str(item.get(KINDS[kind]))
    if item["pk"] != stats_entity_partition(kind, granularity, period):
        return None
    return kind, granularity, period, subject


def apply(table: Table, item: Item, dry_run: bool) -> bool:
    old = _old(item)
    if old is None:
        return False
    if dry_run:
        return True
    kind, granularity, period, subject = old
    names: dict[str, str] = {}
    values: dict[str, Any] = {}
    sets: list[str] = []
    adds: list[str] = []
    for i, (name, value) in enumerate(sorted((k, v) for k, v in item.items() if k not in ("pk", "sk"))):
        names[f"#n{i}"], values[f":v{i}"] = name, value
        if isinstance(value, int) and not isinstance(value, bool):
            adds.append(f"#n{i} :v{i}")
        else:
            sets.append(f"#n{i} = if_not_exists(#n{i}, :v{i})")
    update = " ".join(part for part in (f"SET {', '.join(sets)}" if sets else "",
                                        f"ADD {', '.join(adds)}" if adds else "") if part)
    new_key = {"pk": stats_entities_partition(granularity, period), "sk": stats_entity_sort_key(kind, period, subject)}
    try:
        table.transact([Write.update(table.name, new_key, update, names=names, values=values),
                        Write.delete(table.name, {"pk": item["pk"], "sk": item["sk"]},
                                     condition="attribute_exists(pk)")])
    except TransactionCancelled as cancelled:
        if cancelled.reasons[1:2] == ["ConditionalCheckFailed"]:
            return False  # moved already (a repeated page, a second run)
        raise  # a conflict with the stats worker: the old item is still there, a run again moves it
    return True


MIGRATION = Migration(
    name=NAME,
    description="move the dashboard's product / promoter / buyer day and month items into one partition per "
                "month of days and per year of months (the dashboard reads a week in one or two Queries)",
    apply=apply,
    filter_expression="entity IN (:e0, :e1, :e2, :e3, :e4, :e5) AND NOT begins_with(pk, :new)",
    values={**{f":e{i}": entity for i, entity in enumerate(ENTITIES)}, ":new": NEW_PREFIX},
)
