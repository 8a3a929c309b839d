"""Take the refunds that succeeded before refunds reduced the sales counters off those counters,
and re-evaluate the levels earned automatically (run ``promoter_level_source`` and
``referral_sales_base`` first). Each refund goes through the same step as a live one
(``mall.services.referral.refunds.on_refund_succeeded``): its ``REFERRAL_ORDER#<order>/REFUND#<refund>``
marker makes it count once, so running this twice, or while the stream worker handles new refunds,
changes nothing more."""

from __future__ import annotations

from mall.clock import utc_now
from mall.dal.table import Item, Table
from mall.services.referral.refunds import NotCountedYet, RefundRepositories, on_refund_succeeded
from tools.migrations import Migration


def apply(table: Table, item: Item, dry_run: bool) -> bool:
    if item.get("status") != "SUCCEEDED":
        return False
    order_id, refund_id = str(item["order_id"]), str(item["refund_id"])
    if table.get({"pk": f"REFERRAL_ORDER#{order_id}", "sk": f"REFUND#{refund_id}"}, consistent=True):
        return False
    if dry_run:
        return table.get({"pk": f"REFERRAL_ORDER#{order_id}", "sk": "COUNTED"}, consistent=True) is not None
    try:
        return bool(on_refund_succeeded(repos=RefundRepositories.on(table), refund=item, now=utc_now())["counted"])
    except NotCountedYet:
        return False  # its paid order was never counted: there is nothing to take back


MIGRATION = Migration(
    name="referral_past_refunds",
    description="take refunds that succeeded earlier off the promoters' sales counters; re-evaluate auto levels",
    apply=apply,
    filter_expression="entity = :e AND #s = :ok",
    names={"#s": "status"},
    values={":e": "refund", ":ok": "SUCCEEDED"},
)
