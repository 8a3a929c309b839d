"""First-time and repeat buyers (首购, 复购) of the stats: a per-customer item keeps the customer's two
earliest paid orders, so the day of the 1st and of the 2nd paid order is known whatever order the
payments arrive in. Pure: the data layer reads the item and writes it back conditionally."""

from __future__ import annotations

from collections import defaultdict

from mall.domain.stats import CounterDelta, Target
from mall.domain.stats_periods import day_of

FirstOrders = tuple[tuple[str, str], ...]  # up to two (paid_at, order_id), earliest first


def buyer_contribution(first: FirstOrders) -> dict[tuple[Target, str], int]:
    """A customer whose earliest paid orders are ``first``: a first-time buyer on the day of the 1st,
    a repeat buyer (复购客户) on the day of the 2nd; counted once in the running totals."""
    out: dict[tuple[Target, str], int] = {}
    if first:
        day = day_of(first[0][0])
        if day is not None:
            out[(Target("agg", day), "first_time_buyers")] = 1
        out[(Target("totals"), "buyers_total")] = 1
    if len(first) > 1:
        day = day_of(first[1][0])
        if day is not None:
            key = (Target("agg", day), "repeat_buyers")
            out[key] = out.get(key, 0) + 1
        out[(Target("totals"), "repeat_buyers_total")] = 1
    return out


def buyer_transition(first: FirstOrders, paid_at: str, order_id: str) -> tuple[FirstOrders, list[CounterDelta]]:
    """Add one paid order to the customer's earliest two; the counter deltas it causes (none when the
    order was already known or comes after the two). Order-independent: the earliest two of a set."""
    after: FirstOrders = tuple(sorted(set(first) | {(paid_at, order_id)}))[:2]
    if after == tuple(first):
        return after, []
    before_values, after_values = buyer_contribution(first), buyer_contribution(after)
    sums: dict[Target, dict[str, int]] = defaultdict(dict)
    for key in sorted(set(before_values) | set(after_values)):
        value = after_values.get(key, 0) - before_values.get(key, 0)
        if value:
            sums[key[0]][key[1]] = value
    return after, [CounterDelta(target, tuple(sorted(values.items()))) for target, values in sorted(sums.items())]

