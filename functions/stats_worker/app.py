"""SQS worker (``StatsQueue``): add the table changes of each invocation to the stats — the dashboard's
day and month aggregates, running totals, per-product / per-promoter / per-buyer day and month items,
the leaderboards and the monthly team sales (``TEAM_SALES#…``, read by the team bonus).

The stream router (``functions/order_status_stream``) sends one message per change
(``mall.dal.changes.change_message``). All the changes of a batch are applied together
(``mall.services.stats.apply_changes``): ONE write per item they touch, with a marker per change in
the same transaction, so redeliveries (alone, or in batches that overlap earlier ones) and concurrent
deliveries add nothing twice and any order of arrival sums to the same figures. If that fails, the
changes are applied one by one and only those that fail are reported (``batchItemFailures``): the
markers of the changes already applied keep them from being added again. After ``maxReceiveCount``
deliveries a message moves to ``DeadLetterQueue``. A message that is not a change is dropped, loudly:
redelivering it cannot fix it.

Hourly, the schedule's event ``{"fold": true}`` adds each day due (the China day after it has ended) to
its month and the running totals, once (``mall.dal.stats_fold``): the worker writes a day's aggregates
to the day alone from the fold day ``STATS_FOLDED_FROM`` on."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from mall.clock import utc_now
from mall.config import function_environment
from mall.dal.changes import Change, parse_change
from mall.dal.stats import StatsRepository
from mall.dal.stats_fold import StatsFolder
from mall.dal.table import main_table
from mall.observability import logger, metrics
from mall.services.stats import apply_change, apply_changes
from mall.workers import scheduled_time, worker_entrypoint

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
# "1" only while a worker of the code that marked every change part alone, or that counted a team's
# order only by its own STATS_SEEN# item, may still run, or until such items have been folded into
# their orders' marker items (runbook).
stats = StatsRepository(table, part_markers_too=function_environment().stats_part_markers_too,
                        seen_marks_too=function_environment().stats_seen_marks_too,
                        sales_folded_from=function_environment().sales_board_folded_from,
                        part_markers_read=function_environment().stats_part_markers_read,
                        seen_items_read=function_environment().stats_seen_items_read,
                        stats_folded_from=function_environment().stats_folded_from)
folder = StatsFolder(table, stats_folded_from=function_environment().stats_folded_from)


def _changes(records: list[dict[str, Any]]) -> list[tuple[str, Change]]:
    """The batch's changes with their message ids; malformed messages are dropped, loudly."""
    found: list[tuple[str, Change]] = []
    for record in records:
        message_id = str(record.get("messageId", ""))
        change = parse_change(str(record.get("body", "")))
        if change is None:
            logger.error("malformed stats message dropped", extra={"message_id": message_id})
            metrics.add_metric(name="StatsMessagesMalformed", unit="Count", value=1)
            continue
        found.append((message_id, change))
    return found


def _one_by_one(changes: list[tuple[str, Change]]) -> list[dict[str, str]]:
    failures: list[dict[str, str]] = []
    for message_id, change in changes:
        try:
            apply_change(stats=stats, change=change, now=utc_now())
        except Exception:
            logger.exception("stats change failed", extra={"message_id": message_id, "event_id": change.event_id})
            failures.append({"itemIdentifier": message_id})
    return failures


def run(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if event.get("fold") is True:
        folded = folder.fold_due(now=scheduled_time(event))
        logger.info("stats days folded", extra={"days": folded})
        return {"folded": folded}
    changes = _changes(list(event.get("Records") or []))
    if not changes:
        return {"batchItemFailures": []}
    try:
        result = apply_changes(stats=stats, changes=[c for _, c in changes], now=utc_now())
    except Exception:
        logger.exception("the batch's merged stats update failed: applying its changes one by one",
                         extra={"changes": len(changes)})
        metrics.add_metric(name="StatsBatchesSplit", unit="Count", value=1)
        return {"batchItemFailures": _one_by_one(changes)}
    logger.info("stats applied", extra={"changes": len(changes), **result.as_dict()})
    if result.already_applied:
        metrics.add_metric(name="StatsChangesRedelivered", unit="Count", value=result.already_applied)
    return {"batchItemFailures": []}


handler = worker_entrypoint(run)
