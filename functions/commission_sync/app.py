"""SQS worker (``CommissionQueue``): bring an order's commission records in step with the order.

The order stream router (``functions/order_status_stream``) sends ``{"order_id": ..., "version": n}``
whenever an order became paid, completed, closed or had a line refunded (``version``: the order's
after that change, named only when the change raised it; the sync's first read of the order is
eventually consistent when it shows it, consistent when the message names none). Each message runs
``mall.services.commissions.sync_order``, which is idempotent and converges whatever the order
and number of deliveries. First the batch's newly paid orders are credited together
(``mall.services.commission_batch``: one wallet write per promoter per transaction); then records
are handled one by one with `mall.workers` batch processing: a failed message is reported in
``batchItemFailures`` and redelivered after the visibility timeout; after ``maxReceiveCount``
deliveries it moves to ``DeadLetterQueue``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mall.clock import utc_now
from mall.dal.queues import queue_from_env
from mall.dal.table import main_table
from mall.observability import logger, metrics
from mall.services.commission_batch import credit_orders
from mall.services.commissions import CommissionRepositories, sync_order
from mall.workers import Batch, EventSource, batch_entrypoint, order_id_of, order_version_of

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
repos = CommissionRepositories.on(table)
# A clawback that leaves a debt sends the withdrawals whose transfer bill must be cancelled here.
payout_queue = queue_from_env("PAYOUT_QUEUE_URL")

batch = Batch(EventSource.SQS)


def record_handler(record: SQSRecord) -> dict[str, Any]:
    order_id = order_id_of(record.body)
    if order_id is None:  # redelivering cannot fix it: drop it, loudly
        logger.error("malformed commission message dropped", extra={"message_id": record.message_id})
        metrics.add_metric(name="CommissionMessagesMalformed", unit="Count", value=1)
        return {"skipped": "malformed"}
    result = sync_order(repos, order_id=order_id, now=utc_now(), payouts=payout_queue,
                        seen_version=order_version_of(record.body))
    logger.info("commission synced", extra={"sync": result.as_dict()})
    if result.created:
        metrics.add_metric(name="CommissionRecordsCreated", unit="Count", value=result.created)
    if result.clawed_back_fen:
        metrics.add_metric(name="CommissionClawedBackFen", unit="Count", value=result.clawed_back_fen)
    return result.as_dict()


def credit_batch(event: dict[str, Any]) -> None:
    """The batch's newly paid orders credited together (``mall.services.commission_batch``): one
    wallet write per promoter per transaction instead of one per order. Anything it does not do
    (a redelivery, a race, an error) the per-message ``sync_order`` does, so a failure here only
    costs the batching."""
    order_ids = [oid for r in event.get("Records") or [] if (oid := order_id_of(str(r.get("body", ""))))]
    if len(order_ids) < 2:
        return
    try:
        report = credit_orders(repos, order_ids=order_ids, now=utc_now())
    except Exception:  # the per-message path below creates whatever this did not
        logger.exception("batched commission credit failed; syncing one by one")
        return
    if report.records:
        metrics.add_metric(name="CommissionRecordsCreated", unit="Count", value=report.records)


handler = batch_entrypoint(batch, record_handler, prepare=credit_batch)
