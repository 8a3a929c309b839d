"""Scheduled (every 10 minutes): the payout reconciler. Withdrawals PAYING with a transfer bill
in a non-terminal state for longer than ``stuck_bill_minutes`` (settings) are asked about at WeChat
Pay and a terminal state is applied exactly as the notification would (notifications are not
guaranteed); APPROVED WeChat withdrawals never started a few minutes after approval (a lost queue
message) are started. Reads the ``WITHDRAWALS#<status>`` partitions of gsi1, never a scan."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from mall.clock import utc_now
from mall.dal.payouts import PayoutRepository
from mall.dal.settings import SettingsRepository
from mall.dal.table import main_table
from mall.integrations.wechatpay.factory import pay_client
from mall.observability import logger, metrics
from mall.services.payouts.gateway import Transfers
from mall.services.payouts.reconcile import reconcile_payouts, stuck_bill_age
from mall.workers import scheduled_time, worker_entrypoint

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
payouts = PayoutRepository(table)
settings = SettingsRepository(table)
transfers = Transfers(pay=pay_client)


def reconcile(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # The schedule's time is the "now" of the ages (`make schedule TIME=...` tries a later run).
    report = reconcile_payouts(payouts=payouts, transfers=transfers, now=scheduled_time(event),
                               stuck_after=stuck_bill_age(settings))
    logger.info("payout reconciliation run", extra={**report.as_dict(), "at": utc_now().isoformat()})
    # Bills past their age that WeChat Pay still has unfinished, or that could not be asked about:
    # PayoutStuckAlarm fires when three runs in a row report some (docs/operations.md).
    metrics.add_metric(name="PayoutsStuck", unit="Count", value=report.waiting + report.errors)
    return {"statusCode": 200, **report.as_dict()}


handler = worker_entrypoint(reconcile)
