"""Applying stats deltas exactly once, merged: one write per item for all the changes a worker
invocation received (docs/dashboard.md, "How the figures are kept up to date").

**What is applied once.** A *part* of one change: the deltas of the change ``event_id`` are
split, deterministically from the deltas alone, into parts of ≤ 99 writes (worst case:
``plan_parts``), each with its marker item ``STATS_APPLIED#<event_id>`` / ``PART#<n>``
(``expires_at`` 15 days: longer than a message lives in the queue and its DLQ). Almost every
change is one part. The parts of an order's changes (the order and its commission records:
``mall.dal.changes.marker_group``) are instead listed in one item per order,
``STATS_APPLIED#ORDER#<id>`` / ``CHANGES`` (``applied`` string set, up to ``GROUP_MARKER_ROOM``):
one write per transaction for all its parts there, conditional on none of them being listed yet and
on the room. A part is applied when either marker names it; one that finds its group full is marked
alone, and since a group item only grows, every later delivery of it finds it full too (a stale read
that shows room fails on the room condition and is read again).

**Merged.** The parts of every change of an invocation are grouped into transactions of ≤ 100
items (``group_parts``): the group's markers, each put only if absent, and ONE write per item the
group touches — the ADDs of all its parts to an aggregate summed, a leaderboard score or a
customer's first paid orders computed from the state read through all of them. So:

- a part whose marker is found by the read made before the write (a redelivery alone, in the same
  batch or in a batch that overlaps an earlier one however SQS regrouped the messages) is left out
  before anything is merged;
- a delivery of the same change committing meanwhile makes the transaction fail on its marker
  (a score or first-orders write fails on its condition likewise): read again, leave out what is
  now marked, merge again, retry;
- a transaction writes all the deltas of its parts or none, so a failure between two transactions
  of one invocation leaves whole parts applied and marked, and the redelivery applies only the rest.

The day / month / totals aggregates are sharded; a transaction adds to ONE shard, chosen by its
first part's ``event_id``, so each aggregate is written once per transaction. Readers sum every
shard, so where a part is counted does not matter, only that it is counted once.

**Folded days.** From the fold day on, a day's aggregate counters go to its day shard alone, conditional
on the day not being folded, or (a late change) to the day, its month and the totals, conditional on it
being folded: a failed condition switches the day and the transaction is tried again
(``mall.dal.stats_counters``, ``mall.dal.stats_fold``).

**Team orders.** A settled record's order is counted once per beneficiary and month (a
``DistinctDelta``) by listing ``<month>#<uid>`` in the same order item's ``seen`` string set, in the
one write of that item the transaction makes anyway; an item that lists one is kept without expiry.
The ``STATS_SEEN#`` items of the code before are read (and, while both codes may run, put too) only
with ``seen_items_read``: the migration ``stats_seen_marks_folded`` lists each of them in its order's
item, after which that item alone says whether an order was counted.

Leaderboard scores, a customer's first two paid orders and distinct-order markers are read first
(one ``BatchGetItem`` with the markers) and written conditionally on what was read. The first read
is eventually consistent (half the units): every write of the transaction is conditional on what
was read (markers and distinct members absent, a score or first orders as read) or only happens
with those, so a stale read can only lose the transaction, never add twice; every read after a
lost transaction is strongly consistent.
The items' keys are ``mall.dal.keys.stats``."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from mall.clock import epoch, iso
from mall.dal.keys import (
    applied_group_key,
    board_entry_board,
    board_key,
    buyer_key,
    change_shard,
    distinct_group,
    distinct_key,
    distinct_scope,
    distinct_token,
    key_id,
)
from mall.dal.retry import jitter
from mall.dal.stats_boards import board_write
from mall.dal.stats_counters import DAY, LATE, CounterAdds, CounterItems, DayMode, counter_write
from mall.dal.stats_plan import MAX_TRANSACTION_WRITES, Part, group_parts, split_changes
from mall.dal.table import ConditionFailed, Item, Key, Table, TransactionCancelled, Write
from mall.domain.stats import BoardDelta, BuyerDelta, CounterDelta, Delta, DistinctDelta
from mall.domain.stats_buyers import FirstOrders, buyer_transition

APPLIED_TTL = timedelta(days=15)  # the queue keeps a message 14 days; the DLQ as long
#: Parts one group marker item lists at most: 20 stream event ids (32 characters) keep it under 1 KB,
#: one write unit. An order's changes that move figures are far fewer; past it, parts are marked alone.
GROUP_MARKER_ROOM = 20
MAX_ATTEMPTS = 12
_RETRYABLE = frozenset({"ConditionalCheckFailed", "TransactionConflict", "ThrottlingError",
                        "ProvisionedThroughputExceeded"})
_ABSENT = "attribute_not_exists(pk)"


@dataclass
class ApplyResult:
    """What applying changes did: parts written, parts found already applied (a redelivery),
    transactions committed, items written (markers included)."""

    parts: int = 0
    applied: int = 0
    already_applied: int = 0
    attempts: int = 0
    writes: int = 0
    transactions: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


# ---- applying -----------------------------------------------------------------------------------------


class StatsApplier:
    """Writes the parts of changes once each, merged per transaction (see the module docstring)."""

    def __init__(self, table: Table, *, sleep: Callable[[float], None] = time.sleep,
                 part_markers_too: bool = False, seen_marks_too: bool = False, sales_folded_from: str = "",
                 part_markers_read: bool = True, seen_items_read: bool = False,
                 stats_folded_from: str | None = None) -> None:
        self._table = table
        self._counters = CounterItems(stats_folded_from)  # the fold day (``mall.dal.stats_counters``)
        # A part of an order's changes has a marker of its own only when the code before group
        # markers applied it (gone with its 15-day expiry, which outlives any delivery of it) or its
        # group item was full, so that marker is read for every part only while such markers of the
        # code before may still be delivered again; otherwise only when the group item read is full.
        self._part_markers_read = part_markers_read or part_markers_too
        self._sales_folded_from = sales_folded_from  # ``mall.dal.stats_boards``
        self._sleep = sleep
        # While a worker of the code before group markers may still run (the first deploy of them),
        # every part also gets its own marker: both codes' writes then conflict on a marker they share.
        self._part_markers_too = part_markers_too
        # Likewise while a worker that counts a team's order only by its own ``STATS_SEEN#`` item may
        # still run: that item is put too, so both codes conflict on it.
        self._seen_marks_too = seen_marks_too
        # A team's order counted by the code before the order's item listed it has only its own
        # ``STATS_SEEN#`` item until the migration ``stats_seen_marks_folded`` lists it there: those
        # items are read until then, and while the code before may run (it puts them alone).
        self._seen_items_read = seen_items_read or seen_marks_too

    def apply(self, changes: Sequence[tuple[str, Sequence[Delta]]], *, now: datetime,
              limit: int = MAX_TRANSACTION_WRITES - 1, groups: Mapping[str, str] | None = None) -> ApplyResult:
        """Apply the deltas of every ``(event_id, deltas)`` exactly once per part. ``groups``: the
        marker group (``applied_group``) of a change, by ``event_id``; a change without one is marked
        per part."""
        parts, repeats = split_changes(changes, limit=limit, groups=groups)
        result = ApplyResult(parts=len(parts), already_applied=repeats)
        # Marking parts twice (the first deploy) takes up to two markers per part: transactions of
        # half the bound hold them (a part alone still fits: grouped parts leave room for both).
        twice = self._part_markers_too or self._seen_marks_too
        for group in group_parts(parts, limit=(limit + 1) // 2 if twice else limit + 1):
            self._apply_group(group, now=now, result=result)
        return result

    def _apply_group(self, group: Sequence[Part], *, now: datetime, result: ApplyResult) -> None:
        pending = list(group)
        modes: dict[str, DayMode] = {}  # a day's mode, once a condition said the guess was wrong
        for attempt in range(MAX_ATTEMPTS):
            result.attempts += 1
            state = self._read_state(pending, consistent=attempt > 0)
            done = [p for p in pending if _applied(p, state)]
            result.already_applied += len(done)
            pending = [p for p in pending if not _applied(p, state)]
            if not pending:
                return
            # The markers go in even when the merged deltas cancel out (one part's +5 and another's
            # −5 on one score): a later delivery of one of them alone must still find it applied.
            writes, seen, days = self._writes([d for p in pending for d in p.deltas], state,
                                              shard=change_shard(pending[0].event_id), now=now, modes=modes)
            markers = self._markers(pending, state, now, seen)
            try:
                if writes or len(markers) > 1:
                    self._table.transact(markers + writes)
                else:  # one marker alone: a conditional write, no transaction
                    self._table.write_one(markers[0])
            except TransactionCancelled as exc:
                if attempt + 1 == MAX_ATTEMPTS or not set(exc.reasons) - {"None"} <= _RETRYABLE:
                    raise
                switched = {days[i - len(markers)] for i in exc.conditional_failures if i - len(markers) in days}
                for day in switched:  # the fold took the day meanwhile, or had not taken it yet
                    modes[day] = LATE if modes.get(day, self._counters.guess(day, now)) == DAY else DAY
                if switched or any(r == "ConditionalCheckFailed" for r in exc.reasons[:len(markers)]):
                    continue  # a concurrent delivery marked some part: read again, without waiting
            except ConditionFailed:
                continue  # a lone marker: the part was applied meanwhile (found by the next read)
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code")
                if code != "TransactionInProgressException" or attempt + 1 == MAX_ATTEMPTS:
                    raise
            else:
                result.applied += len(pending)
                result.writes += len(markers) + len(writes)
                result.transactions += 1
                return
            self._sleep(jitter(attempt))  # the items are read again: a new decision each round

    def _markers(self, parts: Sequence[Part], state: Mapping[tuple[str, str], Item], now: datetime,
                 seen: Mapping[str, set[str]]) -> list[Write]:
        """The marker writes of ``parts``: one update per group item with room, listing its parts
        (conditional on none of them listed yet and on the room), and a put per other part (only if
        absent). A group item only grows, so a part that finds it full is marked alone by every
        delivery; one that found room on a stale read fails on the room and is read again. ``seen``:
        the distinct members counted now, by group item; they go in the same one write of that item."""
        grouped: dict[str, list[Part]] = {}
        alone: list[Part] = []
        for part in parts:
            if part.group is not None:
                listed = len(_tokens(state.get(key_id(applied_group_key(part.group)))))
                if listed + len(grouped.get(part.group, [])) < GROUP_MARKER_ROOM:
                    grouped.setdefault(part.group, []).append(part)
                    if not self._part_markers_too:
                        continue
            alone.append(part)
        writes = [self._group_marker(group, grouped.get(group, []), seen.get(group, set()), now,
                                     state.get(key_id(applied_group_key(group))))
                  for group in sorted(set(grouped) | set(seen))]
        return writes + [Write.put(self._table.name, self._marker(part, now), condition=_ABSENT) for part in alone]

    def _group_marker(self, group: str, parts: Sequence[Part], seen: set[str], now: datetime,
                      stored: Item | None) -> Write:
        """One update of the group item: ADD the parts to ``applied`` and the counted scopes to
        ``seen``, each conditional on not being listed yet. An item listing a counted member is kept
        for good (no ``expires_at``): it is what keeps that member counted once, however late another
        record of the order settles. Otherwise the markers expire, and setting the expiry is
        conditional on no member being listed (a stale read cannot give a kept item an expiry)."""
        values: dict[str, Any] = {":e": "stats_applied", ":at": iso(now)}
        names: dict[str, str] = {}
        adds: list[str] = []
        conditions: list[str] = []
        if parts:
            names["#a"] = "applied"
            values.update({":t": {p.token for p in parts}, ":room": GROUP_MARKER_ROOM - len(parts)})
            adds.append("#a :t")
            conditions.append("(attribute_not_exists(#a) OR size(#a) <= :room)")
            for i, part in enumerate(parts):
                values[f":t{i}"] = part.token
                conditions.append(f"NOT contains(#a, :t{i})")
        names["#s"] = "seen"
        update = "SET entity = :e, applied_at = :at"
        if seen:
            values[":s"] = set(seen)
            adds.append("#s :s")
            for i, token in enumerate(sorted(seen)):
                values[f":s{i}"] = token
                conditions.append(f"NOT contains(#s, :s{i})")
        elif not _tokens(stored, "seen"):
            values[":x"] = epoch(now + APPLIED_TTL)
            update += ", expires_at = :x"
            conditions.append("attribute_not_exists(#s)")
        else:
            del names["#s"]
        update += f" ADD {', '.join(adds)}"
        if seen:
            update += " REMOVE expires_at"
        return Write.update(self._table.name, applied_group_key(group), update,
                            condition=" AND ".join(conditions), names=names, values=values)

    def _marker(self, part: Part, now: datetime) -> Item:
        return {**part.marker, "entity": "stats_applied", "event_id": part.event_id, "part": part.number,
                "applied_at": iso(now), "expires_at": epoch(now + APPLIED_TTL)}

    def _read_state(self, parts: Sequence[Part], *, consistent: bool) -> dict[tuple[str, str], Item]:
        keys: list[Key] = [part.marker for part in parts if part.group is None or self._part_markers_read]
        keys += [applied_group_key(part.group) for part in parts if part.group is not None]
        for delta in (d for part in parts for d in part.deltas):
            if isinstance(delta, BoardDelta):
                entry = board_entry_board(delta.board, delta.period_key, self._sales_folded_from)
                keys.append(board_key(entry, delta.period_key, delta.promoter_id))
            elif isinstance(delta, BuyerDelta):
                keys.append(buyer_key(delta.buyer_id))
            elif isinstance(delta, DistinctDelta):
                group = distinct_group(delta.scope, delta.member)
                if group is None or self._seen_items_read:
                    keys.append(distinct_key(delta.scope, delta.member))  # counted by the code before
                if group is not None:
                    keys.append(applied_group_key(group))
        state = {key_id(item): item for item in self._table.batch_get(keys, consistent=consistent)}
        # A part is marked alone only by a transaction that filled its group item (which then never
        # shrinks): its own marker is read when the group item read is full. A stale read that shows
        # room makes the group write fail on its room condition, and the next read is consistent.
        alone = [part.marker for part in parts if part.group is not None and not self._part_markers_read
                 and len(_tokens(state.get(key_id(applied_group_key(part.group))))) >= GROUP_MARKER_ROOM
                 and not _applied(part, state)]
        if alone:
            state.update({key_id(item): item for item in self._table.batch_get(alone, consistent=consistent)})
        return state

    def _writes(self, deltas: Sequence[Delta], state: Mapping[tuple[str, str], Item], *, shard: int,
                now: datetime, modes: Mapping[str, DayMode]
                ) -> tuple[list[Write], dict[str, set[str]], dict[int, str]]:
        """ONE write per item for all ``deltas``: counters summed, scores and first orders computed
        through every delta from the state read, a distinct member counted once. Also returns the
        members counted now that their group item lists (``distinct_group``), by group: that item is
        written with the markers (``_markers``), once; and the day of each conditional day-shard
        write, by its place among the writes."""
        counters: dict[tuple[str, str], CounterAdds] = {}

        def add(delta: CounterDelta) -> None:
            for item in self._counters.of(delta.target, shard, now, modes):
                entry = counters.setdefault(key_id(item.key), item)
                for name, value in delta.fields:
                    entry.adds[name] = entry.adds.get(name, 0) + value
                entry.labels.update(dict(delta.labels))

        distinct: dict[tuple[str, str], Write] = {}
        seen: dict[str, set[str]] = {}

        def count_once(delta: DistinctDelta) -> None:
            key = key_id(distinct_key(delta.scope, delta.member))
            group, token = distinct_group(delta.scope, delta.member), distinct_token(delta.scope)
            listed = group is not None and (token in _tokens(state.get(key_id(applied_group_key(group))), "seen")
                                            or token in seen.get(group, set()))
            if key in state or key in distinct or listed:
                return  # counted before, or by an earlier change of this transaction
            if group is not None:
                seen.setdefault(group, set()).add(token)
            if group is None or self._seen_marks_too:
                distinct[key] = Write.put(self._table.name, {
                    **distinct_key(delta.scope, delta.member), "entity": "stats_seen",
                    "scope": distinct_scope(delta.scope)}, condition=_ABSENT)
            for counter in delta.then:
                add(counter)

        boards: dict[tuple[str, str], tuple[BoardDelta, str, dict[str, int]]] = {}  # by entry: each board's change
        buyers: dict[str, FirstOrders] = {}
        buyer_seen: dict[str, FirstOrders] = {}
        for delta in deltas:
            if isinstance(delta, CounterDelta):
                add(delta)
            elif isinstance(delta, BoardDelta):
                entry = board_entry_board(delta.board, delta.period_key, self._sales_folded_from)
                moves = boards.setdefault(key_id(board_key(entry, delta.period_key, delta.promoter_id)),
                                          (delta, entry, {}))[2]
                moves[delta.board] = moves.get(delta.board, 0) + delta.delta_fen
            elif isinstance(delta, BuyerDelta):
                if delta.buyer_id not in buyers:
                    stored = state.get(key_id(buyer_key(delta.buyer_id)))
                    buyers[delta.buyer_id] = buyer_seen[delta.buyer_id] = _first_orders(stored)
                after, counter_deltas = buyer_transition(buyers[delta.buyer_id], delta.paid_at, delta.order_id)
                buyers[delta.buyer_id] = after
                for counter in counter_deltas:
                    add(counter)
            else:
                count_once(delta)

        written = [entry for _, entry in sorted(counters.items()) if any(entry.adds.values())]
        writes = [counter_write(self._table.name, entry) for entry in written]
        days = {i: entry.day for i, entry in enumerate(written) if entry.mode is not None}
        for key, (delta, entry, moves) in sorted(boards.items()):
            if moved := {board: value for board, value in moves.items() if value}:
                writes.append(board_write(self._table.name, entry, delta.period_key, delta.promoter_id,
                                          changes=moved, stored=state.get(key)))
        for uid in sorted(buyers):
            if buyers[uid] != buyer_seen[uid]:
                writes.append(self._buyer_write(uid, buyers[uid], state.get(key_id(buyer_key(uid)))))
        return writes + [distinct[key] for key in sorted(distinct)], seen, days

    def _buyer_write(self, uid: str, first: FirstOrders, stored: Item | None) -> Write:
        version = int(stored.get("version", 0)) if stored else 0
        item = {**buyer_key(uid), "entity": "stats_buyer", "user_id": uid, "version": version + 1,
                "first_orders": [{"paid_at": at, "order_id": oid} for at, oid in first]}
        if stored is None:
            return Write.put(self._table.name, item, condition="attribute_not_exists(pk)")
        return Write.put(self._table.name, item, condition="version = :v", values={":v": version})


def _tokens(stored: Item | None, name: str = "applied") -> set[str]:
    listed = (stored or {}).get(name)
    return {str(t) for t in listed} if isinstance(listed, (set, frozenset, list)) else set()


def _applied(part: Part, state: Mapping[tuple[str, str], Item]) -> bool:
    """Marked alone (``applied_key``: the code before group markers, or a full group), or listed in its group."""
    if key_id(part.marker) in state:
        return True
    return part.group is not None and part.token in _tokens(state.get(key_id(applied_group_key(part.group))))


def _first_orders(stored: Item | None) -> FirstOrders:
    if not stored:
        return ()
    pairs = [(str(e["paid_at"]), str(e["order_id"])) for e in stored.get("first_orders") or []
             if isinstance(e, Mapping) and e.get("paid_at") and e.get("order_id")]
    return tuple(sorted(pairs))[:2]
