"""SQS worker (``ShippingUploadQueue``): one message ``{"order_id", "revision"}`` per shipment asks
for its upload to WeChat (upload_shipping_info) and the tracking subscription of its parcels, two
idempotent steps on one read of the order and its parcels
(mall.services.shipping_uploads.upload_and_track). An upload already answered is skipped (once per
shipment), a parcel already subscribed too (once per parcel); WeChat busy or unreachable, or the
tracking provider failing, reports the message in ``batchItemFailures`` (redelivered after the
visibility timeout: the redelivery does only what is left); after ``MAX_UPLOAD_ATTEMPTS`` the upload
is FAILED for the admin, and a message still failing after ``maxReceiveCount`` moves to
``DeadLetterQueue``. A malformed message is dropped, loudly."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from mall.clock import utc_now
from mall.config import get_settings
from mall.dal.table import main_table
from mall.dal.tracking import TrackingRepository
from mall.dal.wechat_tokens import ForceRefreshLease
from mall.integrations.tracking.factory import callback_url, provider_from_env
from mall.integrations.wechat_shipping import ShippingClient, shipping_client
from mall.observability import logger, metrics
from mall.secrets import get_secret
from mall.services.shipping import ShippingRepositories
from mall.services.shipping_uploads import Tracking, UploadPending, upload_and_track
from mall.workers import Batch, EventSource, batch_entrypoint

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
repos = ShippingRepositories.on(table)
trails = TrackingRepository(table)
force_gate = ForceRefreshLease(table)
batch = Batch(EventSource.SQS, raise_on_entire_batch_failure=False)
_client: list[ShippingClient] = []


def wechat() -> ShippingClient:
    if not _client:
        _client.append(shipping_client(force_gate=force_gate))
    return _client[0]


def _mchid() -> str:
    return get_settings().wechatpay_mchid or get_secret("wechatpay_mchid")


def _tracking() -> Tracking:
    # Both asked only after the upload (the provider is None when TRACKING_PROVIDER=none).
    return Tracking(repo=trails, provider=provider_from_env, callback_url=callback_url)


def record_handler(record: SQSRecord) -> dict[str, Any]:
    try:
        message = json.loads(record.body)
        order_id, revision = str(message["order_id"]), int(message.get("revision", 1))
    except (ValueError, KeyError, TypeError):
        logger.error("malformed shipping upload message dropped", extra={"message_id": record.message_id})
        metrics.add_metric(name="ShippingUploadMessagesMalformed", unit="Count", value=1)
        return {"skipped": "malformed"}
    try:
        handled = upload_and_track(order_id, revision, repos=repos, api=wechat, mchid=_mchid(), now=utc_now(),
                                   tracking=_tracking())
    except UploadPending:
        metrics.add_metric(name="ShippingUploadsRetried", unit="Count", value=1)
        raise
    state = handled.upload
    if state is not None:
        metrics.add_metric(name=f"ShippingUploads{state.status.title()}", unit="Count", value=1)
    if handled.subscribed:
        metrics.add_metric(name="ParcelsSubscribed", unit="Count", value=handled.subscribed)
    return {"order_id": order_id, "status": state.status if state else None, "subscribed": handled.subscribed}


handler = batch_entrypoint(batch, record_handler)
