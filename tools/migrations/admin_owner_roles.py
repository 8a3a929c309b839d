"""Admin accounts get staff roles: every account stored before them (one all-powerful ``admin``
role) becomes an owner, ``roles: ["owner"]``, and joins the staff list (gsi1 ``STAFF`` /
``ADMIN#<username>``, which ``GET /admin/staff`` reads). The session version is left alone: the
account's tokens, which say ``admin``, are read as owner's until they expire (mall.domain.tokens).

Until it runs an account without ``roles`` is read as an owner anyway (``mall.dal.identity``), so
running it before, during or after the deploy is the same; only the staff list misses the
accounts not yet migrated. An account that has roles already (made or changed since) is left
untouched, so a run never undoes an owner's change."""

from __future__ import annotations

from mall.dal.keys import admin_key, staff_index_key
from mall.dal.table import ConditionFailed, Item, Table
from mall.domain.tokens import Role
from tools.migrations import Migration

NAME = "admin_owner_roles"


def apply(table: Table, item: Item, dry_run: bool) -> bool:
    if item.get("entity") != "admin" or item.get("roles"):
        return False
    if dry_run:
        return True
    index = staff_index_key(str(item["username"]))
    try:
        table.update(admin_key(str(item["username"])), "SET #roles = :owner, gsi1pk = :gpk, gsi1sk = :gsk",
                     condition="attribute_exists(pk) AND attribute_not_exists(#roles)", names={"#roles": "roles"},
                     values={":owner": [Role.OWNER.value], ":gpk": index["gsi1pk"], ":gsk": index["gsi1sk"]})
    except ConditionFailed:
        return False  # given roles meanwhile (a second run, an owner's change)
    return True


MIGRATION = Migration(
    name=NAME,
    description="admin accounts from before staff roles become owners and join the staff list",
    apply=apply,
    filter_expression="entity = :admin AND attribute_not_exists(#roles)",
    names={"#roles": "roles"},
    values={":admin": "admin"},
)
