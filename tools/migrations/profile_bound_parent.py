"""The buyer's profile's mirror of their binding's parent (``bound_parent`` on ``USER#<uid>`` / ``PROFILE``,
``mall.dal.referral.bindings``) brought in step with the binding (``USER#<uid>`` / ``BINDING``).

From the release that writes the mirror, every transaction that creates, changes or deletes a binding
sets or removes ``bound_parent`` on the profile with it. A binding made before that release has no
mirror, and a binding changed during the deploy by code still running from before may have left a stale
one. For each profile out of step this writes the binding's parent as read (or removes the mirror when
there is no binding), in one transaction with a ConditionCheck of the binding as read, so a bind, re-bind
or unbind committed meanwhile, whose own transaction wrote the mirror, is never undone. Writes only what
is out of step: running it again changes nothing. A binding without a profile needs no mirror (a payment
whose profile carries no agreeing mirror checks the binding itself)."""

from __future__ import annotations

from mall.dal.keys import PROFILE_SK, binding_key, customer_profile_key
from mall.dal.referral import BOUND_PARENT
from mall.dal.table import Item, Table, TransactionCancelled, Write
from tools.migrations import Migration

NAME = "profile_bound_parent"


def apply(table: Table, item: Item, dry_run: bool) -> bool:
    pk = str(item.get("pk", ""))
    if not pk.startswith("USER#") or item.get("sk") != PROFILE_SK:
        return False
    uid = pk.removeprefix("USER#")
    binding = table.get(binding_key(uid), consistent=True)
    parent = str(binding["parent_id"]) if binding is not None else None
    if item.get(BOUND_PARENT) == parent:
        return False
    if dry_run:
        return True
    names = {"#bp": BOUND_PARENT}
    if parent is None:
        check = Write.check(table.name, binding_key(uid), "attribute_not_exists(pk)")
        mirror = Write.update(table.name, customer_profile_key(uid), "REMOVE #bp", condition="attribute_exists(pk)",
                              names=names)
    else:
        check = Write.check(table.name, binding_key(uid), "parent_id = :p", values={":p": parent})
        mirror = Write.update(table.name, customer_profile_key(uid), "SET #bp = :p", condition="attribute_exists(pk)",
                              names=names, values={":p": parent})
    try:
        table.transact([check, mirror])
    except TransactionCancelled:
        return False  # the binding changed meanwhile, and its own transaction wrote the mirror
    return True


MIGRATION = Migration(
    name=NAME,
    description="mirror each buyer's binding parent onto their profile (bound_parent), and remove stale mirrors",
    apply=apply,
    filter_expression="begins_with(pk, :user) AND sk = :profile",
    values={":user": "USER#", ":profile": PROFILE_SK},
)
