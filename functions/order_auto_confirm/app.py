"""Scheduled: confirm receipt automatically (自动确认收货) of orders shipped
``settings.orders.auto_confirm_days`` ago (SHIPPED → COMPLETED, completed_by auto).

Candidates come from one Query on the sparse ``AUTOCONFIRM`` index entries (no scan); each
completion is conditional on SHIPPED, so overlapping runs complete each order exactly once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from mall.api.http import logger, metrics
from mall.clock import utc_now
from mall.dal.fulfilment import FulfilmentRepository
from mall.dal.settings import SettingsRepository
from mall.dal.table import main_table
from mall.services.fulfilment import auto_confirm

table = main_table()
repo = FulfilmentRepository(table)
settings = SettingsRepository(table)

SAFETY_MILLIS = 5_000  # stop taking new orders this long before the Lambda times out


def scheduled_time(event: dict[str, Any]) -> datetime:
    """The schedule's time (``make schedule TIME=...`` may pretend it is later); never earlier than now."""
    value = event.get("time") if isinstance(event, dict) else None
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return utc_now()
        if moment.tzinfo is not None:
            return max(moment, utc_now())
    return utc_now()


def run(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    def time_left() -> bool:
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        return remaining is None or int(remaining()) > SAFETY_MILLIS

    result = auto_confirm(repo=repo, settings=settings, now=scheduled_time(event), time_left=time_left)
    metrics.add_metric(name="OrdersAutoConfirmed", unit="Count", value=result.completed)
    return result.model_dump()


handler: Callable[[dict[str, Any], LambdaContext], dict[str, Any]] = logger.inject_lambda_context(clear_state=True)(
    metrics.log_metrics(capture_cold_start_metric=True)(run))
