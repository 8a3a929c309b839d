"""Scheduled every 15 minutes: the fraud scan (风控扫描). Reads only what changed since its
watermark (the risk feed, refunds and withdrawals created in the window, then targeted Queries of
the promoters concerned — never a table scan), evaluates the five rules of ``settings.risk``,
records every hit and opens a risk case for a rule in ``enforce`` mode. Repeating a run or two
runs overlapping is harmless: hits and cases are keyed by their data, the watermark moves by a
conditional update. Design and cost: docs/risk.md, "Fraud scan"."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from mall.dal.fraud import FraudRepository
from mall.dal.settings import SettingsRepository
from mall.dal.table import main_table
from mall.observability import metrics
from mall.services.fraud import scan
from mall.services.risk import RiskRepositories
from mall.workers import scheduled_time, worker_entrypoint

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
settings_versions = SettingsRepository(table)
fraud = FraudRepository(table)
risk_cases = RiskRepositories.on(table)

SAFETY_MILLIS = 30_000  # stop starting rules this long before the Lambda times out (the watermark then stays)


def _metric_name(rule: str) -> str:
    return "".join(part.capitalize() for part in rule.split("_"))


def run(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    def time_left() -> bool:
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        return remaining is None or int(remaining()) > SAFETY_MILLIS

    settings = settings_versions.current().settings
    report = scan(repo=fraud, cases=risk_cases, settings=settings, now=scheduled_time(event), time_left=time_left)
    for rule, counts in report.rules.items():
        name = _metric_name(rule)
        metrics.add_metric(name=f"FraudHits{name}", unit=MetricUnit.Count, value=counts.hits)
        metrics.add_metric(name=f"FraudNewHits{name}", unit=MetricUnit.Count, value=counts.new_hits)
        metrics.add_metric(name=f"FraudCases{name}", unit=MetricUnit.Count, value=counts.cases_opened)
    metrics.add_metric(name="FraudCaseFailures", unit=MetricUnit.Count,
                       value=sum(c.failures for c in report.rules.values()))
    # 0 when a run could not finish or lost the watermark to an overlapping run: an alarm on a
    # missing or long-zero series says the scan is stuck.
    metrics.add_metric(name="FraudScanAdvanced", unit=MetricUnit.Count, value=1 if report.advanced else 0)
    return report.as_dict()


handler = worker_entrypoint(run)
