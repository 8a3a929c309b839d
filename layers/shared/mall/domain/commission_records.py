"""Commission records (佣金记录), pure: one per paid order line per earning level.

A record is created FROZEN when its order is paid, carrying the rule snapshot that explains its
amount (base, rate source, rate, mode, level points, cap, rules version). It settles (SETTLED) N
days after its order completed, or is cancelled (CANCELLED) when refunds take it to zero before
settlement. Partial refunds reduce it pro rata (``cancelled_fen`` before settlement,
``clawed_back_fen`` after). ``current_fen`` is what the promoter is owed by it.

Status transitions (each a conditional update from the expected status):
FROZEN → SETTLED, FROZEN → CANCELLED. A SETTLED record stays SETTLED; clawbacks only raise
``clawed_back_fen``.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

#: Shards of the settlement due index (gsi2 ``SETTLE_DUE#<shard>``): spreads the entries written as
#: records become due (and removed as they settle) over partitions, at most 1,000 writes/s each. Four
#: keep the busiest below half of that at a viral promoter's 1,000 orders/s (2,000 records/s), and
#: the planner reads one Query per shard (docs/settlement.md, "The due index's shards").
SETTLE_SHARDS = 4
#: The shards records were written over before: their entries move to ``settle_shard`` (the same
#: crc32, modulo ``SETTLE_SHARDS``: an entry of shard k belongs in k mod 4) by the migration
#: ``settle_due_shards``; the planner reads them too until then (``SETTLEMENT_DUE_SHARDS_READ``).
SETTLE_SHARDS_BEFORE = 16


class CommissionStatus(StrEnum):
    FROZEN = "FROZEN"  # 待结算
    SETTLED = "SETTLED"  # 已结算
    CANCELLED = "CANCELLED"  # 已取消


def commission_id(order_id: str, line_id: str, level: int) -> str:
    """Deterministic: a redelivered "order paid" can only ever find the same record."""
    return f"cm_{order_id}_{line_id}_{level}"


def settle_shard(cid: str) -> int:
    return zlib.crc32(cid.encode()) % SETTLE_SHARDS


def remaining_after_refund(amount_fen: int, base_fen: int, refunded_fen: int) -> int:
    """What a commission of ``amount_fen`` on a line base of ``base_fen`` is worth after
    ``refunded_fen`` of the line was refunded: pro rata, floored to the fen (so the promoter is
    never paid for refunded money). Integer arithmetic only."""
    if base_fen <= 0 or refunded_fen >= base_fen:
        return 0
    refunded = max(refunded_fen, 0)
    return amount_fen * (base_fen - refunded) // base_fen


@dataclass(frozen=True, slots=True)
class CommissionRecord:
    commission_id: str
    order_id: str
    line_id: str
    level: Literal[1, 2]
    beneficiary_id: str
    buyer_id: str
    product_id: str
    product_name: str
    quantity: int
    base_fen: int  # the line's paid amount (after discounts, without shipping)
    amount_fen: int  # as computed when the order was paid
    status: CommissionStatus
    rule: dict[str, Any]  # the snapshot: why this amount (see mall.services.commissions)
    created_at: datetime
    cancelled_fen: int = 0  # taken back before settlement (refunds, voided)
    clawed_back_fen: int = 0  # taken back after settlement
    refunded_base_fen: int = 0  # the line's refunded amount already reflected here
    due_at: datetime | None = None  # settlement date: order completed + settlement days
    settled_at: datetime | None = None
    hold: str | None = None  # an open risk case id: not settled while set (docs/risk.md)
    version: int = 1
    history: list[dict[str, Any]] = field(default_factory=list)
    #: The source of the share that brought the order (link, qr, poster; direct without one), for
    #: the promoter's funnel. None on records created before records carried it ("unknown").
    share_channel: str | None = None

    @property
    def current_fen(self) -> int:
        return self.amount_fen - self.cancelled_fen - self.clawed_back_fen
