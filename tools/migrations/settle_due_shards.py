"""Move each settlement due index entry (gsi2 ``SETTLE_DUE#<shard>`` on a FROZEN commission or bonus
record) to the shard records are written to now: ``SETTLE_SHARDS`` shards instead of
``SETTLE_SHARDS_BEFORE``, the same crc32 of the record's id (``mall.domain.commission_records.settle_shard``),
so an entry of shard k moves to k mod 4 and shards 00-03 keep theirs.

A move is one conditional update of the record's ``gsi2pk`` alone: only while the record still carries
the entry as read (``gsi2pk`` and ``gsi2sk`` unchanged), so a record settled, voided, held or refunded
meanwhile (whose own write removed or rewrote the entry, always into the shard written now) is left as
that write made it. Nothing else of the record changes (not its ``version``: a settlement computed
from the record as read still commits). A second run finds nothing to move. Until it has finished the
planner must read the sixteen shards (``SettlementDueShardsRead=16``, docs/runbook.md)."""

from __future__ import annotations

from mall.dal.keys import due_partition
from mall.dal.table import ConditionFailed, Item, Table
from mall.domain.commission_records import settle_shard
from tools.migrations import Migration

NAME = "settle_due_shards"

#: The prefix of the due index partitions.
DUE_PREFIX = due_partition(0).removesuffix("00")


def target_pk(item: Item) -> str | None:
    """The due partition the record's entry belongs in, or None when it is there already (or the item
    has no due entry)."""
    pk = str(item.get("gsi2pk") or "")
    record_id = item.get("commission_id") or item.get("bonus_id")
    if not pk.startswith(DUE_PREFIX) or not record_id or not item.get("gsi2sk"):
        return None
    wanted = due_partition(settle_shard(str(record_id)))
    return None if wanted == pk else wanted


def apply(table: Table, item: Item, dry_run: bool) -> bool:
    wanted = target_pk(item)
    if wanted is None:
        return False
    if dry_run:
        return True
    try:
        table.update({"pk": item["pk"], "sk": item["sk"]}, "SET #gpk = :wanted",
                     condition="#gpk = :was AND #gsk = :sort",
                     names={"#gpk": "gsi2pk", "#gsk": "gsi2sk"},
                     values={":wanted": wanted, ":was": item["gsi2pk"], ":sort": item["gsi2sk"]})
    except ConditionFailed:
        return False  # settled, voided, held or rewritten meanwhile: its own write placed the entry
    return True


MIGRATION = Migration(
    name=NAME,
    description="move each settlement due index entry (gsi2 SETTLE_DUE#<shard>) from the 16 shards written "
                "before to the 4 written now (the same crc32 of the record id, modulo 4)",
    apply=apply,
    filter_expression="begins_with(#gpk, :due)",
    names={"#gpk": "gsi2pk"},
    values={":due": DUE_PREFIX},
)
