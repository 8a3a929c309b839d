"""Time-ranged, newest-first reads of records that already exist, for ``GET /promoter/history``
(docs/audit.md): nothing here writes, and no new copy of any record is kept.

- binding: the promoter's own binding history ``USER#<uid>/BINDING_HISTORY#<at>#<id>``, plus the
  history entries of their team's bindings, found through gsi1 (``TEAM_BINDINGS#<uid>``: a member
  joined) and gsi2 (same partition name: a member left) — ``mall.dal.referral.team_history_index``.
- commission: gsi1 ``COMMISSIONS#<uid>[#<shard>]`` / ``<created_at>#<commission_id>``, a stream per
  index shard (each record carries its status changes in ``history``).
- withdrawal: gsi2 ``PROMOTER_WITHDRAWALS#<uid>`` / ``<created_at>#<withdrawal_id>`` (with ``timeline``).

A ``Stream`` is one partition and one sort-key range; ``merged_page`` reads several streams newest
first and merges them into one page, remembering each stream's position."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mall.clock import iso
from mall.dal.keys import (
    BINDING_HISTORY_PREFIX,
    beneficiary_partitions,
    team_bindings_partition,
    user_partition,
    withdrawal_promoter_partition,
)
from mall.dal.table import Item, Key, Table

#: Sort keys are ISO seconds then "#<id>"; "~" sorts after every id character, so ``end``'s second is in.
_AFTER = "~"


@dataclass(frozen=True, slots=True)
class Stream:
    """One partition of the table or an index, read newest first within ``[low, high]``."""

    name: str  # a label kept in cursors ("own", "joined", "left", ...)
    partition: str
    pk_attr: str = "pk"
    sk_attr: str = "sk"
    index: str | None = None
    low: str | None = None
    high: str | None = None

    def start_key(self, item: Item) -> Key:
        """The exclusive start key that resumes this stream right after ``item``."""
        names = {"pk", "sk", self.pk_attr, self.sk_attr}
        return {name: item[name] for name in names}

    def sort_value(self, item: Item) -> str:
        return str(item[self.sk_attr])


@dataclass
class StreamState:
    start: Key | None = None
    done: bool = False


def _range(prefix: str, start: datetime | None, end: datetime | None) -> tuple[str | None, str | None]:
    low = f"{prefix}{iso(start)}" if start is not None else None
    high = f"{prefix}{iso(end)}{_AFTER}" if end is not None else None
    if low is None and high is not None:
        low = prefix
    if high is None and low is not None:
        high = f"{prefix}{_AFTER}"
    return low, high


def binding_streams(user_id: str, start: datetime | None, end: datetime | None) -> list[Stream]:
    low, high = _range(BINDING_HISTORY_PREFIX, start, end)
    low, high = low or BINDING_HISTORY_PREFIX, high or f"{BINDING_HISTORY_PREFIX}{_AFTER}"
    team = team_bindings_partition(user_id)
    return [Stream("own", user_partition(user_id), low=low, high=high),
            Stream("joined", team, "gsi1pk", "gsi1sk", "gsi1", low=low, high=high),
            Stream("left", team, "gsi2pk", "gsi2sk", "gsi2", low=low, high=high)]


def commission_streams(user_id: str, start: datetime | None, end: datetime | None) -> list[Stream]:
    """One stream per gsi1 shard of the promoter's records (shard 0 keeps the name of the unsharded stream)."""
    low, high = _range("", start, end)
    return [Stream("commission" if shard == 0 else f"commission{shard}", partition, "gsi1pk", "gsi1sk", "gsi1",
                   low=low, high=high) for shard, partition in enumerate(beneficiary_partitions(user_id))]


def withdrawal_streams(user_id: str, start: datetime | None, end: datetime | None) -> list[Stream]:
    low, high = _range("", start, end)
    return [Stream("withdrawal", withdrawal_promoter_partition(user_id), "gsi2pk", "gsi2sk", "gsi2",
                   low=low, high=high)]


class HistoryReader:
    def __init__(self, table: Table) -> None:
        self._table = table

    def _read(self, stream: Stream, *, limit: int, start_key: Key | None) -> tuple[list[Item], Key | None]:
        names = {"#pk": stream.pk_attr}
        values: dict[str, Any] = {":pk": stream.partition}
        condition = "#pk = :pk"
        if stream.low is not None and stream.high is not None:
            names["#sk"] = stream.sk_attr
            values.update({":lo": stream.low, ":hi": stream.high})
            condition += " AND #sk BETWEEN :lo AND :hi"
        page = self._table.query_where(condition, names=names, values=values, index=stream.index, limit=limit,
                                       start_key=start_key, newest_first=True)
        return page.items, page.last_key

    def merged_page(self, streams: Sequence[Stream], states: Sequence[StreamState], *,
                    limit: int) -> list[tuple[Stream, Item]]:
        """The next ``limit`` items of all streams together, newest first; ``states`` (one per
        stream) are moved past the items returned. A stream whose items were all returned and
        that has nothing more is marked done; items read but not returned are read again next time."""
        fetched: list[tuple[Stream, StreamState, Item]] = []
        ends: dict[str, Key | None] = {}
        for stream, state in zip(streams, states, strict=True):
            if state.done:
                continue
            items, last = self._read(stream, limit=limit, start_key=state.start)
            ends[stream.name] = last
            fetched += [(stream, state, item) for item in items]
            if not items:  # nothing in range left (or an empty page: go on from where it stopped)
                state.done = last is None
                state.start = last or state.start
        fetched.sort(key=lambda entry: entry[0].sort_value(entry[2]), reverse=True)
        taken = fetched[:limit]
        seen: set[tuple[str, str]] = set()
        out: list[tuple[Stream, Item]] = []
        for stream, state, item in taken:
            state.start = stream.start_key(item)
            identity = (str(item["pk"]), str(item["sk"]))
            if identity not in seen:
                seen.add(identity)
                out.append((stream, item))
        read = Counter(entry[0].name for entry in fetched)
        returned = Counter(entry[0].name for entry in taken)
        for stream, state in zip(streams, states, strict=True):
            if not state.done and read[stream.name] == returned[stream.name] and ends.get(stream.name) is None:
                state.done = True
        return out
