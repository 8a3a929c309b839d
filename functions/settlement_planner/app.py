"""Scheduled daily: settlement (结算, T+N), the planner. Finds every FROZEN commission due at the
schedule's time (the event's ``time`` is the as-of time: ``make schedule TIME=...`` settles what is
due then) and sends slices of them to ``SettlementQueue``, where ``settlement_worker`` settles them.

Read-only on the table: it only queries the sparse due index (gsi2 ``SETTLE_DUE#<shard>``, no
scan). Running it twice is harmless: a slice whose records are already settled changes nothing."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from mall.dal.queues import queue_from_env
from mall.dal.table import main_table
from mall.observability import metrics
from mall.services.settlement import SettlementRepositories, plan
from mall.workers import scheduled_time, worker_entrypoint

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
repos = SettlementRepositories.on(table)
queue = queue_from_env("SETTLEMENT_QUEUE_URL")


def run(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if queue is None:
        raise RuntimeError("SETTLEMENT_QUEUE_URL is not set")
    # Ten messages per SendMessageBatch; if SQS refuses some, the run fails and the schedule's
    # retry plans again (a slice sent twice settles nothing twice).
    report = plan(repos, as_of=scheduled_time(event), send=queue.send_many)
    metrics.add_metric(name="SettlementDue", unit="Count", value=report.due)
    metrics.add_metric(name="SettlementSlicesSent", unit="Count", value=report.slices)
    return report.as_dict()


handler = worker_entrypoint(run)
