"""Recount what each paid order added to the promoters' sales counters on the distribution base
(paid lines that take part in distribution, without shipping) instead of the order's amount.

For every counted order (``REFERRAL_ORDER#<id>`` / ``COUNTED``): the difference between the amount
it recorded and the order's distribution base comes off the L1's own and team sales and the L2's
team sales, and the marker records the base, in one transaction conditional on the marker not being
recounted yet and still holding the amount read. Running it twice changes nothing more."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mall.dal.keys import promoter_key
from mall.dal.table import Item, Table, TransactionCancelled, Write
from mall.domain.referral import distribution_base
from tools.migrations import Migration


def apply(table: Table, item: Item, dry_run: bool) -> bool:
    if item.get("sk") != "COUNTED" or item.get("base_recounted"):
        return False
    order_id = str(item["order_id"])
    order = table.get({"pk": f"ORDER#{order_id}", "sk": "ORDER"}, consistent=True)
    lines = order.get("lines") if order else None
    if not isinstance(lines, list):
        return False  # nothing to recount from: the amount stays
    base = distribution_base(line for line in lines if isinstance(line, Mapping))
    recorded = int(item.get("amount_fen", 0))
    excess = recorded - base
    if dry_run:
        return True
    writes = [Write.update(table.name, {"pk": item["pk"], "sk": "COUNTED"},
                           "SET amount_fen = :base, base_recounted = :t",
                           condition="attribute_not_exists(base_recounted) AND amount_fen = :old",
                           values={":base": base, ":t": True, ":old": recorded})]
    if excess:
        for uid, own in ((item.get("l1_promoter_id"), True), (item.get("l2_promoter_id"), False)):
            if not uid or (own is False and uid == item.get("l1_promoter_id")):
                continue
            values: dict[str, Any] = {":a": -excess}
            update = "ADD own_sales_fen :a, team_sales_fen :a" if own else "ADD team_sales_fen :a"
            writes.append(Write.update(table.name, promoter_key(str(uid)), update, condition="attribute_exists(pk)",
                                       values=values))
    try:
        table.transact(writes)
    except TransactionCancelled:
        return False  # recounted meanwhile (or a promoter item is gone: the marker stays for a later run)
    return True


MIGRATION = Migration(
    name="referral_sales_base",
    description="recount paid orders' contribution to promoters' sales counters on the distribution base",
    apply=apply,
    filter_expression="entity = :e AND attribute_not_exists(base_recounted)",
    values={":e": "referral_counted"},
)
