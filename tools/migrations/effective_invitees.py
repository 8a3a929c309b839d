"""Recount each promoter's 有效下线 (``effective_members``: direct members who have paid an order).

For every promoter: each binding in their team whose customer has a paid order
(``paid_order_count`` > 0 on the profile) gets its ``paid`` flag (conditional, from unpaid: the
same flag the paid-order worker flips), then ``effective_members`` is set to the number of paid
bindings, conditional on the value read before counting (a paying invitee counted meanwhile makes
it count again). Running it twice changes nothing more."""

from __future__ import annotations

from contextlib import suppress

from mall.dal.keys import binding_key, promoter_key
from mall.dal.referral import BindingRepository, PromoterRepository
from mall.dal.table import ConditionFailed, Item, Key, Table
from tools.migrations import Migration

ATTEMPTS = 5


def _count_paid_team(table: Table, user_id: str, dry_run: bool) -> int:
    bindings = BindingRepository(table)
    promoters = PromoterRepository(table)
    paid = 0
    start: Key | None = None
    while True:
        members, start = bindings.team(user_id, limit=100, start_key=start)
        for member in members:
            customer_id = str(member["user_id"])
            if member.get("paid"):
                paid += 1
                continue
            if promoters.customer(customer_id).paid_order_count <= 0:
                continue
            paid += 1
            if not dry_run:
                # Flagged meanwhile, or moved to another parent: the recount below decides.
                with suppress(ConditionFailed):
                    table.update(binding_key(customer_id), "SET paid = :t, #v = #v + :one",
                                 condition="parent_id = :p AND (attribute_not_exists(paid) OR paid = :f)",
                                 names={"#v": "version"},
                                 values={":t": True, ":f": False, ":p": user_id, ":one": 1})
        if start is None:
            return paid


def apply(table: Table, item: Item, dry_run: bool) -> bool:
    if item.get("sk") != "PROMOTER":
        return False
    user_id = str(item["user_id"])
    for _ in range(ATTEMPTS):
        current = table.get(promoter_key(user_id), consistent=True)
        if current is None:
            return False
        seen = int(current.get("effective_members", 0))
        counted = _count_paid_team(table, user_id, dry_run)
        if counted == seen and "effective_members" in current:
            return False
        if dry_run:
            return True
        condition = "effective_members = :seen" if "effective_members" in current \
            else "attribute_not_exists(effective_members)"
        try:
            table.update(promoter_key(user_id), "SET effective_members = :n", condition=condition,
                         values={":n": counted, **({":seen": seen} if "effective_members" in current else {})})
        except ConditionFailed:
            continue  # a paying invitee was counted meanwhile: count again
        return True
    raise RuntimeError(f"effective_members of {user_id} kept changing; run the migration again")


MIGRATION = Migration(
    name="effective_invitees",
    description="flag bindings of customers who paid and recount each promoter's effective_members (有效下线)",
    apply=apply,
    filter_expression="entity = :e",
    values={":e": "promoter"},
)
