"""Scheduled: close unpaid orders after ``settings.orders.unpaid_expiry_minutes`` and release their
stock and purchase counters exactly once (CREATED → EXPIRED, conditional on CREATED).

Candidates come from a Query on the sparse ``UNPAID_ORDERS`` index keyed by expiry time (no scan).
Each is asked about at WeChat Pay first and closed there, so a paid order whose notification was
lost is recorded as paid instead of expired."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from mall.api.http import logger, metrics
from mall.clock import utc_now
from mall.dal.catalog import ProductRepository
from mall.dal.orders import OrderRepository
from mall.dal.table import main_table
from mall.integrations.wechatpay.factory import merchant_config, pay_client
from mall.services.catalog import note_stock_levels
from mall.services.payments import expire_due_orders

table = main_table()
orders = OrderRepository(table)
products = ProductRepository(table)


def scheduled_time(event: dict[str, Any]) -> datetime:
    """The schedule's time (``make schedule TIME=...`` can pretend it is later); now otherwise."""
    value = event.get("time") if isinstance(event, dict) else None
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return utc_now()
        if moment.tzinfo is not None:
            return max(moment, utc_now())
    return utc_now()


def expire(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    report = expire_due_orders(orders=orders, products=products, merchant=merchant_config(), pay=pay_client,
                               note_stock_levels=note_stock_levels, now=utc_now(), due_until=scheduled_time(event))
    logger.info("order expiry run", extra=report.as_dict())
    # statusCode: the shape every sample-event check (tests/e2e/test_sample_events.py) reads.
    return {"statusCode": 200, **report.as_dict()}


handler: Callable[[dict[str, Any], LambdaContext], dict[str, Any]] = logger.inject_lambda_context(clear_state=True)(
    metrics.log_metrics(capture_cold_start_metric=True)(expire))
