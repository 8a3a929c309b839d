"""The merchant's low-stock alert (库存预警提醒), once per crossing: its state lives on the product's
low-stock flag (``mall.dal.catalog.products``), which names each crossing by its ``flagged_at``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from mall.clock import iso
from mall.dal.keys import LOW_STOCK_PARTITION, low_stock_key
from mall.dal.table import ConditionFailed, Table


@dataclass(frozen=True, slots=True)
class LowStockAlert:
    """One crossing into low stock not yet alerted: ``flagged_at`` names the crossing (the flag
    keeps it until the stock recovers, and a new crossing gets a new one)."""

    product_id: str
    flagged_at: str
    stock: int
    threshold: int

    @property
    def alert_key(self) -> str:
        """The same for every delivery of this crossing's alert (a subscriber drops repeats by it)."""
        return f"low-stock:{self.product_id}:{self.flagged_at}"


class LowStockAlerts:
    """The alert state on the low-stock flag (``PRODUCT#<id>`` / ``LOWSTOCK``): ``alerted_for`` is
    the ``flagged_at`` of the crossing last alerted; ``alert_lease`` keeps an overlapping run off
    a crossing being sent (until it expires: a run that died mid-send is retried)."""

    def __init__(self, table: Table) -> None:
        self._table = table

    def pending(self, *, limit: int = 200) -> list[LowStockAlert]:
        """Flagged products whose current crossing is not alerted (a Query of the sparse flag index)."""
        page = self._table.query_where(
            "#pk = :pk", names={"#pk": "gsi1pk", "#a": "alerted_for", "#f": "flagged_at"},
            values={":pk": LOW_STOCK_PARTITION}, index="gsi1", limit=None,
            filter_expression="attribute_exists(#f) AND (attribute_not_exists(#a) OR #a <> #f)")
        return [LowStockAlert(product_id=str(i["product_id"]), flagged_at=str(i["flagged_at"]),
                              stock=int(i.get("stock", 0)), threshold=int(i.get("threshold", 0)))
                for i in page.items[:limit]]

    def claim(self, alert: LowStockAlert, *, now: datetime, lease_until: datetime) -> bool:
        """Take the crossing for sending if it is still the flag's crossing, unsent and unleased."""
        try:
            self._table.update(
                low_stock_key(alert.product_id), "SET alert_lease = :until",
                condition="flagged_at = :f AND (attribute_not_exists(alerted_for) OR alerted_for <> :f) AND "
                          "(attribute_not_exists(alert_lease) OR alert_lease < :now)",
                values={":f": alert.flagged_at, ":until": iso(lease_until), ":now": iso(now)})
        except ConditionFailed:
            return False
        return True

    def mark_sent(self, alert: LowStockAlert) -> bool:
        """Record the crossing as alerted (after the send). False: the flag moved on meanwhile."""
        try:
            self._table.update(low_stock_key(alert.product_id), "SET alerted_for = :f REMOVE alert_lease",
                               condition="flagged_at = :f", values={":f": alert.flagged_at})
        except ConditionFailed:
            return False
        return True
