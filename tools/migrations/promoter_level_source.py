"""Record where each promoter's level came from (``level_source``): ``admin`` when the last level
change in the promoter's history is an admin's ``set_level``, ``auto`` otherwise (the application's
entry level, an upgrade, a downgrade). Only an ``auto`` level is re-evaluated when a refund lowers
the sales counters; until this runs, a promoter without it is treated as admin-set (never moved).

Idempotent: the write is conditional on ``level_source`` still being absent and the level being the
one the history was read for."""

from __future__ import annotations

from mall.dal.keys import promoter_key
from mall.dal.referral import PromoterRepository
from mall.dal.table import ConditionFailed, Item, Key, Table
from tools.migrations import Migration


def source_from_history(table: Table, user_id: str, level_id: str) -> str:
    start: Key | None = None
    repo = PromoterRepository(table)
    while True:
        entries, start = repo.history(user_id, limit=100, start_key=start)  # newest first
        for entry in entries:
            if entry.get("to_level") is None:
                continue
            return "admin" if entry.get("action") == "set_level" and entry.get("to_level") == level_id else "auto"
        if start is None:
            return "auto"


def apply(table: Table, item: Item, dry_run: bool) -> bool:
    if item.get("sk") != "PROMOTER" or item.get("level_source") in ("auto", "admin"):
        return False
    user_id, level_id = str(item["user_id"]), str(item["level_id"])
    source = source_from_history(table, user_id, level_id)
    if dry_run:
        return True
    try:
        table.update(promoter_key(user_id), "SET level_source = :s",
                     condition="attribute_not_exists(level_source) AND level_id = :l",
                     values={":s": source, ":l": level_id})
    except ConditionFailed:
        return False  # set meanwhile (a level change records its source), or the level moved: nothing to fill
    return True


MIGRATION = Migration(
    name="promoter_level_source",
    description="fill level_source (admin | auto) on promoters from their level history",
    apply=apply,
    filter_expression="entity = :e AND attribute_not_exists(level_source)",
    values={":e": "promoter"},
)
