"""Commission records stored without the attributes nothing reads: an ``updated_at`` (the history
says when each change happened) and the money taken back while it is 0 (``cancelled_fen``,
``clawed_back_fen``, ``refunded_base_fen``: every reader takes an absent one as 0).

A record is rewritten at its due date and at its settlement, each billed per started KB of the
whole item and again per index entry; a record of a product with a long title crossed 1 KB at its
settlement (1,031–1,052 bytes with a 40-character title), which doubled that write and both index
entries. Records written now leave these out, and every change of a record removes them; this
removes them from records stored before, so their remaining changes cost what a new record's do.

Idempotent: the write removes only the attributes still as read (``version`` unchanged, each money
figure still 0); a record changed meanwhile is left for the next run, and a trimmed record is not
written. What the domain reads does not change, so ``version`` is not raised."""

from __future__ import annotations

from mall.dal.commissions import UNREAD_RECORD_ATTRIBUTES
from mall.dal.table import ConditionFailed, Item, Table
from tools.migrations import Migration

NAME = "trim_commission_records"

#: Money figures left out while they are 0 (``mall.dal.commissions.commission_item``).
ZERO_LEFT_OUT = ("cancelled_fen", "clawed_back_fen", "refunded_base_fen")


def removable(item: Item) -> list[str]:
    """The attributes of a stored record that its current form leaves out."""
    unread = [name for name in UNREAD_RECORD_ATTRIBUTES if name in item]
    zeros = [name for name in ZERO_LEFT_OUT if name in item and int(item[name]) == 0]
    return unread + zeros


def apply(table: Table, item: Item, dry_run: bool) -> bool:
    if item.get("entity") != "commission":
        return False
    names = removable(item)
    if not names:
        return False
    if dry_run:
        return True
    aliases = {f"#a{i}": name for i, name in enumerate(names)}
    zero_checks = [f"{alias} = :zero" for alias, name in aliases.items() if name in ZERO_LEFT_OUT]
    condition = " AND ".join(["#version = :v", *zero_checks])
    values: dict[str, object] = {":v": item.get("version", 1)}
    if zero_checks:
        values[":zero"] = 0
    try:
        table.update({"pk": item["pk"], "sk": item["sk"]}, f"REMOVE {', '.join(aliases)}", condition=condition,
                     names={**aliases, "#version": "version"}, values=values)
    except ConditionFailed:
        return False  # changed since the scan read it: the next run trims it from its new state
    return True


MIGRATION = Migration(
    name=NAME,
    description="store commission records without updated_at and without the money figures taken back while 0",
    apply=apply,
    filter_expression="entity = :commission",
    values={":commission": "commission"},
)
