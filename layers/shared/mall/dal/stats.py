"""Stats items (docs/data-model.md "insight", docs/dashboard.md): applying changes' deltas once,
and the reads of the dashboard and the leaderboards.

Applying (``StatsRepository.apply_many``, ``mall.dal.stats_apply``): the deltas of all the changes of
a worker invocation are merged into ONE write per item, in transactions of ≤ 100 items that also
put a marker ``STATS_APPLIED#<event_id>`` / ``PART#<n>`` per part of each change (only if absent,
``expires_at`` 15 days), so a redelivered, overlapping or concurrently delivered change adds
nothing twice. The changes of one order's partition (the order and its commission records) are
instead listed together in one marker item ``STATS_APPLIED#ORDER#<id>`` / ``CHANGES`` (one write
for all of a transaction's parts of that order; ``mall.dal.stats_apply``). A change that needs
more than 100 writes (an order of 20 lines with products, buyers, promoters, day and month) is
split, deterministically from the deltas alone, into parts of ≤ 99 writes, each with its marker:
a part applied before a failure is not applied again.

Leaderboard scores, a customer's first two paid orders and distinct-order markers are read first
(one consistent ``BatchGetItem``) and written conditionally on what was read; a lost race (another
change wrote them meanwhile) or a transaction conflict re-reads and tries again.

Write contention: every change writes its day's aggregate (and, for a day before the fold day or a
late change, its month's and the totals), so those are sharded (``DAY_SHARDS``, the shard chosen per
transaction by an ``event_id``); readers sum the shards. From the fold day on, a day reaches its
month and the totals by the fold (``mall.dal.stats_fold``); until then readers add its day shards.
The items' keys are ``mall.dal.keys.stats``."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from mall.dal.keys import (
    DAY_SHARDS,
    FOLD_SHARD,
    PROFILE_SK,
    SETTINGS_CURRENT_KEY,
    board_entry_board,
    board_key,
    board_partition,
    board_sort_key,
    customer_profile_key,
    day_key,
    funnel_partition,
    key_id,
    month_key,
    promoter_key,
    stats_entities_partition,
    stats_entity_kind,
    totals_key,
)
from mall.dal.settings import SettingsVersion, current_from_item
from mall.dal.stats_apply import ApplyResult, StatsApplier
from mall.dal.stats_boards import as_board_entry, board_index
from mall.dal.stats_fold import fold_start, folded_through, next_day
from mall.dal.stats_plan import MAX_TRANSACTION_WRITES
from mall.dal.table import BATCH_GET_LIMIT, Item, Key, Table, serialize
from mall.domain.stats import Delta

__all__ = ["RANK_COUNT_CAP", "ApplyResult", "StatsRepository"]


def _after(item: Item | None) -> str | None:
    """The day after the last one a fold shard holds (None: it holds none)."""
    through = folded_through(item)
    return next_day(through) if through else None


def _days(first: str, last: str) -> list[str]:
    """Every calendar day from ``first`` through ``last`` (none when ``first`` is after it); ``last``
    may be a month's ``-31`` of a shorter month."""
    days: list[str] = []
    day = first
    while day <= last:
        days.append(day)
        day = next_day(day)
    return days

RANK_COUNT_CAP = 1_000  # the caller's rank is counted exactly up to this many promoters above them
#: The days up to today whose shards the dashboard reads with the totals, whatever the range: the
#: days the fold has not taken yet (today, yesterday, and the day before until the fold's run).
UNFOLDED_DAYS_READ = 3


class StatsRepository:
    def __init__(self, table: Table, *, sleep: Callable[[float], None] = time.sleep,
                 part_markers_too: bool = False, seen_marks_too: bool = False, sales_folded_from: str = "",
                 part_markers_read: bool = True, seen_items_read: bool = False,
                 stats_folded_from: str | None = None) -> None:
        self._table = table
        # The first day the fold adds to its month and the totals (``fold_start``); None: none is.
        self._fold_start = None if stats_folded_from is None else fold_start(stats_folded_from)
        # The first day whose periods' sales boards live on the commission entries (``mall.dal.stats_boards``).
        self._sales_folded_from = sales_folded_from
        self._applier = StatsApplier(table, sleep=sleep, part_markers_too=part_markers_too,
                                     seen_marks_too=seen_marks_too, sales_folded_from=sales_folded_from,
                                     part_markers_read=part_markers_read, seen_items_read=seen_items_read,
                                     stats_folded_from=stats_folded_from)

    @property
    def table(self) -> Table:
        return self._table

    # ---- applying ---------------------------------------------------------------------------------

    def apply(self, event_id: str, deltas: Sequence[Delta], *, now: datetime,
              limit: int = MAX_TRANSACTION_WRITES - 1, group: str | None = None) -> ApplyResult:
        """Apply the deltas of the change ``event_id`` exactly once (see the module docstring)."""
        return self._applier.apply([(event_id, deltas)], now=now, limit=limit,
                                   groups={event_id: group} if group is not None else None)

    def apply_many(self, changes: Sequence[tuple[str, Sequence[Delta]]], *, now: datetime,
                   groups: Mapping[str, str] | None = None) -> ApplyResult:
        """Apply the deltas of every ``(event_id, deltas)`` exactly once, merged into one write per item;
        ``groups``: the marker group of a change (``mall.dal.changes.marker_group``), by ``event_id``."""
        return self._applier.apply(changes, now=now, groups=groups)

    # ---- reads: dashboard -------------------------------------------------------------------------

    def aggregates(self, *, days: Sequence[str], months: Sequence[str]) -> list[Item]:
        keys = [day_key(d, s) for d in days for s in range(DAY_SHARDS)]
        keys += [month_key(m, s) for m in months for s in range(DAY_SHARDS)]
        return self._table.batch_get(keys) if keys else []

    def aggregates_and_totals(self, *, days: Sequence[str], months: Sequence[str],
                              today: str | None = None) -> tuple[dict[str, list[Item]], list[Item]]:
        """The aggregate items of each day and month asked for, keyed by that period (``YYYY-MM-DD``
        or ``YYYY-MM``; a period without items maps to ``[]``), and the running totals' items, in
        ``BatchGetItem`` calls of 100 keys run at once: a week and the totals are one call (64 keys),
        a range of days takes one call's time.

        With the fold (``today``: the reader's China day), a month's items are its shards and the
        shards of its days not folded into it yet, the totals' the totals' shards and the shards of
        every day not folded yet (``mall.dal.stats_fold``): each folded shard says through which day
        it holds. The last ``UNFOLDED_DAYS_READ`` days are read with the rest; earlier days not
        folded yet (the fold behind) take one more round of reads."""
        wanted = {key_id(day_key(day, s)) for day in days for s in range(DAY_SHARDS)}
        wanted |= {key_id(month_key(month, s)) for month in months for s in range(DAY_SHARDS)}
        wanted |= {key_id(totals_key(s)) for s in range(DAY_SHARDS)}
        start = self._fold_start
        if start is not None and today is None:
            raise ValueError("with the fold, the reader's China day says which days are not folded yet")
        recent: list[str] = []
        if start is not None and today is not None:
            recent = [d for i in range(UNFOLDED_DAYS_READ) if (d := next_day(today, -i)) >= start]
            wanted |= {key_id(day_key(day, s)) for day in recent for s in range(DAY_SHARDS)}
        found = self._read_all(wanted)
        by_period: dict[str, list[Item]] = {period: [] for period in [*days, *months]}
        by_period.update({day: self._shards(found, day_key, day) for day in days})
        by_period.update({month: self._shards(found, month_key, month) for month in months})
        running = [found[k] for s in range(DAY_SHARDS) if (k := key_id(totals_key(s))) in found]
        if start is None or today is None:
            return by_period, running
        # What the month's and the totals' fold shards do not hold yet: days from the fold day (or the
        # day after the last folded) through today.
        unfolded_of = {month: _days(max(_after(found.get(key_id(month_key(month, FOLD_SHARD)))) or f"{month}-01",
                                        f"{month}-01", start), min(today, f"{month}-31"))
                       for month in months}
        unfolded = _days(max(_after(found.get(key_id(totals_key(FOLD_SHARD)))) or start, start), today)
        needed = {*unfolded, *(d for ds in unfolded_of.values() for d in ds)}
        missing = {key_id(day_key(day, s)) for day in needed for s in range(DAY_SHARDS)} - wanted
        if missing:
            found.update(self._read_all(missing))
        for month, month_days in unfolded_of.items():
            by_period[month] += [item for day in month_days for item in self._shards(found, day_key, day)]
        running += [item for day in unfolded for item in self._shards(found, day_key, day)]
        return by_period, running

    def _read_all(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Item]:
        wanted: list[Key] = [{"pk": pk, "sk": sk} for pk, sk in sorted(keys)]
        chunks = [wanted[i:i + BATCH_GET_LIMIT] for i in range(0, len(wanted), BATCH_GET_LIMIT)]
        with ThreadPoolExecutor(max_workers=max(1, min(len(chunks), 8))) as pool:
            return {key_id(item): item for items in pool.map(self._table.batch_get, chunks) for item in items}

    @staticmethod
    def _shards(found: Mapping[tuple[str, str], Item], key: Callable[[str, int], Key], period: str) -> list[Item]:
        return [found[k] for s in range(DAY_SHARDS) if (k := key_id(key(period, s))) in found]

    def entities(self, *, days: Sequence[str], months: Sequence[str]) -> dict[str, list[Item]]:
        """Every product, promoter and buyer item of those days and months, by kind (``product``,
        ``promoter``, ``buyer``): one Query per month of days and one per year of months (sort keys
        from the first period to the last; all pages), run at once. A week is one Query, two when
        it straddles a month's end. The stats worker writes day items only (the dashboard asks for
        days); month items are those stored before, until ``stats_entity_months_dropped`` runs."""
        spans: dict[str, tuple[str, str]] = {}
        for granularity, periods in (("DAY", days), ("MONTH", months)):
            for period in periods:
                partition = stats_entities_partition(granularity, period)
                low, high = spans.get(partition, (period, period))
                spans[partition] = (min(low, period), max(high, period))
        with ThreadPoolExecutor(max_workers=max(1, min(len(spans), 8))) as pool:
            pages = list(pool.map(lambda partition: self._whole_span(partition, *spans[partition]), spans))
        wanted = {*days, *months}
        by_kind: dict[str, list[Item]] = {"product": [], "promoter": [], "buyer": []}
        for item in (item for page in pages for item in page):
            if str(item.get("day") or item.get("month")) in wanted:  # a span may cover periods not asked for
                by_kind[stats_entity_kind(str(item["sk"]))].append(item)
        return by_kind

    def _whole_span(self, partition: str, first: str, last: str) -> list[Item]:
        items: list[Item] = []
        start: Key | None = None
        while True:
            page = self._table.query_where("#pk = :pk AND #sk BETWEEN :first AND :last",
                                           names={"#pk": "pk", "#sk": "sk"},
                                           values={":pk": partition, ":first": f"{first}#", ":last": f"{last}#~"},
                                           limit=None, start_key=start)
            items.extend(page.items)
            start = page.last_key
            if start is None:
                return items

    def funnel(self, uid: str, *, first: str, last: str) -> list[Item]:
        """The promoter's funnel items of the China days ``first``..``last``: one Query of their own
        partition (all pages; a page is 1 MB, ~5,000 items)."""
        return self._whole_span(funnel_partition(uid), first, last)

    def nicknames(self, user_ids: Iterable[str]) -> dict[str, str | None]:
        """Nicknames of promoters (their promoter item, else their customer profile)."""
        return self.nicknames_and_settings(user_ids, settings=False)[0]

    def nicknames_and_settings(self, user_ids: Iterable[str], *,
                               settings: bool = True) -> tuple[dict[str, str | None], SettingsVersion]:
        """The nicknames and (``settings``) the settings in force, in the same BatchGetItem: the
        leaderboard shows the month's prize table without a round trip of its own."""
        names, current, _ = self._names_settings_and(user_ids, settings=settings, extra=None)
        return names, current

    def leaderboard_reads(self, user_ids: Iterable[str], *, board: str, period_key: str,
                          caller_id: str) -> tuple[dict[str, str | None], SettingsVersion, Item | None]:
        """The nicknames, the settings in force and the caller's own board entry, in one BatchGetItem
        (the entry's key is known before the board is read): a caller off the board then costs only
        the count of those above, not a GetItem of their own entry as well."""
        entry = self._entry(board, period_key)
        names, current, item = self._names_settings_and(user_ids, settings=True,
                                                        extra=board_key(entry, period_key, caller_id))
        return names, current, as_board_entry(item, entry, board)

    def _names_settings_and(self, user_ids: Iterable[str], *, settings: bool,
                            extra: Key | None) -> tuple[dict[str, str | None], SettingsVersion, Item | None]:
        wanted = list(dict.fromkeys(user_ids))
        keys = [key for uid in wanted for key in (promoter_key(uid),
                                                  customer_profile_key(uid))]
        if settings:
            keys.append(SETTINGS_CURRENT_KEY)
        if extra is not None:
            keys.append(extra)
        if not keys:
            return {}, current_from_item(None), None
        found: dict[str, dict[str, Any]] = {}
        current: Item | None = None
        extra_item: Item | None = None
        for item in self._table.batch_get(keys):
            if item["pk"] == SETTINGS_CURRENT_KEY["pk"] and item["sk"] == SETTINGS_CURRENT_KEY["sk"]:
                current = item
                continue
            if extra is not None and item["pk"] == extra["pk"] and item["sk"] == extra["sk"]:
                extra_item = item
                continue
            found.setdefault(str(item["pk"]).removeprefix("USER#"), {})[str(item["sk"])] = item.get("nickname")
        names = {uid: (found.get(uid, {}).get("PROMOTER") or found.get(uid, {}).get(PROFILE_SK)) for uid in wanted}
        return names, current_from_item(current), extra_item

    # ---- reads: leaderboards ----------------------------------------------------------------------

    def _entry(self, board: str, period_key: str) -> str:
        return board_entry_board(board, period_key, self._sales_folded_from)

    def board_top(self, board: str, period_key: str, *, limit: int = 100) -> list[Item]:
        """The ``limit`` highest positive scores, highest first: one Query of the index."""
        entry = self._entry(board, period_key)
        index, index_pk, _ = board_index(entry, board)
        page = self._table.query_where("#pk = :pk", names={"#pk": index_pk},
                                       values={":pk": board_partition(board, period_key)}, index=index,
                                       limit=limit, newest_first=True)
        return [found for item in page.items if (found := as_board_entry(item, entry, board)) is not None]

    def board_entry(self, board: str, period_key: str, uid: str) -> Item | None:
        entry = self._entry(board, period_key)
        return as_board_entry(self._table.get(board_key(entry, period_key, uid)), entry, board)

    def count_above(self, board: str, period_key: str, score: int, *, cap: int = RANK_COUNT_CAP) -> tuple[int, bool]:
        """How many promoters score strictly more than ``score`` (``Select=COUNT`` on the index, from
        ``score + 1`` up), counted exactly up to ``cap``; ``(cap, True)`` when there are more: the
        work (and read cost) of one rank is bounded by ``cap`` index entries (~150 bytes each)."""
        counted = 0
        start: dict[str, Any] | None = None
        index, index_pk, index_sk = board_index(self._entry(board, period_key), board)
        while True:
            body: dict[str, Any] = {
                "TableName": self._table.name, "IndexName": index, "Select": "COUNT",
                "KeyConditionExpression": "#pk = :pk AND #sk >= :low",
                "ExpressionAttributeNames": {"#pk": index_pk, "#sk": index_sk},
                "ExpressionAttributeValues": serialize({":pk": board_partition(board, period_key),
                                                        ":low": board_sort_key(score + 1, "")}),
                "Limit": cap + 1 - counted}
            if start:
                body["ExclusiveStartKey"] = start
            response = self._table.client.query(**body)
            counted += int(response.get("Count", 0))
            start = response.get("LastEvaluatedKey")
            if counted > cap:
                return cap, True
            if not start:
                return counted, False

