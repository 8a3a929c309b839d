"""Scheduled Monday 09:00 China time: the weekly operations report (运营周报) of the Monday–Sunday
week before — the dashboard's figures of the week, its top promoters and products and the fraud
scan's findings, personal data masked — as a CSV in the exports bucket, listed by GET
/admin/reports. A rerun or two overlapping runs make one report (mall.services.reports). An event
``{"week": "2026-W48"}`` makes that week's report if it has none (a missed week, by hand)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from mall.config import function_environment
from mall.dal.objects import ObjectStore
from mall.dal.table import main_table
from mall.domain.reports import parse_week, previous_week
from mall.observability import metrics
from mall.services.exports import export_settings
from mall.services.reports import ReportRepositories, make_weekly_report
from mall.workers import scheduled_time, worker_entrypoint

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
repos = ReportRepositories.on(table, stats_folded_from=function_environment().stats_folded_from)


def run(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    now = scheduled_time(event)
    asked = event.get("week") if isinstance(event, dict) else None
    week = parse_week(asked) if isinstance(asked, str) else None
    if isinstance(asked, str) and week is None:
        raise ValueError(f"not an ISO week (2026-W48): {asked!r}")
    store = ObjectStore(export_settings().require_bucket())
    outcome = make_weekly_report(repos=repos, store=store, week=week or previous_week(now), now=now)
    metrics.add_metric(name="WeeklyReportsMade", unit=MetricUnit.Count, value=1 if outcome.result == "made" else 0)
    return {"report_id": outcome.report_id, "result": outcome.result, "rows": outcome.rows}


handler = worker_entrypoint(run)
