"""Commission records stored without what their other attributes already say.

A record is rewritten at every change (due date, refund, settlement) and each write is billed per
started KB of the whole item, so records now leave out of their rule snapshot and history what the
record implies (``mall.dal.commissions``: level, base, quantity, cap amount, usual rates and flags,
the uncapped wanted amount, the creation history entry). Records stored whole read the same
(``commission_from_item`` fills in what is left out either way); this rewrites them compact so their
later changes cost what a new record's do.

Idempotent: the write replaces ``rule`` and ``history`` with their compact form only if both are
still what was read (``version`` unchanged, the same history); a record changed meanwhile is left
for the next run, and a compact record is not written (its compact form is itself). The record's
content as the domain reads it does not change, so ``version`` is not raised."""

from __future__ import annotations

from mall.dal.commissions import compacted
from mall.dal.table import ConditionFailed, Item, Table
from tools.migrations import Migration

NAME = "compact_commission_records"


def apply(table: Table, item: Item, dry_run: bool) -> bool:
    if item.get("entity") != "commission":
        return False
    compact = compacted(item)
    if compact["rule"] == (item.get("rule") or {}) and compact["history"] == list(item.get("history") or []):
        return False
    if dry_run:
        return True
    old_history = list(item.get("history") or [])
    same_history = "#history = :old_history" if old_history else \
        "(attribute_not_exists(#history) OR #history = :old_history)"
    try:
        table.update({"pk": item["pk"], "sk": item["sk"]}, "SET #rule = :rule, #history = :history",
                     condition=f"#version = :v AND {same_history}",
                     names={"#rule": "rule", "#history": "history", "#version": "version"},
                     values={":rule": compact["rule"], ":history": compact["history"],
                             ":v": item.get("version", 1), ":old_history": old_history})
    except ConditionFailed:
        return False  # changed since the scan read it: the next run compacts it from its new state
    return True


MIGRATION = Migration(
    name=NAME,
    description="store commission records without the rule values and creation history entry the record implies",
    apply=apply,
    filter_expression="entity = :commission",
    values={":commission": "commission"},
)
