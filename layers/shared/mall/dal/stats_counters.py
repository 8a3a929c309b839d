"""Where and how the stats worker adds a counter (``mall.dal.stats_apply``): the items of a target,
with the fold of the day aggregates (``mall.dal.stats_fold``), and ONE update per item.

From the fold day on (``fold_start``), a day's aggregate counters are added to its day shard alone,
and the running totals' counters to the shard of the day they are applied on: the fold adds each
day's shards to its month and the totals once. Such a write ADDs 1 to the shard's ``writes`` and is
conditional on the day not being folded (``attribute_not_exists(folded)``), so the fold, whose
transaction is conditional on the ``writes`` it read, either sees it or fails. A change to a folded
day (a late change: a settlement, a redrive from the dead-letter queue) is written to the day, its
month and the totals as before, conditional on the day being folded. Which of the two a day takes
is guessed from its age and corrected by the condition: the worker switches a day whose shard's
condition failed and tries its transaction again, so a change is counted once whichever way the
race with the fold goes. Days before the fold day are written to their months as each change comes
and are never folded."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from mall.clock import china_day
from mall.dal.keys import counter_items, day_key
from mall.dal.stats_fold import fold_start
from mall.dal.table import Key, Write
from mall.domain.stats import Target

#: How a day's aggregate counters are written: ``before`` the fold day (day, month and totals,
#: unconditionally), ``day`` alone while the day is not folded, ``late`` once it is.
DayMode = str
BEFORE, DAY, LATE = "before", "day", "late"


@dataclass
class CounterAdds:
    """What one item receives: its naming attributes, the sums to ADD, labels to SET and, for a day
    shard written conditionally on the fold, the mode and the day."""

    key: Key
    names: dict[str, Any]
    adds: dict[str, int] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    mode: DayMode | None = None
    day: str = ""


class CounterItems:
    def __init__(self, stats_folded_from: str | None) -> None:
        # None: no day is folded (every change writes its day, its month and the totals).
        self._start = None if stats_folded_from is None else fold_start(stats_folded_from)

    def guess(self, day: str, now: datetime) -> DayMode:
        """How ``day``'s counters are written, guessed from its age: the fold takes a day once the
        next China day has ended, so a day since yesterday is not folded yet (the condition of the
        write corrects a wrong guess)."""
        if self._start is None or day < self._start:
            return BEFORE
        return DAY if day >= china_day(now - timedelta(days=1)) else LATE

    def of(self, target: Target, shard: int, now: datetime,
           modes: Mapping[str, DayMode]) -> list[CounterAdds]:
        """The items ``target``'s counters are added to (``counter_items``), with the fold: a day's (or
        the totals') go to the day shard alone while the day is not folded."""
        if self._start is None or target.kind not in ("agg", "totals"):
            return [CounterAdds(key, names) for key, names in counter_items(target, shard)]
        day = target.period if target.kind == "agg" else china_day(now)  # the totals: the day applied
        mode = modes.get(day) or self.guess(day, now)
        if mode == BEFORE:
            return [CounterAdds(key, names) for key, names in counter_items(target, shard)]
        if mode == LATE:  # the day's shard (conditional on the fold having taken it), its month, the totals
            return [CounterAdds(key, names, mode=mode if key == day_key(day, shard) else None, day=day)
                    for key, names in counter_items(target, shard)]
        return [CounterAdds(day_key(day, shard), {"entity": "stats_day", "day": day, "shard": shard}, mode=mode,
                            day=day)]


def counter_write(table: str, entry: CounterAdds) -> Write:
    """ONE update of the item: SET its names and labels, ADD the sums (zeros left out); a day shard
    written before its fold also ADDs 1 to ``writes``, conditional on ``folded`` being absent, one
    written after it is conditional on ``folded`` being set."""
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
    condition: str | None = None
    if entry.mode is not None:
        names["#f"] = "folded"
        condition = "attribute_not_exists(#f)" if entry.mode == DAY else "attribute_exists(#f)"
        if entry.mode == DAY:  # the fold's transaction is conditional on the writes it read
            names["#w"], values[":w"] = "writes", 1
            adds.append("#w :w")
    return Write.update(table, entry.key, f"SET {', '.join(sets)} ADD {', '.join(adds)}",
                        condition=condition, names=names, values=values)
