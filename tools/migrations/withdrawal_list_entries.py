"""Every withdrawal gets its entry in the list of every status (``WITHDRAWAL_LIST`` / ``<created_at>#<id>``).

The admin list and export of withdrawals without a status or promoter filter read that one
partition (then the page's records in one BatchGetItem) instead of merging the six status
partitions; a request puts the entry with its record. This puts the entries of the withdrawals
requested before that release.

Idempotent: the entry holds only what never changes (id, amount, request time) and is put only if
absent (``attribute_not_exists``); a second run, or a run racing a request, writes nothing twice."""

from __future__ import annotations

from mall.dal.table import ConditionFailed, Item, Table
from mall.dal.withdrawals import readable_withdrawal, withdrawal_list_item
from tools.migrations import Migration

NAME = "withdrawal_list_entries"


def apply(table: Table, item: Item, dry_run: bool) -> bool:
    if item.get("entity") != "withdrawal":
        return False
    withdrawal = readable_withdrawal(item)
    if withdrawal is None:
        return False
    entry = withdrawal_list_item(withdrawal)
    if dry_run:
        return table.get({"pk": entry["pk"], "sk": entry["sk"]}) is None
    try:
        table.put(entry, condition="attribute_not_exists(pk)")
    except ConditionFailed:
        return False
    return True


MIGRATION = Migration(
    name=NAME,
    description="put each withdrawal's entry in the list of every status (the admin list's one partition)",
    apply=apply,
    filter_expression="entity = :withdrawal",
    values={":withdrawal": "withdrawal"},
)
