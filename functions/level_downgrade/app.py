"""Scheduled (daily): promoters without activity for ``level_downgrade_inactive_days`` go one level
down (降级). Activity = a new team member or a sale in their team. Candidates come from the
activity markers' day partitions on gsi1 (no scan); see docs/data-model.md, "referral"."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from mall.api.http import logger, metrics
from mall.clock import utc_now
from mall.dal.table import main_table
from mall.services.referral import run_downgrades

table = main_table()


def scheduled_time(event: dict[str, Any]) -> datetime:
    """The schedule's time (``make schedule TIME=...`` may pretend it is later); now otherwise."""
    value = event.get("time") if isinstance(event, dict) else None
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return utc_now()
        if moment.tzinfo is not None:
            return max(moment, utc_now())
    return utc_now()


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    downgraded = run_downgrades(table=table, now=scheduled_time(event))
    logger.info("level downgrade run", extra={"downgraded": downgraded})
    metrics.add_metric(name="PromotersDowngraded", unit="Count", value=downgraded)
    return {"downgraded": downgraded}
