"""The fold of the stats' day aggregates into their month and the running totals (docs/dashboard.md,
"How the figures are kept up to date").

From the fold day on (``fold_start``) the stats worker adds a change's aggregate counters to a shard
of its day alone (``mall.dal.stats_apply``), and the running totals' counters to a shard of the day
it applies them on. Each day is then added to its month and to the totals ONCE, by the fold, in
the order of the days, once the next China day has ended (a day ``D`` on ``D + 2``):

1. read the day's ``DAY_SHARDS`` shards, strongly consistent;
2. in ONE transaction: ADD their sums to the month's shard ``FOLD_SHARD`` (the aggregate fields)
   and to the totals' shard ``FOLD_SHARD`` (the totals' fields), set ``folded_through`` to the day
   on both, and set ``folded`` on each day shard, conditional on the ``writes`` count it read
   (every write of the worker to an unfolded day shard ADDs 1 to it: a write between the read and
   the transaction fails the transaction, which reads again) and on the totals' ``folded_through``
   being the day before (a concurrent fold of the same day fails, and finds it done).

A change the worker applies to a day after its fold (``folded`` set) is written to the day, its month
and the totals, conditional on ``folded`` existing; one before it, to the day alone, conditional on
``folded`` not existing: each change is counted once in the day, the month and the totals, whichever
commits first. A reader knows what each month and the totals hold from their ``folded_through``:
the later days of the month (and every later day, for the totals) are read from their day shards
(``StatsRepository.aggregates_and_totals``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from mall.clock import china_day, iso
from mall.dal.keys import DAY_SHARDS, FOLD_SHARD, day_key, key_id, month_key, totals_key
from mall.dal.retry import jitter
from mall.dal.table import Item, Table, TransactionCancelled, Write
from mall.domain.stats import AGG_FIELDS, TOTAL_FIELDS
from mall.domain.stats_periods import month_of_day

#: The first day folded when the fold day (``STATS_FOLDED_FROM``) is empty: a stack created by code
#: that folds has no figures of an earlier day, so every day of a new stack is folded.
FOLD_EPOCH = "2026-12-01"
#: A day is folded once the China day after it has ended: the stats worker's changes of a day come
#: within seconds of it (the queue's batching window), so a change after that is a late one.
FOLD_AFTER_DAYS = 2
MAX_ATTEMPTS = 8


def fold_start(folded_from: str) -> str:
    """The first China day whose aggregates the stats worker writes to the day alone (its month and
    the totals get it from the fold); earlier days are written to their month and the totals by each
    change, and never folded."""
    return folded_from or FOLD_EPOCH


def next_day(day: str, days: int = 1) -> str:
    return (date.fromisoformat(day) + timedelta(days=days)).isoformat()


def last_foldable_day(now: datetime) -> str:
    return next_day(china_day(now), -FOLD_AFTER_DAYS)


def folded_through(item: Item | None) -> str | None:
    """The last day a month's or the totals' fold shard holds (None: no day folded into it)."""
    value = (item or {}).get("folded_through")
    return str(value) if value else None


class StatsFolder:
    """Folds the days due, oldest first, from the fold day (``fold_start``) or the day after the
    totals' ``folded_through``. A new stack's first run folds every day since ``FOLD_EPOCH`` (no
    figures: 8 shards read and sealed a day, about 3 calls); a stack whose runs stopped catches up
    on the next one, up to a year of days a run."""

    def __init__(self, table: Table, *, stats_folded_from: str,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._table = table
        self._start = fold_start(stats_folded_from)
        self._sleep = sleep

    def fold_due(self, *, now: datetime, max_days: int = 366) -> list[str]:
        """Fold every day due and not folded yet, oldest first, at most ``max_days`` (the rest on the
        next run); returns the days folded by this call."""
        done: list[str] = []
        last = last_foldable_day(now)
        attempt = 0
        # Where the totals stand is read once, and again only after a lost transaction: a fold that
        # commits has itself moved ``folded_through`` to its day.
        previous = folded_through(self._table.get(totals_key(FOLD_SHARD), consistent=True))
        while len(done) < max_days:
            day = next_day(previous) if previous else self._start
            if day > last:
                return done
            try:
                self._fold(day, previous, now)
            except TransactionCancelled as exc:
                # A worker wrote to the day since it was read, or another run folded it: read again.
                attempt += 1
                if attempt == MAX_ATTEMPTS or not set(exc.reasons) - {"None"} <= {
                        "ConditionalCheckFailed", "TransactionConflict"}:
                    raise
                self._sleep(jitter(attempt))
                previous = folded_through(self._table.get(totals_key(FOLD_SHARD), consistent=True))
                continue
            attempt = 0
            previous = day
            done.append(day)
        return done

    def _fold(self, day: str, previous: str | None, now: datetime) -> None:
        shards = {key_id(day_key(day, s)): s for s in range(DAY_SHARDS)}
        found = {shards[key_id(item)]: item for item in
                 self._table.batch_get([day_key(day, s) for s in range(DAY_SHARDS)], consistent=True)}
        month = month_of_day(day)
        writes = [self._seal(day, shard, found.get(shard), now) for shard in range(DAY_SHARDS)]
        month_names = {"entity": "stats_month", "month": month, "shard": FOLD_SHARD}
        writes.append(self._add(month_key(month, FOLD_SHARD), month_names, _sums(found.values(), AGG_FIELDS), day,
                                condition="attribute_not_exists(#t) OR #t < :d"))
        total_names: dict[str, Any] = {"entity": "stats_totals", "shard": FOLD_SHARD}
        writes.append(self._add(totals_key(FOLD_SHARD), total_names, _sums(found.values(), TOTAL_FIELDS), day,
                                condition="attribute_not_exists(#t)" if previous is None else "#t = :p",
                                previous=previous))
        self._table.transact(writes)

    def _seal(self, day: str, shard: int, item: Item | None, now: datetime) -> Write:
        names = {"#f": "folded", "#day": "day", "#shard": "shard"}
        values: dict[str, Any] = {":f": iso(now), ":e": "stats_day", ":day": day, ":s": shard}
        if item is None:  # no change reached this shard: sealed all the same, so that none counts after
            condition = "attribute_not_exists(pk)"
        else:
            names["#w"] = "writes"
            condition = "attribute_not_exists(#f) AND attribute_not_exists(#w)"
            if "writes" in item:  # no worker's write to it since it was read
                condition = "attribute_not_exists(#f) AND #w = :w"
                values[":w"] = item["writes"]
        return Write.update(self._table.name, day_key(day, shard),
                            "SET #f = :f, entity = :e, #day = :day, #shard = :s", condition=condition,
                            names=names, values=values)

    def _add(self, key: dict[str, Any], labels: dict[str, Any], sums: dict[str, int], day: str, *,
             condition: str, previous: str | None = None) -> Write:
        names: dict[str, str] = {"#t": "folded_through"}
        values: dict[str, Any] = {":d": day}
        sets = ["#t = :d"]
        for i, (name, value) in enumerate(sorted(labels.items())):
            names[f"#l{i}"], values[f":l{i}"] = name, value
            sets.append(f"#l{i} = :l{i}")
        adds = []
        for i, (name, value) in enumerate(sorted(sums.items())):
            names[f"#a{i}"], values[f":a{i}"] = name, value
            adds.append(f"#a{i} :a{i}")
        if previous is not None:
            values[":p"] = previous
        update = f"SET {', '.join(sets)}" + (f" ADD {', '.join(adds)}" if adds else "")
        return Write.update(self._table.name, key, update, condition=condition, names=names, values=values)


def _sums(items: Any, fields: tuple[str, ...]) -> dict[str, int]:
    sums: dict[str, int] = {}
    for item in items:
        for name in fields:
            value = item.get(name)
            if isinstance(value, int) and value:
                sums[name] = sums.get(name, 0) + value
    return {name: value for name, value in sums.items() if value}
