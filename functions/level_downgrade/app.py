"""Scheduled (daily): promoters without activity for ``level_downgrade_inactive_days`` go one level
down (降级). Activity = a new team member or a sale in their team. Candidates come from the
activity markers' day partitions on gsi1 (no scan); see docs/data-model.md, "referral"."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from mall.dal.table import main_table
from mall.observability import logger, metrics
from mall.services.referral import ReferralRepositories
from mall.services.referral.levels import run_downgrades
from mall.workers import scheduled_time, worker_entrypoint

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
network = ReferralRepositories.on(table)


def run(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    downgraded = run_downgrades(network=network, now=scheduled_time(event))
    logger.info("level downgrade run", extra={"downgraded": downgraded})
    metrics.add_metric(name="PromotersDowngraded", unit="Count", value=downgraded)
    return {"downgraded": downgraded}


handler = worker_entrypoint(run)
