"""One stats invocation takes a busy window's changes together: the event source's ``BatchSize``
(read from template.yaml) lets the worker merge twenty orders paid within its batching window, with
their commission records, into one write per aggregate item per transaction, instead of one per ten
changes. Exactly once still holds: the figures equal the same changes applied one at a time."""

from __future__ import annotations

from typing import Any

from local.template import load_template
from mall.dal.stats import StatsRepository
from mall.dal.table import Table
from tests.conftest import TEMPLATE
from tests.integration.test_stats_merged_writes import _created, _order, count_writes, sqs, worker
from tests.unit.conftest import FakeContext

__all__ = ["worker"]  # the fixture, shared with the merged-writes tests


def _batch_size() -> int:
    triggers = load_template(TEMPLATE).queue_triggers
    return next(t.batch_size for t in triggers if t.function_id == "StatsWorkerFunction")


def test_a_busy_windows_orders_write_each_shared_aggregate_a_few_times_not_once_per_ten_changes(
        worker: Any, table: Table) -> None:
    changes = []
    for n in range(20):  # a regular customer's orders through one promoter, with both levels' records
        changes += [_order(f"o{n}", "u_b1", "u_star", 1_000), _created(f"o{n}", "u_star", 1, 100),
                    _created(f"o{n}", "u_sun", 2, 50)]
    size = _batch_size()
    writes = count_writes(worker.table)
    for start in range(0, len(changes), size):
        assert worker.handler(sqs(changes[start:start + size]), FakeContext()) == {"batchItemFailures": []}
    counted = writes()
    day = sum(n for (pk, _), n in counted.items() if pk.startswith("STATS_DAY#2026-11-03#"))
    boards = {pk: n for (pk, _), n in counted.items() if pk.startswith("BOARD#")}
    items = sum(n for (pk, _), n in counted.items() if not pk.startswith("STATS_APPLIED#"))
    assert day == 1, day  # 6 with batches of 10 (one per invocation)
    assert max(boards.values()) == 1, boards
    assert items <= 60, items  # one write per item per transaction, markers apart
    got = StatsRepository(table).aggregates(days=["2026-11-03"], months=[])
    assert sum(int(a.get("gmv_fen", 0)) for a in got) == 20_000
    assert sum(int(a.get("paid_orders", 0)) for a in got) == 20
    assert sum(int(a.get("comm_l1_created_fen", 0)) for a in got) == 2_000
    assert sum(int(a.get("comm_l2_created_fen", 0)) for a in got) == 1_000
