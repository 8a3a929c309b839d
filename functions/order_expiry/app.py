"""Scheduled: close unpaid orders after ``settings.orders.unpaid_expiry_minutes`` and release their
stock and purchase counters exactly once (CREATED → EXPIRED, conditional on CREATED).

Candidates come from one Query (no scan) of the orders placed the window in force before the run
(``ORDER_STATUS_LIST`` says which index: ``mall.dal.orders.OrderRepository.unpaid_due``).
Each is asked about at WeChat Pay first and closed there, so a paid order whose notification was
lost is recorded as paid instead of expired."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from mall.clock import utc_now
from mall.dal.catalog import ProductRepository
from mall.dal.settings import SettingsRepository
from mall.dal.table import main_table
from mall.integrations.wechatpay.factory import merchant_config, pay_client
from mall.observability import logger
from mall.services.payment_jobs import expire_due_orders
from mall.services.payments import PaymentRepositories
from mall.workers import scheduled_time, worker_entrypoint

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
payments = PaymentRepositories.on(table)
products = ProductRepository(table)
settings = SettingsRepository(table)




def expire(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    report = expire_due_orders(repos=payments, products=products, merchant=merchant_config(), pay=pay_client,
                               now=utc_now(), due_until=scheduled_time(event), settings=settings)
    logger.info("order expiry run", extra=report.as_dict())
    # statusCode: the shape every sample-event check (tests/e2e/test_sample_events.py) reads.
    return {"statusCode": 200, **report.as_dict()}


handler = worker_entrypoint(expire)
