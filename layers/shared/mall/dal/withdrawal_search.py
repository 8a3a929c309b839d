"""The admin list of withdrawals (提现管理): filters, and a newest-first merge of the index
partitions they name, paginated by one position per partition.

Without a status or promoter filter the list reads the one partition of list entries
(``WITHDRAWAL_LIST``, in the table) and then the records of the page in one BatchGetItem: two
round trips a page, where a merge of the six status partitions took six."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from mall.dal.keys import (
    WITHDRAWAL_LIST_PARTITION,
    withdrawal_key,
    withdrawal_promoter_partition,
    withdrawal_status_partition,
)
from mall.dal.table import Item, Key, Table
from mall.domain.withdrawals import WithdrawalStatus


@dataclass(frozen=True, slots=True)
class WithdrawalFilter:
    """Admin filters; created_* are ISO instants (``created_from`` inclusive, ``created_before`` exclusive)."""

    status: WithdrawalStatus | None = None
    promoter_id: str | None = None
    created_from: str | None = None
    created_before: str | None = None
    min_fen: int | None = None
    max_fen: int | None = None

    def partitions(self) -> list[tuple[str, str]]:
        """(index, partition) pairs to read, newest first in each; merged by the sort key. The
        index ``TABLE`` is the table itself (the list entries of every status)."""
        if self.promoter_id is not None:
            return [("gsi2", withdrawal_promoter_partition(self.promoter_id))]
        if self.status is None:
            return [(TABLE, WITHDRAWAL_LIST_PARTITION)]
        return [("gsi1", withdrawal_status_partition(self.status.value))]


#: The "index" of a partition of the table itself (its attributes are ``pk`` / ``sk``).
TABLE = ""


#: A partition's position in a paginated merge: the last key consumed, None (not started) or DONE.
DONE = "done"
Position = Key | str | None


@dataclass
class MergedPage:
    items: list[Item]
    positions: dict[str, Position] | None  # None: nothing more


def search(table: Table, where: WithdrawalFilter, *, limit: int,
           positions: Mapping[str, Position] | None) -> MergedPage:
    """One page of the admin list: each partition of ``where`` read newest first from its
    position (filters applied), merged by ``<created_at>#<id>``, the newest ``limit`` kept."""
    parts = where.partitions()
    start = dict(positions) if positions else dict.fromkeys((p for _, p in parts), None)
    candidates: list[tuple[str, Item]] = []
    exhausted: dict[str, bool] = {}
    for index, partition in parts:
        position = start.get(partition)
        if position == DONE:
            exhausted[partition] = True
            continue
        found, done = _collect(table, index, partition, where, limit=limit,
                               start_key=position if isinstance(position, dict) else None)
        candidates += [(partition, item) for item in found]
        exhausted[partition] = done
    sort_name = {p: f"{i}sk" for i, p in parts}
    candidates.sort(key=lambda pair: str(pair[1][sort_name[pair[0]]]), reverse=True)
    taken = candidates[:limit]
    left = {partition for partition, _ in candidates[limit:]}
    next_positions: dict[str, Position] = {}
    for index, partition in parts:
        mine = [item for p, item in taken if p == partition]
        if exhausted[partition] and partition not in left:
            next_positions[partition] = DONE
        elif mine:
            last = mine[-1]
            next_positions[partition] = {"pk": last["pk"], "sk": last["sk"], f"{index}pk": last[f"{index}pk"],
                                         f"{index}sk": last[f"{index}sk"]}
        else:
            next_positions[partition] = start.get(partition)
    more = any(v != DONE for v in next_positions.values())
    records = [item for _, item in taken]
    if parts == [(TABLE, WITHDRAWAL_LIST_PARTITION)]:
        records = _records_of(table, records)
    return MergedPage(records, next_positions if more else None)


def _records_of(table: Table, entries: list[Item]) -> list[Item]:
    """The records of list entries, in the entries' order (one BatchGetItem per 100). The entry
    is put with its record in one transaction, so a record is missing only if it was deleted."""
    if not entries:
        return []
    found = {str(item["withdrawal_id"]): item
             for item in table.batch_get([withdrawal_key(str(e["withdrawal_id"])) for e in entries])}
    return [found[str(e["withdrawal_id"])] for e in entries if str(e["withdrawal_id"]) in found]


def _collect(table: Table, index: str, partition: str, where: WithdrawalFilter, *, limit: int,
             start_key: Key | None) -> tuple[list[Item], bool]:
    """Up to ``limit`` matching items from one partition; True when the partition has no more."""
    names = {"#pk": f"{index}pk", "#sk": f"{index}sk"}
    # A key condition may not compare with an empty string; every stored key starts with a year.
    values: dict[str, Any] = {":pk": partition, ":low": where.created_from or "0",
                              ":high": where.created_before or "\uffff"}
    filters: list[str] = []
    if index == "gsi2" and where.status is not None:
        names["#status"] = "status"
        values[":status"] = where.status.value
        filters.append("#status = :status")
    if where.min_fen is not None:
        names["#amount"] = "amount_fen"
        values[":min"] = where.min_fen
        filters.append("#amount >= :min")
    if where.max_fen is not None:
        names["#amount"] = "amount_fen"
        values[":max"] = where.max_fen
        filters.append("#amount <= :max")
    found: list[Item] = []
    key = start_key
    while True:
        page = table.query_where("#pk = :pk AND #sk BETWEEN :low AND :high", names=names, values=values,
                                 index=index or None, limit=max(limit, 25), start_key=key, newest_first=True,
                                 filter_expression=" AND ".join(filters) or None)
        for item in page.items:
            if len(found) == limit:
                return found, False
            found.append(item)
        if page.last_key is None:
            return found, True
        if len(found) == limit:
            return found, False
        key = page.last_key


def search_all(table: Table, where: WithdrawalFilter, *, page_size: int = 200) -> Iterable[Item]:
    """Every match, newest first, a page at a time (the CSV export)."""
    positions: dict[str, Position] | None = None
    while True:
        page = search(table, where, limit=page_size, positions=positions)
        yield from page.items
        if page.positions is None:
            return
        positions = page.positions

