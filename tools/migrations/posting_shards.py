"""Move each ledger posting to its shard partition (``USER#<uid>#LEDGER#<shard>``, shard from the
posting id; ``mall.dal.keys.posting_key``), from the promoter's own partition where every posting
was stored before the postings were spread over ``POSTING_SHARDS`` partitions.

A posting already in its shard (shard 0 is the promoter's own partition: a quarter never moves) is
left alone. A move is ONE transaction: the put of the same item under its shard key, conditional on
nothing being there, and the delete of the old item, conditional on it still existing. So a posting
is never in both places nor in neither, readers (which merge every shard) see it exactly once at any
moment, and a second run finds nothing to move. A posting written at its shard key by the new code
while the old copy still exists (only if the same posting id were recorded twice, which every ledger
write's own conditions prevent) refuses the move and is reported, not overwritten."""

from __future__ import annotations

from mall.dal.keys import posting_partition, posting_shard
from mall.dal.table import Item, Table, TransactionCancelled, Write
from tools.migrations import Migration


def target_pk(item: Item) -> str | None:
    """The partition the posting belongs in, or None when it is there already (or is not a posting)."""
    promoter, posting_id = item.get("promoter_id"), item.get("posting_id")
    if not promoter or not posting_id:
        return None
    pk = posting_partition(str(promoter), posting_shard(str(posting_id)))
    return None if pk == item["pk"] else pk


def apply(table: Table, item: Item, dry_run: bool) -> bool:
    pk = target_pk(item)
    if pk is None:
        return False
    if dry_run:
        return True
    old = {"pk": item["pk"], "sk": item["sk"]}
    try:
        table.transact([Write.put(table.name, {**item, "pk": pk}, condition="attribute_not_exists(pk)"),
                        Write.delete(table.name, old, condition="attribute_exists(pk)")])
    except TransactionCancelled:
        return False  # moved meanwhile by another run (the old item is gone), or already at its shard
    return True


MIGRATION = Migration(
    name="posting_shards",
    description="Move each ledger posting from its promoter's partition to its shard partition "
                "(USER#<uid>#LEDGER#<shard>, by posting id), so one promoter's postings are spread "
                "over POSTING_SHARDS partitions.",
    apply=apply,
    filter_expression="#entity = :posting",
    names={"#entity": "entity"},
    values={":posting": "posting"},
)
