"""SQS worker (``StatsQueue``): add each table change to the stats — the dashboard's day and month
aggregates, running totals, per-product / per-promoter / per-buyer day and month items, the
leaderboards and the monthly team sales (``TEAM_SALES#…``, read by the team bonus).

The stream router (``functions/order_status_stream``) sends one message per change
(``mall.dal.changes.change_message``). Each is applied once per ``event_id`` in one transaction
(``mall.services.stats.apply_change``), so redeliveries and concurrent deliveries add nothing twice and
any order of arrival sums to the same figures. Powertools batch processing reports failed messages
(``batchItemFailures``); after ``maxReceiveCount`` deliveries one moves to ``DeadLetterQueue``. A message that
is not a change is dropped, loudly: redelivering it cannot fix it."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from mall.clock import utc_now
from mall.dal.changes import parse_change
from mall.dal.stats import StatsRepository
from mall.dal.table import main_table
from mall.observability import logger, metrics
from mall.services.stats import apply_change
from mall.workers import batch_entrypoint

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
stats = StatsRepository(table)

processor = BatchProcessor(event_type=EventType.SQS)


def record_handler(record: SQSRecord) -> dict[str, Any]:
    change = parse_change(record.body)
    if change is None:
        logger.error("malformed stats message dropped", extra={"message_id": record.message_id})
        metrics.add_metric(name="StatsMessagesMalformed", unit="Count", value=1)
        return {"skipped": "malformed"}
    result = apply_change(stats=stats, change=change, now=utc_now())
    if result.already_applied:
        metrics.add_metric(name="StatsChangesRedelivered", unit="Count", value=1)
    return {"event_id": change.event_id, "entity": change.entity, **result.as_dict()}


handler = batch_entrypoint(processor, record_handler)
