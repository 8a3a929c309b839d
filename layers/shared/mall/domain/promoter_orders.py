"""A promoter's attributed orders (推广订单), pure: what status a promoter sees, and how the commission
records of one beneficiary become one row per (order, level).

The rows are read from the beneficiary's commission records (``COMMISSIONS#<uid>``, newest first):
that index already has one entry per order line and level the promoter earns on, written when the
commission is created after payment, so the promoter's list and the merchant's filter by promoter and
level are one access path and no order write pays for a second index. The order's status is read
live from the order itself, so a status change needs no index update at all. An order on which the
promoter earns nothing (no line in distribution, a beneficiary who was not active) has no record and
is not listed: the list is the orders that pay them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

PromoterOrderStatus = Literal["placed", "paid", "shipped", "completed", "refunded", "closed"]

#: The order statuses a promoter is shown, by the order's own status. CLOSED is reached only by a refund
#: that leaves nothing paid; PAID_AFTER_EXPIRY is refunded in full at once and EXPIRED was never paid.
_STATUS: Mapping[str, PromoterOrderStatus] = {
    "CREATED": "placed", "PAID": "paid", "SHIPPED": "shipped", "COMPLETED": "completed", "CLOSED": "refunded",
    "PAID_AFTER_EXPIRY": "refunded", "EXPIRED": "closed",
}

#: Records read per page: a page groups them by order, so it reads more records than it shows orders,
#: and never fewer than one order can hold for one beneficiary (20 lines, one level each) plus one.
MIN_RECORDS_READ = 21
MAX_RECORDS_READ = 100


def promoter_status(order_status: str) -> PromoterOrderStatus:
    """The status a promoter sees (placed, paid, shipped, completed, refunded)."""
    return _STATUS.get(order_status, "closed")


def records_to_read(limit: int) -> int:
    return max(MIN_RECORDS_READ, min(MAX_RECORDS_READ, limit * 3))


@dataclass(frozen=True, slots=True)
class OrderGroup:
    """One order's records for one beneficiary at one level, as read from the index."""

    order_id: str
    level: int
    records: tuple[Mapping[str, Any], ...]

    @property
    def commission_fen(self) -> int:
        """What the promoter earns on the order now (refunds cancelled or clawed back)."""
        return sum(int(r.get("amount_fen", 0)) - int(r.get("cancelled_fen", 0)) - int(r.get("clawed_back_fen", 0))
                   for r in self.records)

    @property
    def base_fen(self) -> int:
        return sum(int(r.get("base_fen", 0)) for r in self.records)

    @property
    def buyer_id(self) -> str:
        return str(self.records[0].get("buyer_id", ""))

    @property
    def last(self) -> Mapping[str, Any]:
        return self.records[-1]


def group_records(records: Sequence[Mapping[str, Any]]) -> list[OrderGroup]:
    """Consecutive records of one order and level as one group, in index order. The records of one
    order are created together (one ``created_at``) and their ids start with the order's, so they
    are adjacent in ``<created_at>#<commission_id>`` order."""
    groups: list[OrderGroup] = []
    for record in records:
        order_id, level = str(record["order_id"]), int(record.get("level", 1))
        if groups and groups[-1].order_id == order_id and groups[-1].level == level:
            groups[-1] = OrderGroup(order_id, level, (*groups[-1].records, record))
        else:
            groups.append(OrderGroup(order_id, level, (record,)))
    return groups


def page_of_groups(groups: list[OrderGroup], *, limit: int, more_in_index: bool) -> tuple[list[OrderGroup], bool]:
    """The groups of this page and whether the list goes on after the last one. When the index has
    more, the last group read may continue on the next page: it is left for that page (unless it is
    the only one), so an order is never split across pages."""
    if len(groups) > limit:
        return groups[:limit], True
    if more_in_index and len(groups) > 1:
        return groups[:-1], True
    return groups, more_in_index
