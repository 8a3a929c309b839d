"""Scheduled (every 30 minutes): the shipping-upload reconciler. Uploads whose queue message was lost
(PENDING, or a lease left by a worker that died) are queued again; then WeChat is asked which payments
still wait for shipping information (get_order_list, order_state 1) and those we have shipped,
核销'd or delivered are uploaded (mall.services.shipping_uploads.reconcile)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from mall.dal.queues import queue_from_env
from mall.dal.table import main_table
from mall.dal.wechat_tokens import ForceRefreshLease
from mall.integrations.wechat_shipping import ShippingClient, shipping_client
from mall.observability import logger, metrics
from mall.services.order_changes import UploadRequests
from mall.services.shipping import ShippingRepositories
from mall.services.shipping_uploads import reconcile
from mall.workers import scheduled_time, worker_entrypoint

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
repos = ShippingRepositories.on(table)
uploads = UploadRequests(repos.shipping, queue_from_env("SHIPPING_UPLOAD_QUEUE_URL"))
force_gate = ForceRefreshLease(table)
_client: list[ShippingClient] = []


def wechat() -> ShippingClient:
    if not _client:
        _client.append(shipping_client(force_gate=force_gate))
    return _client[0]


def run(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = reconcile(repos=repos, uploads=uploads, api=wechat, now=scheduled_time(event))
    logger.info("shipping upload reconciliation run", extra=result.as_dict())
    metrics.add_metric(name="ShippingUploadsReconciled", unit="Count", value=result.requested + result.resent)
    return {"statusCode": 200, **result.as_dict()}


handler = worker_entrypoint(run)
