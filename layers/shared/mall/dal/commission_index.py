"""A promoter's commission records through gsi1, over the ``COMMISSION_INDEX_SHARDS`` partitions
their entries are spread over (``COMMISSIONS#<uid>`` and ``COMMISSIONS#<uid>#<k>``, the shard chosen
by the commission id). Every reader of a promoter's records goes through here: the paged lists
(``page``: the promoter's and the admin's commission lists, the attributed orders) and the reads of
every record in a range or of a status (``items``: export, fraud scan, risk holds and cases).

**One position for every shard.** The sort key ``<created_at>#<commission_id>`` is unique across
the shards and orders them alike, so the index key of the last record a page shows says where each
shard resumes: right after it (a shard's Query starts from that key with its own ``gsi1pk``). A
cursor holds that key with the ``gsi1pk`` of shard 0, the list's own partition (as before
sharding, so cursors handed out then still resume where they were). A page asks each shard, at
once, for ``limit`` records after the position and merges them; where a filter made some shard stop
before ``limit`` matches, the page ends where that shard stopped, because past that point the shard
was not read. So the pages are one sequence, as from a single partition: no record is skipped or
shown twice, and a record that arrives between two pages, in any shard, is on a later page exactly
when it sorts after the position (a record newer than the position is at the top of the list, as
it would be unsharded)."""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from mall.dal.keys import beneficiary_partition, beneficiary_partitions
from mall.dal.table import Item, Key, Page, Table

INDEX = "gsi1"


@dataclass(frozen=True, slots=True)
class Where:
    """What a read keeps: a ``gsi1sk`` range (``low``/``high`` inclusive, either may be open) and
    a filter (``expression`` over ``names``/``values``; its placeholders must not be ``#pk``,
    ``#sk``, ``:pk``, ``:lo`` or ``:hi``)."""

    low: str | None = None
    high: str | None = None
    expression: str | None = None
    names: Mapping[str, str] = field(default_factory=dict)
    values: Mapping[str, Any] = field(default_factory=dict)


EVERYTHING = Where()


def _sort_key(item: Mapping[str, Any]) -> str:
    return str(item["gsi1sk"])


class CommissionIndex:
    def __init__(self, table: Table) -> None:
        self._table = table

    @staticmethod
    def partition(user_id: str) -> tuple[str, str]:
        """What a cursor of a promoter's records is bound to (its ``gsi1pk``: shard 0's partition)."""
        return "gsi1pk", beneficiary_partition(user_id)

    @staticmethod
    def position(user_id: str, item: Mapping[str, Any]) -> Key:
        """The position right after ``item`` (a record, or a Query's last evaluated key), valid in every shard."""
        return {"pk": item["pk"], "sk": item["sk"], "gsi1pk": beneficiary_partition(user_id),
                "gsi1sk": item["gsi1sk"]}

    def page(self, user_id: str, *, limit: int, start_key: Key | None, newest_first: bool = True,
             where: Where = EVERYTHING) -> Page:
        """The next ``limit`` records after ``start_key`` (a ``position``) over every shard, merged;
        ``last_key`` is the position the next page starts from (None: nothing after this page)."""
        partitions = beneficiary_partitions(user_id)
        with ThreadPoolExecutor(max_workers=len(partitions)) as pool:
            pages = list(pool.map(lambda pk: self._query(pk, limit=limit, after=start_key, newest_first=newest_first,
                                                         where=where), partitions))
        stops = [page.last_key for page in pages if page.last_key is not None]
        # The shard whose Query stopped earliest in the list's order bounds what was read of every shard.
        frontier = (max if newest_first else min)(stops, key=_sort_key) if stops else None
        bound = None if frontier is None else _sort_key(frontier)
        kept = [item for page in pages for item in page.items
                if bound is None or (_sort_key(item) >= bound if newest_first else _sort_key(item) <= bound)]
        kept.sort(key=_sort_key, reverse=newest_first)
        taken = kept[:limit]
        if len(kept) > limit:
            last: Key | None = self.position(user_id, taken[-1])
        elif frontier is not None:
            last = self.position(user_id, frontier)
        else:
            last = None
        return Page(items=taken, last_key=last)

    def items(self, user_id: str, *, newest_first: bool = False, where: Where = EVERYTHING,
              page_size: int | None = None) -> Iterator[Item]:
        """Every record of the promoter that ``where`` keeps, the shards merged by ``gsi1sk``
        (``page_size`` None: DynamoDB's 1 MB pages)."""
        return heapq.merge(*(self._all(pk, newest_first=newest_first, where=where, page_size=page_size)
                             for pk in beneficiary_partitions(user_id)), key=_sort_key, reverse=newest_first)

    def _all(self, partition: str, *, newest_first: bool, where: Where, page_size: int | None) -> Iterator[Item]:
        after: Key | None = None
        while True:
            page = self._query(partition, limit=page_size, after=after, newest_first=newest_first, where=where)
            yield from page.items
            if page.last_key is None:
                return
            after = page.last_key

    def _query(self, partition: str, *, limit: int | None, after: Key | None, newest_first: bool,
               where: Where) -> Page:
        names = {"#pk": "gsi1pk", **where.names}
        values: dict[str, Any] = {":pk": partition, **where.values}
        condition = "#pk = :pk"
        if where.low is not None or where.high is not None:
            names["#sk"] = "gsi1sk"
        if where.low is not None and where.high is not None:
            condition += " AND #sk BETWEEN :lo AND :hi"
            values.update({":lo": where.low, ":hi": where.high})
        elif where.low is not None:
            condition += " AND #sk >= :lo"
            values[":lo"] = where.low
        elif where.high is not None:
            condition += " AND #sk <= :hi"
            values[":hi"] = where.high
        start = None if after is None else {**after, "gsi1pk": partition}
        return self._table.query_where(condition, names=names, values=values, index=INDEX, limit=limit,
                                       start_key=start, newest_first=newest_first,
                                       filter_expression=where.expression)
