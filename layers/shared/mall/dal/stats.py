"""Stats items (docs/data-model.md "insight", docs/dashboard.md): applying one change's deltas once,
and the reads of the dashboard and the leaderboards.

Applying (``StatsRepository.apply``): the deltas of one change (``mall.domain.stats.contributions``)
are written in ONE ``TransactWriteItems`` holding a marker ``STATS_APPLIED#<event_id>`` (put only if
absent, ``expires_at`` 15 days: longer than a message can live in the queue and its DLQ) and the
``ADD`` updates, so a redelivered or concurrently delivered change adds nothing twice. A change
that needs more than 100 writes (an order of 20 lines with products, buyers, promoters, day and
month) is split, deterministically from the deltas alone, into parts of ≤ 99 writes with a marker
each (``PART#<n>``): a part applied before a failure is not applied again.

Leaderboard scores, a customer's first two paid orders and distinct-order markers are read first
(one consistent ``BatchGetItem``) and written conditionally on what was read; a lost race (another
change wrote them meanwhile) or a transaction conflict re-reads and tries again.

Write contention: every change writes its day's aggregate and its month's aggregate, so those are
sharded (``DAY_SHARDS``, the shard chosen by the change's ``event_id``); readers sum the shards.
The items' keys are ``mall.dal.keys.stats``."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from mall.clock import epoch, iso
from mall.dal.keys import (
    DAY_SHARDS,
    PROFILE_SK,
    applied_key,
    board_key,
    board_partition,
    board_sort_key,
    buyer_key,
    change_shard,
    counter_items,
    customer_profile_key,
    day_key,
    distinct_key,
    distinct_scope,
    key_id,
    month_key,
    promoter_key,
    stats_entity_partition,
    totals_key,
)
from mall.dal.retry import jitter
from mall.dal.table import BATCH_GET_LIMIT, Item, Key, Table, TransactionCancelled, Write, serialize
from mall.domain.stats import BoardDelta, BuyerDelta, CounterDelta, Delta, DistinctDelta
from mall.domain.stats_buyers import FirstOrders, buyer_transition

MAX_TRANSACTION_WRITES = 100  # DynamoDB's limit for one TransactWriteItems
APPLIED_TTL = timedelta(days=15)  # the queue keeps a message 14 days; the DLQ as long
MAX_ATTEMPTS = 12
RANK_COUNT_CAP = 1_000  # the caller's rank is counted exactly up to this many promoters above them
_RETRYABLE = frozenset({"ConditionalCheckFailed", "TransactionConflict", "ThrottlingError",
                        "ProvisionedThroughputExceeded"})


# ---- planning the writes of one change ----------------------------------------------------------------

#: Items a BuyerDelta may touch beyond what its keys say: the state item, the totals shard, and the
#: day + month aggregates of up to three days (the new order's and the two it may displace).
_BUYER_WORST_CASE = 8


def _known_keys(delta: Delta, shard: int) -> tuple[set[tuple[str, str]], int]:
    """The items ``delta`` writes at most (keys known before reading) and how many more it may write."""
    if isinstance(delta, CounterDelta):
        return {key_id(k) for k, _ in counter_items(delta.target, shard)}, 0
    if isinstance(delta, BoardDelta):
        return {key_id(board_key(delta.board, delta.period_key, delta.promoter_id))}, 0
    if isinstance(delta, DistinctDelta):
        keys = {key_id(distinct_key(delta.scope, delta.member))}
        for then in delta.then:
            keys |= {key_id(k) for k, _ in counter_items(then.target, shard)}
        return keys, 0
    return {key_id(buyer_key(delta.buyer_id))}, _BUYER_WORST_CASE - 1


def plan_parts(deltas: Sequence[Delta], shard: int, *, limit: int = MAX_TRANSACTION_WRITES - 1) -> list[list[Delta]]:
    """Group the deltas, in their (deterministic) order, into parts of at most ``limit`` writes each
    (worst case), so every delivery of a change splits it the same way."""
    parts: list[list[Delta]] = []
    current: list[Delta] = []
    keys: set[tuple[str, str]] = set()
    extra = 0
    for delta in deltas:
        more, more_extra = _known_keys(delta, shard)
        if current and len(keys | more) + extra + more_extra > limit:
            parts.append(current)
            current, keys, extra = [], set(), 0
        current.append(delta)
        keys |= more
        extra += more_extra
    if current:
        parts.append(current)
    return parts


@dataclass
class _Adds:
    key: Key
    names: dict[str, Any]
    adds: dict[str, int] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)


@dataclass
class ApplyResult:
    """What applying one change did: parts written, parts found already applied (a redelivery)."""

    parts: int = 0
    applied: int = 0
    already_applied: int = 0
    attempts: int = 0
    writes: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"parts": self.parts, "applied": self.applied, "already_applied": self.already_applied,
                "attempts": self.attempts, "writes": self.writes}


class StatsRepository:
    def __init__(self, table: Table, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self._table = table
        self._sleep = sleep

    @property
    def table(self) -> Table:
        return self._table

    # ---- applying ---------------------------------------------------------------------------------

    def apply(self, event_id: str, deltas: Sequence[Delta], *, now: datetime,
              limit: int = MAX_TRANSACTION_WRITES - 1) -> ApplyResult:
        """Apply the deltas of the change ``event_id`` exactly once (see the module docstring)."""
        result = ApplyResult()
        if not deltas:
            return result
        shard = change_shard(event_id)
        parts = plan_parts(deltas, shard, limit=limit)
        result.parts = len(parts)
        for number, part in enumerate(parts):
            self._apply_part(event_id, number, part, shard=shard, now=now, result=result)
        return result

    def _apply_part(self, event_id: str, number: int, deltas: Sequence[Delta], *, shard: int, now: datetime,
                    result: ApplyResult) -> None:
        marker = applied_key(event_id, number)
        for attempt in range(MAX_ATTEMPTS):
            result.attempts += 1
            state = self._read_state(marker, deltas)
            if key_id(marker) in state:
                result.already_applied += 1
                return
            writes = self._writes(deltas, state, shard=shard)
            if not writes:
                result.applied += 1
                return
            marker_item = {**marker, "entity": "stats_applied", "event_id": event_id, "part": number,
                           "applied_at": iso(now), "expires_at": epoch(now + APPLIED_TTL)}
            try:
                self._table.transact([Write.put(self._table.name, marker_item, condition="attribute_not_exists(pk)"),
                                      *writes])
            except TransactionCancelled as exc:
                if exc.reasons and exc.reasons[0] == "ConditionalCheckFailed":
                    result.already_applied += 1  # a concurrent delivery of the same change won
                    return
                if attempt + 1 == MAX_ATTEMPTS or not set(exc.reasons) - {"None"} <= _RETRYABLE:
                    raise
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code")
                if code != "TransactionInProgressException" or attempt + 1 == MAX_ATTEMPTS:
                    raise
            else:
                result.applied += 1
                result.writes += len(writes) + 1
                return
            self._sleep(jitter(attempt))  # the items were read again above: a new decision each round

    def _read_state(self, marker: Key, deltas: Sequence[Delta]) -> dict[tuple[str, str], Item]:
        keys: list[Key] = [marker]
        for delta in deltas:
            if isinstance(delta, BoardDelta):
                keys.append(board_key(delta.board, delta.period_key, delta.promoter_id))
            elif isinstance(delta, BuyerDelta):
                keys.append(buyer_key(delta.buyer_id))
            elif isinstance(delta, DistinctDelta):
                keys.append(distinct_key(delta.scope, delta.member))
        return {key_id(item): item for item in self._table.batch_get(keys, consistent=True)}

    def _writes(self, deltas: Sequence[Delta], state: Mapping[tuple[str, str], Item], *, shard: int) -> list[Write]:
        counters: dict[tuple[str, str], _Adds] = {}

        def add(delta: CounterDelta) -> None:
            for key, names in counter_items(delta.target, shard):
                entry = counters.setdefault(key_id(key), _Adds(key, names))
                for name, value in delta.fields:
                    entry.adds[name] = entry.adds.get(name, 0) + value
                entry.labels.update(dict(delta.labels))

        boards: dict[tuple[str, str], tuple[BoardDelta, int]] = {}
        buyers: dict[str, FirstOrders] = {}
        buyer_seen: dict[str, FirstOrders] = {}
        others: list[Write] = []
        for delta in deltas:
            if isinstance(delta, CounterDelta):
                add(delta)
            elif isinstance(delta, BoardDelta):
                key = key_id(board_key(delta.board, delta.period_key, delta.promoter_id))
                previous = boards.get(key)
                boards[key] = (delta, (previous[1] if previous else 0) + delta.delta_fen)
            elif isinstance(delta, BuyerDelta):
                if delta.buyer_id not in buyers:
                    stored = state.get(key_id(buyer_key(delta.buyer_id)))
                    buyers[delta.buyer_id] = buyer_seen[delta.buyer_id] = _first_orders(stored)
                after, counter_deltas = buyer_transition(buyers[delta.buyer_id], delta.paid_at, delta.order_id)
                buyers[delta.buyer_id] = after
                for counter in counter_deltas:
                    add(counter)
            elif key_id(distinct_key(delta.scope, delta.member)) not in state:
                others.append(Write.put(self._table.name, {
                    **distinct_key(delta.scope, delta.member), "entity": "stats_seen",
                    "scope": distinct_scope(delta.scope)}, condition="attribute_not_exists(pk)"))
                for counter in delta.then:
                    add(counter)

        writes = [self._counter_write(entry) for _, entry in sorted(counters.items()) if any(entry.adds.values())]
        for key, (delta, value) in sorted(boards.items()):
            if value:
                writes.append(self._board_write(delta, value, state.get(key)))
        for uid in sorted(buyers):
            if buyers[uid] != buyer_seen[uid]:
                writes.append(self._buyer_write(uid, buyers[uid], state.get(key_id(buyer_key(uid)))))
        return writes + others

    def _counter_write(self, entry: _Adds) -> Write:
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        sets: list[str] = []
        for i, (name, value) in enumerate(sorted({**entry.names, **entry.labels}.items())):
            names[f"#s{i}"], values[f":s{i}"] = name, value
            sets.append(f"#s{i} = :s{i}")
        adds: list[str] = []
        for i, (name, value) in enumerate(sorted(entry.adds.items())):
            if value:
                names[f"#a{i}"], values[f":a{i}"] = name, value
                adds.append(f"#a{i} :a{i}")
        return Write.update(self._table.name, entry.key, f"SET {', '.join(sets)} ADD {', '.join(adds)}",
                            names=names, values=values)

    def _board_write(self, delta: BoardDelta, change: int, stored: Item | None) -> Write:
        old = int(stored.get("score_fen", 0)) if stored else 0
        new = old + change
        key = board_key(delta.board, delta.period_key, delta.promoter_id)
        values: dict[str, Any] = {":e": "leaderboard_entry", ":b": delta.board, ":p": delta.period_key,
                                  ":u": delta.promoter_id, ":new": new}
        update = "SET entity = :e, board = :b, period_key = :p, promoter_id = :u, score_fen = :new"
        if new > 0:  # the index holds only positive scores (sparse): nobody is ranked on nothing
            values.update({":g1pk": board_partition(delta.board, delta.period_key),
                           ":g1sk": board_sort_key(new, delta.promoter_id)})
            update += ", gsi1pk = :g1pk, gsi1sk = :g1sk"
        else:
            update += " REMOVE gsi1pk, gsi1sk"
        if stored is None:
            condition = "attribute_not_exists(pk)"
        else:
            condition = "score_fen = :old"
            values[":old"] = old
        return Write.update(self._table.name, key, update, condition=condition, values=values)

    def _buyer_write(self, uid: str, first: FirstOrders, stored: Item | None) -> Write:
        version = int(stored.get("version", 0)) if stored else 0
        item = {**buyer_key(uid), "entity": "stats_buyer", "user_id": uid, "version": version + 1,
                "first_orders": [{"paid_at": at, "order_id": oid} for at, oid in first]}
        if stored is None:
            return Write.put(self._table.name, item, condition="attribute_not_exists(pk)")
        return Write.put(self._table.name, item, condition="version = :v", values={":v": version})

    # ---- reads: dashboard -------------------------------------------------------------------------

    def aggregates(self, *, days: Sequence[str], months: Sequence[str]) -> list[Item]:
        keys = [day_key(d, s) for d in days for s in range(DAY_SHARDS)]
        keys += [month_key(m, s) for m in months for s in range(DAY_SHARDS)]
        return self._table.batch_get(keys) if keys else []

    def aggregates_by_period(self, *, days: Sequence[str], months: Sequence[str]) -> dict[str, list[Item]]:
        """The aggregate shards of each day and month asked for, keyed by that period (``YYYY-MM-DD``
        or ``YYYY-MM``; a period without items maps to ``[]``). The ``BatchGetItem`` calls (100 keys
        each: 12 periods of 8 shards) run at once, so a range of days takes one call's time."""
        wanted: dict[tuple[str, str], str] = {}
        for day in days:
            wanted.update({key_id(day_key(day, s)): day for s in range(DAY_SHARDS)})
        for month in months:
            wanted.update({key_id(month_key(month, s)): month for s in range(DAY_SHARDS)})
        keys: list[Key] = [{"pk": pk, "sk": sk} for pk, sk in wanted]
        chunks = [keys[i:i + BATCH_GET_LIMIT] for i in range(0, len(keys), BATCH_GET_LIMIT)]
        with ThreadPoolExecutor(max_workers=max(1, min(len(chunks), 8))) as pool:
            found = [item for items in pool.map(self._table.batch_get, chunks) for item in items]
        by_period: dict[str, list[Item]] = {period: [] for period in [*days, *months]}
        for item in found:
            by_period[wanted[key_id(item)]].append(item)
        return by_period

    def totals(self) -> list[Item]:
        return self._table.batch_get([totals_key(s) for s in range(DAY_SHARDS)])

    def entity_items(self, kind: str, *, days: Sequence[str], months: Sequence[str]) -> list[Item]:
        """Every per-day / per-month item of ``kind`` (product, promoter, buyer) in those periods: one
        Query per period partition (all pages), run a few at a time."""
        partitions = [stats_entity_partition(kind, "DAY", d) for d in days]
        partitions += [stats_entity_partition(kind, "MONTH", m) for m in months]
        with ThreadPoolExecutor(max_workers=8) as pool:
            pages = list(pool.map(self._whole_partition, partitions))
        return [item for page in pages for item in page]

    def _whole_partition(self, partition: str) -> list[Item]:
        items: list[Item] = []
        start: Key | None = None
        while True:
            page = self._table.query_where("#pk = :pk", names={"#pk": "pk"}, values={":pk": partition}, limit=None,
                                           start_key=start)
            items.extend(page.items)
            start = page.last_key
            if start is None:
                return items

    def nicknames(self, user_ids: Iterable[str]) -> dict[str, str | None]:
        """Nicknames of promoters (their promoter item, else their customer profile)."""
        wanted = list(dict.fromkeys(user_ids))
        if not wanted:
            return {}
        keys = [key for uid in wanted for key in (promoter_key(uid),
                                                  customer_profile_key(uid))]
        found: dict[str, dict[str, Any]] = {}
        for item in self._table.batch_get(keys):
            found.setdefault(str(item["pk"]).removeprefix("USER#"), {})[str(item["sk"])] = item.get("nickname")
        return {uid: (found.get(uid, {}).get("PROMOTER") or found.get(uid, {}).get(PROFILE_SK)) for uid in wanted}

    # ---- reads: leaderboards ----------------------------------------------------------------------

    def board_top(self, board: str, period_key: str, *, limit: int = 100) -> list[Item]:
        """The ``limit`` highest positive scores, highest first: one Query of the index."""
        page = self._table.query_where("#pk = :pk", names={"#pk": "gsi1pk"},
                                       values={":pk": board_partition(board, period_key)}, index="gsi1",
                                       limit=limit, newest_first=True)
        return page.items

    def board_entry(self, board: str, period_key: str, uid: str) -> Item | None:
        return self._table.get(board_key(board, period_key, uid))

    def count_above(self, board: str, period_key: str, score: int, *, cap: int = RANK_COUNT_CAP) -> tuple[int, bool]:
        """How many promoters score strictly more than ``score`` (``Select=COUNT`` on the index, from
        ``score + 1`` up), counted exactly up to ``cap``; ``(cap, True)`` when there are more: the
        work (and read cost) of one rank is bounded by ``cap`` index entries (~150 bytes each)."""
        counted = 0
        start: dict[str, Any] | None = None
        while True:
            body: dict[str, Any] = {
                "TableName": self._table.name, "IndexName": "gsi1", "Select": "COUNT",
                "KeyConditionExpression": "#pk = :pk AND #sk >= :low",
                "ExpressionAttributeNames": {"#pk": "gsi1pk", "#sk": "gsi1sk"},
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


def _first_orders(stored: Item | None) -> FirstOrders:
    if not stored:
        return ()
    pairs = [(str(e["paid_at"]), str(e["order_id"])) for e in stored.get("first_orders") or []
             if isinstance(e, Mapping) and e.get("paid_at") and e.get("order_id")]
    return tuple(sorted(pairs))[:2]
