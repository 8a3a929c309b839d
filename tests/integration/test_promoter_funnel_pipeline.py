"""The promoter funnel against a brute-force recount of a fortnight of shop life seeded through the
real services (share visits, bindings by invite code, orders placed through share links and without,
payments, commission synced — its records stamped with their order's channel — refunds), its table
changes fed to the stats worker duplicated, shuffled and in merged batches from several threads."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest

from mall.dal.stats import StatsRepository
from mall.dal.table import Item, Table
from mall.domain.commission import ever_paid
from mall.domain.stats_funnel import order_channel, source_of
from mall.domain.stats_periods import day_of
from mall.services.funnel import promoter_funnel
from tests.integration.test_stats_pipeline import at, feed_batches, seeded  # noqa: F401 (the fixture)

pytestmark = pytest.mark.integration

FIRST, LAST = "2026-10-26", "2026-11-30"


def brute_funnel(items: list[Item]) -> dict[str, dict[str, list[int]]]:
    """promoter → source → [visits, bindings, orders, paid_fen, commission_fen] over FIRST..LAST."""
    out: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0, 0, 0, 0]))

    def inside(value: Any) -> bool:
        day = day_of(value)
        return day is not None and FIRST <= day <= LAST

    for item in items:
        entity = item.get("entity")
        if entity == "share_visit" and item.get("counted") is not False and inside(item.get("at")):
            out[item["promoter_id"]][source_of(item.get("source"))][0] += 1
        elif entity == "binding" and item.get("sk") == "BINDING" and inside(item.get("bound_at")):
            out[item["parent_id"]][source_of(item.get("source"))][1] += 1
        elif entity == "order" and item.get("sk") == "ORDER" and ever_paid(item) and inside(item.get("paid_at")):
            l1 = (item.get("attribution") or {}).get("l1_promoter_id")
            if l1:
                row = out[l1][order_channel(item)]
                row[2] += 1
                row[3] += int(item["amount_fen"])
        elif entity == "commission" and int(item.get("level", 0)) == 1 and inside(item.get("created_at")):
            current = int(item["amount_fen"]) - int(item.get("cancelled_fen", 0)) - int(item.get("clawed_back_fen", 0))
            out[item["beneficiary_id"]][source_of(item.get("share_channel"))][4] += current
    return out


@pytest.mark.table_stream
def test_each_promoters_funnel_equals_a_brute_force_recount(seeded: tuple[Table, list[str], list[Item]]) -> None:  # noqa: F811
    table, messages, items = seeded
    records = [i for i in items if i.get("entity") == "commission" and int(i.get("level", 0)) == 1]
    assert records and all(r.get("share_channel") for r in records)  # stamped by the real commission sync
    feed_batches(table, messages + messages[: len(messages) // 2])  # half of them delivered twice

    expected = brute_funnel(items)
    totals = [sum(row[n] for rows in expected.values() for row in rows.values()) for n in range(5)]
    assert totals[0] > 0 and totals[1] > 0 and totals[2] >= 5 and totals[4] > 0, totals
    assert {s for rows in expected.values() for s in rows} >= {"link", "direct"}
    for uid, by_source in expected.items():
        got = promoter_funnel(stats=StatsRepository(table), promoter_id=uid, date_from=FIRST, date_to=LAST,
                              group="source", now=at(40))
        assert {r.key: [r.visits, r.bindings, r.orders, r.paid_fen, r.commission_fen] for r in got.rows} == {
            source: row for source, row in by_source.items() if any(row)}, uid
