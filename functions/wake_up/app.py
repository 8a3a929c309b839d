"""Scheduled (daily, 09:00 China time): promoters with no share visit and no attributed paid order for
the wake-up rule's ``inactive_days`` get one wake-up campaign (沉睡唤醒) of ``boost_days``; one per
China day whatever the number of runs (docs/incentives.md, "Wake-up boosts")."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from mall.dal.table import main_table
from mall.observability import logger, metrics
from mall.services.wake_up import WakeUpRepositories, run
from mall.workers import scheduled_time, worker_entrypoint

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
repos = WakeUpRepositories.on(table)


def handler_run(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    campaign = run(repos, scheduled_time(event))
    targeted = len(campaign.scope.promoter_ids) if campaign else 0
    logger.info("wake-up run", extra={"campaign_id": campaign.campaign_id if campaign else None,
                                      "targeted": targeted})
    metrics.add_metric(name="PromotersWokenUp", unit="Count", value=targeted)
    return {"campaign_id": campaign.campaign_id if campaign else None, "targeted": targeted}


handler = worker_entrypoint(handler_run)
