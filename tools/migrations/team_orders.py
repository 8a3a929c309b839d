"""Backfill the team order items (``TEAM_ORDERS#<month>#<shard>`` / ``USER#<uid>#ORDER#<order_id>``) of the
commission records created before the team bonus read its months from them.

For each commission record that counts for its beneficiary's team sales (level 1 or 2, not their own
purchase), the record's sort key is added to the string set ``commission_sks`` of the item of its
beneficiary, the China month its order was paid in, and its order. Adding to a set is idempotent, and
the write is conditional on the key not being in it yet, so a second run (or the commission sync
creating the item for a new order meanwhile) changes nothing."""

from __future__ import annotations

from mall.clock import parse_instant
from mall.dal.commissions import commission_from_item
from mall.dal.keys import order_key, team_order_key
from mall.dal.table import ConditionFailed, Item, Table
from mall.domain.team_bonus import china_month, counts_for_team
from tools.migrations import Migration


def apply(table: Table, item: Item, dry_run: bool) -> bool:
    record = commission_from_item(item)
    if not counts_for_team(record):
        return False
    order = table.get(order_key(record.order_id), consistent=True)
    paid_at = (order or {}).get("paid_at")
    if not paid_at:
        return False
    paid = parse_instant(str(paid_at))
    key = team_order_key(record.beneficiary_id, china_month(paid), record.order_id)
    sort_key = str(item["sk"])
    if dry_run:
        existing = table.get(key, consistent=True) or {}
        return sort_key not in (existing.get("commission_sks") or set())
    try:
        table.update(key, "SET entity = :entity, promoter_id = :uid, #month = :month, order_id = :order, "
                          "paid_at = :paid ADD commission_sks :sks",
                     condition="attribute_not_exists(commission_sks) OR NOT contains(commission_sks, :sk)",
                     names={"#month": "month"},
                     values={":entity": "team_order", ":uid": record.beneficiary_id, ":month": china_month(paid),
                             ":order": record.order_id, ":paid": str(paid_at), ":sks": {sort_key}, ":sk": sort_key})
    except ConditionFailed:
        return False
    return True


MIGRATION = Migration(
    name="team_orders",
    description="Index each commission record by its beneficiary and the China month its order was paid in "
                "(team order items), so the team bonus reads its months from the money records.",
    apply=apply,
    filter_expression="#entity = :commission",
    names={"#entity": "entity"},
    values={":commission": "commission"},
)
