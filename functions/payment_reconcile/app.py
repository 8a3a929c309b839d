"""Scheduled: ask WeChat Pay about orders still unpaid a few minutes after they were placed and
record any SUCCESS exactly as the webhook would (notifications are not guaranteed to arrive)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from mall.clock import utc_now
from mall.config import get_settings
from mall.dal.table import main_table
from mall.integrations.wechatpay.factory import merchant_config, pay_client
from mall.observability import logger
from mall.services.payment_jobs import reconcile_unpaid
from mall.services.payments import PaymentRepositories
from mall.workers import scheduled_time, worker_entrypoint

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
payments = PaymentRepositories.on(table)

#: From the gsi2 entries (``ORDER_STATUS_LIST=entries``), sorted by expiry: every unpaid order is checked (expiry ≤
#: now + a day covers any configurable expiry window). From the by-status list the minimum age alone decides.
HORIZON = timedelta(days=1)




def reconcile(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    as_of = scheduled_time(event)
    report = reconcile_unpaid(repos=payments, merchant=merchant_config(), pay=pay_client,
                              min_age_seconds=get_settings().order_reconcile_min_age_seconds, now=utc_now(),
                              horizon_until=as_of + HORIZON, as_of=as_of)
    logger.info("payment reconciliation run", extra=report.as_dict())
    # statusCode: the shape every sample-event check (tests/e2e/test_sample_events.py) reads.
    return {"statusCode": 200, **report.as_dict()}


handler = worker_entrypoint(reconcile)
