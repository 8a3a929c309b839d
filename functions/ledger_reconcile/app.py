"""Scheduled daily: reconcile the ledger (对账) — every balance recomputed from the postings and
compared; a difference is a metric (``LedgerMismatches``) and an entry in the day's report, never
a correction. The event's ``time`` is the as-of time (it names the China day of the report)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from mall.dal.ledger import LedgerRepository
from mall.dal.reconciliation import ReconciliationRepository
from mall.dal.referral import PromoterRepository
from mall.dal.table import main_table
from mall.services.ledger import reconcile
from mall.workers import scheduled_time, worker_entrypoint

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
ledger = LedgerRepository(table)
reports = ReconciliationRepository(table)
promoters = PromoterRepository(table)

SAFETY_MILLIS = 30_000  # stop taking promoters this long before the Lambda times out: the report still gets written


def run(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    def time_left() -> bool:
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        return remaining is None or int(remaining()) > SAFETY_MILLIS

    report = reconcile(ledger=ledger, reports=reports, promoters=promoters, as_of=scheduled_time(event),
                       time_left=time_left)
    return report.run.model_dump()


handler = worker_entrypoint(run)
