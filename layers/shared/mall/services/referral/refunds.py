"""A refund SUCCEEDED (the stream consumer): the counters lose what it bought back, and levels
earned automatically are re-evaluated.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from mall.dal.orders import OrderRepository
from mall.dal.referral import CounterRepository, RefundCount, RefundedPromoter, TransactionCancelled
from mall.domain import referral as rules
from mall.domain.referral import Counters
from mall.services.referral import ATTEMPTS, ReferralRepositories

if TYPE_CHECKING:
    from mall.dal.table import Table

logger = Logger(child=True)


@dataclass(frozen=True)
class RefundRepositories:
    """What taking a refund off the counters reads and writes: the network, its counters and the
    refunded order."""

    network: ReferralRepositories
    counters: CounterRepository
    orders: OrderRepository

    @classmethod
    def on(cls, table: Table) -> RefundRepositories:
        return cls(network=ReferralRepositories.on(table), counters=CounterRepository(table),
                   orders=OrderRepository(table))


class NotCountedYet(RuntimeError):
    """The refund's order is attributed but its paid order is not counted yet: retry later, so the
    refund is taken off what the payment added, whichever worker runs first."""


def on_refund_succeeded(*, repos: RefundRepositories, refund: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """React once to a refund that SUCCEEDED (at-least-once delivery: ``REFERRAL_ORDER#<order>/
    REFUND#<refund>`` marks it counted, in the same transaction as the counters).

    The refunded distribution base (its amounts on lines that take part; never shipping) comes off
    the L1's own and team sales and the L2's team sales — the promoters the paid order was counted
    for, capped at what was counted. A level earned automatically whose conditions no longer hold
    moves down to the highest one that still holds, with a ``downgrade`` history entry, in the same
    transaction; a level an admin set stays."""
    order_id = str(refund["order_id"])
    refund_id = str(refund["refund_id"])
    result: dict[str, Any] = {"order_id": order_id, "refund_id": refund_id, "counted": False, "downgraded": []}
    raw_lines = refund.get("lines")
    refund_lines = [line for line in raw_lines if isinstance(line, Mapping)] if isinstance(raw_lines, list) else []
    order = repos.orders.get_item(order_id, consistent=True) or {}
    raw_order_lines = order.get("lines")
    order_lines = ([line for line in raw_order_lines if isinstance(line, Mapping)]
                   if isinstance(raw_order_lines, list) else [])
    base = rules.refunded_base(order_lines, refund_lines)
    if base <= 0:
        return result
    settings = repos.network.settings.current().settings
    counters, promoters = repos.counters, repos.network.promoters
    for _ in range(ATTEMPTS):
        marker = counters.counted(order_id)
        if marker is None:
            raw_attribution = order.get("attribution")
            attribution = raw_attribution if isinstance(raw_attribution, Mapping) else {}
            if refund.get("kind") == "paid_after_expiry" or not (
                    attribution.get("l1_promoter_id") or attribution.get("l2_promoter_id")):
                return result  # the payment counted nothing, so the refund takes nothing back
            raise NotCountedYet(f"order {order_id} is not counted yet")
        counted_fen = int(marker.get("amount_fen", 0))
        refunded_before = int(marker.get("refunded_base_fen", 0))
        take = min(base, counted_fen - refunded_before)
        if take <= 0:
            return result
        l1 = marker.get("l1_promoter_id") or None
        l2 = marker.get("l2_promoter_id") or None
        changes: list[RefundedPromoter] = []
        for uid, own in ((l1, True), (l2, False)):
            if uid is None or (uid == l1 and not own):
                continue
            promoter = promoters.get(str(uid), consistent=True)
            if promoter is None:
                continue
            if not promoter.level_follows_counters:
                changes.append(RefundedPromoter(promoter.user_id, own, promoter.status, promoter.level_id))
                continue
            before = promoter.counters
            after = Counters(before.effective_members, before.own_sales_fen - (take if own else 0),
                                   before.team_sales_fen - take)
            changes.append(RefundedPromoter(promoter.user_id, own, promoter.status, promoter.level_id,
                                            decided_on=before,
                                            to_level=rules.level_after_refund(settings, promoter.level_id, after)))
        count = RefundCount(order_id=order_id, refund_id=refund_id, base_fen=take, refunded_before_fen=refunded_before,
                            l1=l1, l2=l2, promoters=tuple(changes))
        try:
            result["counted"] = counters.count_refund(count, now)
        except TransactionCancelled:
            continue  # a sale, another refund or a level change moved a counter: decide again
        if result["counted"]:
            result["downgraded"] = [c.user_id for c in changes if c.to_level is not None]
            if result["downgraded"]:
                logger.info("promoter level re-evaluated after a refund",
                            extra={"refund_id": refund_id, "downgraded": len(result["downgraded"])})
        return result
    raise RuntimeError(f"could not count refund {refund_id} after {ATTEMPTS} attempts")
