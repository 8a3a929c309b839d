"""Planning how the stats worker applies changes (``mall.dal.stats_apply``): the parts of one change
(what one marker stands for) and the grouping of parts into transactions of at most 100 items.

Both bound the items a delta may write before anything is read. ``plan_parts``'s bound numbers the
parts of a change, so it must never change while messages are in flight; the grouping may be
anything that fits a transaction (each part is marked in the transaction that applies it)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from mall.dal.keys import (
    applied_key,
    board_key,
    buyer_key,
    change_shard,
    counter_items,
    distinct_key,
    key_id,
    stats_entities_partition,
    stats_entity_sort_key,
)
from mall.dal.table import Key
from mall.domain.stats import BoardDelta, BuyerDelta, CounterDelta, Delta, DistinctDelta, Target
from mall.domain.stats_periods import day_of, month_of_day

MAX_TRANSACTION_WRITES = 100  # DynamoDB's limit for one TransactWriteItems


# ---- planning: parts of a change, and transactions of parts -------------------------------------------

#: Items a BuyerDelta may touch beyond what its keys say: the state item, the totals shard, and the
#: day + month aggregates of up to three days (the new order's and the two it may displace).
_BUYER_WORST_CASE = 8


def _counted_items(target: Target, shard: int, *, as_planned: bool) -> set[tuple[str, str]]:
    """The items a counter of ``target`` writes. ``as_planned``: as ``plan_parts`` has always counted
    them, a product's, promoter's or buyer's month item included (written until months were summed
    from days): a change in flight must split into the same parts after the deploy as before it."""
    keys = {key_id(k) for k, _ in counter_items(target, shard)}
    if as_planned and target.kind in ("product", "promoter", "buyer"):
        month = month_of_day(target.period)
        keys.add((stats_entities_partition("MONTH", month), stats_entity_sort_key(target.kind, month, target.subject)))
    return keys


def _known_keys(delta: Delta, shard: int, *, as_planned: bool = True) -> tuple[set[tuple[str, str]], int]:
    """The items ``delta`` writes at most (keys known before reading) and how many more it may write."""
    if isinstance(delta, CounterDelta):
        return _counted_items(delta.target, shard, as_planned=as_planned), 0
    if isinstance(delta, BoardDelta):
        return {key_id(board_key(delta.board, delta.period_key, delta.promoter_id))}, 0
    if isinstance(delta, DistinctDelta):
        keys = {key_id(distinct_key(delta.scope, delta.member))}
        for then in delta.then:
            keys |= _counted_items(then.target, shard, as_planned=as_planned)
        return keys, 0
    return {key_id(buyer_key(delta.buyer_id))}, _BUYER_WORST_CASE - 1


def plan_parts(deltas: Sequence[Delta], shard: int, *, limit: int = MAX_TRANSACTION_WRITES - 1) -> list[list[Delta]]:
    """Group the deltas, in their (deterministic) order, into parts of at most ``limit`` writes each
    (worst case), so every delivery of a change splits it the same way. (The limit is a constant:
    changing it while messages are in flight could apply later parts of a change again.)"""
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


def worst_items(deltas: Sequence[Delta], shard: int) -> int:
    """The items ``deltas`` may write at most, counted as ``plan_parts`` counts a part."""
    keys: set[tuple[str, str]] = set()
    extra = 0
    for delta in deltas:
        more, more_extra = _known_keys(delta, shard)
        keys |= more
        extra += more_extra
    return len(keys) + extra


@dataclass(frozen=True)
class Part:
    """Part ``number`` of the change ``event_id``: what one marker stands for."""

    event_id: str
    number: int
    deltas: tuple[Delta, ...]
    group: str | None = None  # the partition whose one marker item may list this part (``applied_group``)

    @property
    def marker(self) -> Key:
        return applied_key(self.event_id, self.number)

    @property
    def token(self) -> str:
        """How this part is named in its group's marker item."""
        return f"{self.event_id}#{self.number}"


def split_changes(changes: Sequence[tuple[str, Sequence[Delta]]], *, limit: int = MAX_TRANSACTION_WRITES - 1,
                  groups: Mapping[str, str] | None = None) -> tuple[list[Part], int]:
    """Every change's parts, in order; a change with no deltas has none. Returns the parts and how
    many changes were left out as repeats of an ``event_id`` already in ``changes`` (a queue may
    deliver one message twice in a batch). ``groups``: the marker group of a change, by ``event_id``."""
    parts: list[Part] = []
    seen: set[str] = set()
    repeats = 0
    for event_id, deltas in changes:
        if event_id in seen:
            repeats += 1
            continue
        seen.add(event_id)
        planned = plan_parts(deltas, change_shard(event_id), limit=limit) if deltas else []
        group = (groups or {}).get(event_id)
        # A part that may fill a transaction alone is always marked alone, whatever the code's mode:
        # beside its own marker and its writes there is no room for its group's (``stats_apply``).
        parts += [Part(event_id, number, tuple(part),
                       group if worst_items(part, change_shard(event_id)) < limit else None)
                  for number, part in enumerate(planned)]
    return parts, repeats


#: Items a customer's first paid orders may touch beyond the days of the orders a group brings: the
#: day and month aggregates of the two orders stored as the customer's first (read, not known before).
_BUYER_STORED_DAYS_WORST_CASE = 4


def _group_keys(part: Part, shard: int) -> tuple[set[tuple[str, str]], set[str]]:
    """The items ``part`` writes at most within a transaction, and the customers whose first paid
    orders it moves. Unlike ``plan_parts`` (whose bound must never change: it numbers the parts), a
    customer's orders are bounded per customer, not per order: all of a group's orders of one customer
    touch the customer's item, the totals, the days of those orders and at most the two stored days."""
    keys: set[tuple[str, str]] = set()
    buyers: set[str] = set()
    for delta in part.deltas:
        if isinstance(delta, BuyerDelta):
            buyers.add(delta.buyer_id)
            keys.add(key_id(buyer_key(delta.buyer_id)))
            day = day_of(delta.paid_at)
            for target in (Target("totals"), *([Target("agg", day)] if day else [])):
                keys |= {key_id(k) for k, _ in counter_items(target, shard)}
        else:
            found, _ = _known_keys(delta, shard, as_planned=False)
            keys |= found
    return keys, buyers


def group_parts(parts: Sequence[Part], *, limit: int = MAX_TRANSACTION_WRITES) -> list[list[Part]]:
    """Consecutive parts grouped into transactions of at most ``limit`` items in the worst case: a
    marker per part plus every item the group's deltas may write (an item written by several parts
    counts once: it is written once). Any grouping is correct (each part is marked in the
    transaction that applies it); this one merges as much as one transaction holds."""
    groups: list[list[Part]] = []
    current: list[Part] = []
    keys: set[tuple[str, str]] = set()
    buyers: set[str] = set()
    for part in parts:
        more, more_buyers = _group_keys(part, change_shard((current or [part])[0].event_id))
        worst = len(keys | more) + _BUYER_STORED_DAYS_WORST_CASE * len(buyers | more_buyers)
        if current and len(current) + 1 + worst > limit:
            groups.append(current)
            current, keys, buyers = [], set(), set()
            more, more_buyers = _group_keys(part, change_shard(part.event_id))
        current.append(part)
        keys |= more
        buyers |= more_buyers
    if current:
        groups.append(current)
    return groups
