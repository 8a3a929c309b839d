"""SQS worker (``TrackingQueue``): subscribe a shipped order's parcels with the logistics provider.

Deployed only while the stack keeps ``TrackingQueue`` (``TrackingQueueKept=1``, one release: the
shipping upload worker subscribes the parcels of each shipment it uploads; docs/runbook.md). The
order stream router (``functions/order_status_stream``) sends ``{"order_id"}`` when an order
ships (or gains parcels). Each message runs ``mall.services.tracking.subscribe_order``: idempotent
per parcel (a subscribed parcel is never subscribed again). A provider failure is recorded on the
parcel and reported in ``batchItemFailures``: redelivered after the visibility timeout, and after
``maxReceiveCount`` deliveries moved to ``DeadLetterQueue``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mall.clock import utc_now
from mall.dal.orders import OrderRepository
from mall.dal.table import main_table
from mall.dal.tracking import TrackingRepository
from mall.integrations.tracking.factory import callback_url, provider_from_env
from mall.observability import logger, metrics
from mall.services.tracking import subscribe_order
from mall.workers import Batch, EventSource, batch_entrypoint, order_id_of

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
repo = TrackingRepository(table)
orders = OrderRepository(table)
batch = Batch(EventSource.SQS)
def record_handler(record: SQSRecord) -> dict[str, Any]:
    order_id = order_id_of(record.body)
    if order_id is None:  # redelivering cannot fix it: drop it, loudly
        logger.error("malformed tracking message dropped", extra={"message_id": record.message_id})
        metrics.add_metric(name="TrackingMessagesMalformed", unit="Count", value=1)
        return {"skipped": "malformed"}
    provider = provider_from_env()
    subscribed = subscribe_order(repo=repo, provider=provider, order_id=order_id,
                                 callback_url=callback_url() if provider is not None else "", now=utc_now(),
                                 orders=orders)
    if subscribed:
        metrics.add_metric(name="ParcelsSubscribed", unit="Count", value=subscribed)
    return {"order_id": order_id, "subscribed": subscribed}


handler = batch_entrypoint(batch, record_handler)
