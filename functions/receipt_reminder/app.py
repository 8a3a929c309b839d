"""Scheduled: remind buyers to confirm receipt (确认收货提醒, WeChat's notify_confirm_receive) of
SHIPPED express orders whose parcel was signed for ``REMIND_AFTER_DELIVERY`` ago (at most
``REMIND_LOOKBACK`` longer: older deliveries were earlier runs' business) and that nobody confirmed.
Once per order: each reminder is claimed before WeChat is called (mall.services.wechat_receipt), so
overlapping runs send it once."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from mall.dal.table import main_table
from mall.integrations.wechat_receipt import receipt_client
from mall.observability import metrics
from mall.services.wechat_receipt import ReceiptRepositories, sweep_reminders
from mall.workers import scheduled_time, worker_entrypoint

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
repos = ReceiptRepositories.on(table)

SAFETY_MILLIS = 5_000  # stop taking new orders this long before the Lambda times out


def run(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    def time_left() -> bool:
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        return remaining is None or int(remaining()) > SAFETY_MILLIS

    result = sweep_reminders(repos=repos, client=receipt_client(), now=scheduled_time(event), time_left=time_left)
    metrics.add_metric(name="ReceiptRemindersSent", unit="Count", value=result.sent)
    return {"examined": result.examined, "sent": result.sent, "refused": result.refused,
            "retry_later": result.retry_later}


handler = worker_entrypoint(run)
