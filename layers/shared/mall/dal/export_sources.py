"""The sources of every kind of export row in the single table, read by the export worker
(``mall.dal.exports`` has the job records, which the admin's function reads alone).

Sources, each a generator that reads one page at a time (never the whole range), without a scan:
- orders: the by-status list (``ORDERS#<status>`` / ``<created_at>#<order_id>``: the order items'
  own gsi3 entries, or the ``STATUS`` entries on gsi1 while the deploy reads those) of every status,
  range on the creation time, merged oldest first;
- commissions: per promoter, gsi1 ``COMMISSIONS#<uid>`` / ``<created_at>#<commission_id>`` (range; the
  index shards merged, ``mall.dal.commission_index``);
- withdrawals: the admin list's merge of gsi1 ``WITHDRAWALS#<status>`` (range), newest first;
- promoters: gsi1 ``PROMOTERS#<status>`` / ``<applied_at>#<uid>`` (range on the application time);
- ledger: per promoter, the postings ``USER#<uid>[#LEDGER#<shard>]`` / ``LEDGER#<at>#<posting_id>``
  (range; the shards merged by sort key).
Per-promoter kinds walk the promoters of every status that can have earned (active, frozen,
disabled): one Query per promoter, so their cost grows with the number of promoters, not of rows.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from typing import Any

from mall.config import OrderStatusList
from mall.dal.commission_index import CommissionIndex, Where
from mall.dal.keys import order_status_partition, posting_partitions, posting_sort_bound, promoter_status_partition
from mall.dal.order_items import status_summary
from mall.dal.table import Item, Key, Table
from mall.dal.withdrawals import WithdrawalFilter, WithdrawalRepository
from mall.domain.exports import DayRange, ExportKind
from mall.domain.orders import OrderStatus

#: Promoter statuses that may have commissions and postings (applied / rejected never earned).
EARNING_STATUSES = ("active", "frozen", "disabled")
PROMOTER_STATUSES = ("applied", "active", "frozen", "disabled", "rejected")


class ExportSources:
    """The stored items of each kind in a range of China days, one page at a time."""

    def __init__(self, table: Table, *, page_size: int | None = None, status_list: OrderStatusList = "index") -> None:
        self._table = table
        self._page_size = page_size  # None: DynamoDB's own 1 MB pages
        self._order_entries = status_list == "entries"

    def items(self, kind: ExportKind, days: DayRange) -> Iterator[Item]:
        if kind == ExportKind.ORDERS:
            return self.orders(days)
        if kind == ExportKind.COMMISSIONS:
            return self.commissions(days)
        if kind == ExportKind.WITHDRAWALS:
            return self.withdrawals(days)
        if kind == ExportKind.PROMOTERS:
            return self.promoters(days)
        return self.ledger(days)

    def _pages(self, condition: str, *, names: dict[str, str], values: dict[str, Any],
               index: str | None = None) -> Iterator[Item]:
        start: Key | None = None
        while True:
            page = self._table.query_where(condition, names=names, values=values, index=index,
                                           limit=self._page_size, start_key=start)
            yield from page.items
            if page.last_key is None:
                return
            start = page.last_key

    def _gsi1_range(self, partition: str, days: DayRange, index: str = "gsi1") -> Iterator[Item]:
        # gsi3 (the orders' by-status list) sorts on the order's gsi1sk.
        return self._pages("#pk = :pk AND #sk BETWEEN :low AND :high", names={"#pk": f"{index}pk", "#sk": "gsi1sk"},
                           values={":pk": partition, ":low": days.low(), ":high": days.high()}, index=index)

    def orders(self, days: DayRange) -> Iterator[Item]:
        """Orders created in the range (their rows of the by-status list), oldest first across statuses."""
        if self._order_entries:
            streams = [self._gsi1_range(order_status_partition(status.value), days) for status in OrderStatus]
            return heapq.merge(*streams, key=lambda item: str(item["gsi1sk"]))
        indexed = [self._gsi1_range(order_status_partition(status.value), days, "gsi3") for status in OrderStatus]
        merged = heapq.merge(*indexed, key=lambda item: str(item["gsi1sk"]))
        return (status_summary(item) for item in merged)

    def promoters(self, days: DayRange) -> Iterator[Item]:
        """Promoters who applied in the range, oldest first across statuses."""
        streams = [self._gsi1_range(promoter_status_partition(status), days) for status in PROMOTER_STATUSES]
        return heapq.merge(*streams, key=lambda item: str(item["gsi1sk"]))

    def withdrawals(self, days: DayRange) -> Iterator[Item]:
        """Withdrawals requested in the range, newest first (the admin list's merge)."""
        where = WithdrawalFilter(created_from=days.low(), created_before=days.high())
        yield from WithdrawalRepository(self._table).search_all(where, page_size=200)

    def earning_promoters(self) -> Iterator[str]:
        """Every promoter that may have earned (active, frozen, disabled), each once."""
        seen: set[str] = set()
        for status in EARNING_STATUSES:
            for item in self._pages("#pk = :pk", names={"#pk": "gsi1pk"},
                                    values={":pk": promoter_status_partition(status)}, index="gsi1"):
                uid = str(item["user_id"])
                if uid not in seen:
                    seen.add(uid)
                    yield uid

    def commissions(self, days: DayRange, promoters: Iterable[str] | None = None) -> Iterator[Item]:
        """Commission records created in the range: promoter by promoter, each oldest first."""
        records = CommissionIndex(self._table)
        for uid in promoters if promoters is not None else self.earning_promoters():
            yield from records.items(uid, where=Where(low=days.low(), high=days.high()), page_size=self._page_size)

    def ledger(self, days: DayRange, promoters: Iterable[str] | None = None) -> Iterator[Item]:
        """Postings made in the range: promoter by promoter, each oldest first."""
        for uid in promoters if promoters is not None else self.earning_promoters():
            yield from heapq.merge(*(self._pages("#pk = :pk AND #sk BETWEEN :low AND :high",
                                                 names={"#pk": "pk", "#sk": "sk"},
                                                 values={":pk": pk, ":low": posting_sort_bound(days.low()),
                                                         ":high": posting_sort_bound(days.high())})
                                     for pk in posting_partitions(uid)), key=lambda item: str(item["sk"]))
