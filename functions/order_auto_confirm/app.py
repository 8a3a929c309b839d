"""Scheduled: confirm receipt automatically (自动确认收货) of orders shipped
``settings.orders.auto_confirm_days`` ago (SHIPPED → COMPLETED, completed_by auto).

Candidates come from one Query on the sparse ``AUTOCONFIRM`` index entries (no scan); each
completion is conditional on SHIPPED, so overlapping runs complete each order exactly once."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from mall.dal.orders import OrderRepository
from mall.dal.settings import SettingsRepository
from mall.dal.table import main_table
from mall.observability import metrics
from mall.services.fulfilment import auto_confirm
from mall.workers import scheduled_time, worker_entrypoint

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
repo = OrderRepository(table)
settings = SettingsRepository(table)

SAFETY_MILLIS = 5_000  # stop taking new orders this long before the Lambda times out




def run(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    def time_left() -> bool:
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        return remaining is None or int(remaining()) > SAFETY_MILLIS

    result = auto_confirm(repo=repo, settings=settings, now=scheduled_time(event), time_left=time_left)
    metrics.add_metric(name="OrdersAutoConfirmed", unit="Count", value=result.completed)
    return result.model_dump()


handler = worker_entrypoint(run)
