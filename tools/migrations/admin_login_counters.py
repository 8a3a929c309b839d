"""Admin accounts no longer keep login failures on their profile: attempts are counted in their own
``LOGIN#<username>`` items before the password is checked (mall.dal.identity.LoginThrottle). This
removes the old ``failed_attempts`` / ``locked_until`` from every admin profile, so no stale lock
is left to mislead an operator reading the item. Nothing reads them any more: running it before,
after or during the deploy is the same. A profile without them is left untouched."""

from __future__ import annotations

from mall.dal.table import ConditionFailed, Item, Table
from tools.migrations import Migration

NAME = "admin_login_counters"


def apply(table: Table, item: Item, dry_run: bool) -> bool:
    if item.get("entity") != "admin" or ("failed_attempts" not in item and "locked_until" not in item):
        return False
    if dry_run:
        return True
    try:
        table.update({"pk": item["pk"], "sk": item["sk"]}, "REMOVE failed_attempts, locked_until",
                     condition="attribute_exists(pk) AND (attribute_exists(failed_attempts) OR "
                               "attribute_exists(locked_until))")
    except ConditionFailed:
        return False  # already removed (a repeated page, a second run)
    return True


MIGRATION = Migration(
    name=NAME,
    description="remove the old failed_attempts / locked_until from admin profiles (login attempts are "
                "counted in LOGIN# items now)",
    apply=apply,
    filter_expression="entity = :admin AND (attribute_exists(failed_attempts) OR attribute_exists(locked_until))",
    values={":admin": "admin"},
)
