"""Scheduled daily: reconcile the ledger (对账) — every balance recomputed from the postings and
compared; a difference is a metric (``LedgerMismatches``) and an entry in the day's report, never
a correction. The event's ``time`` is the as-of time (it names the China day of the report)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from mall.dal.table import main_table
from mall.services.ledger import reconcile
from mall.workers import scheduled_time, worker_entrypoint

table = main_table()

SAFETY_MILLIS = 30_000  # stop taking promoters this long before the Lambda times out: the report still gets written


def run(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    def time_left() -> bool:
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        return remaining is None or int(remaining()) > SAFETY_MILLIS

    report = reconcile(table=table, as_of=scheduled_time(event), time_left=time_left)
    return report.run.model_dump()


handler = worker_entrypoint(run)
