"""The parts of one change are numbered by a bound that must not move while messages are in flight:
a change split into parts before a deploy, part 0 applied and marked, must split the same way after
it, or its redelivery would skip or repeat deltas. Dropping the dashboard's month items of products,
promoters and buyers (fewer writes) must not change that split."""

from __future__ import annotations

from datetime import UTC, datetime

from mall.clock import iso
from mall.dal.changes import Change, record_change
from mall.dal.stats_plan import split_changes
from mall.domain.stats import CounterDelta, contributions

AT = iso(datetime(2026, 11, 3, 2, tzinfo=UTC))


def test_an_order_of_seventy_lines_splits_into_the_parts_it_always_did() -> None:
    lines = [{"line_id": str(n), "product_id": f"p_{n}", "name": "茶", "quantity": 1, "paid_fen": 100,
              "refunded_fen": 0} for n in range(70)]
    old = {"pk": "ORDER#o1", "sk": "ORDER", "entity": "order", "order_id": "o1", "buyer_id": "u_b1",
           "status": "CREATED", "amount_fen": 7_000, "created_at": AT, "lines": lines,
           "attribution": {"l1_promoter_id": "u_star"}, "share_source": None}
    change = Change("ev-big", "MODIFY", "1", old, {**old, "status": "PAID", "paid_at": AT})
    parts, _ = split_changes([(change.event_id, contributions(record_change(change)))])
    # The promoter funnel's deltas come after all the others: the others keep their parts (as split
    # while month items were written); the funnel's join the last of those parts and the ones after.
    old_kinds = [[d for d in part.deltas if not (isinstance(d, CounterDelta) and d.target.kind == "funnel")]
                 for part in parts]
    assert [len(kept) for kept in old_kinds if kept] == [49, 27]
    assert all(list(part.deltas)[:len(kept)] == kept for part, kept in zip(parts, old_kinds, strict=True))
