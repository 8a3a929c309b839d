"""Stream worker: an order became PAID (CREATED → PAID) → first_payment binding, promoters' sales
counters, level upgrades; a refund became SUCCEEDED → the same counters lose the refunded base and
levels earned automatically are re-evaluated.

The table's stream reaches this function through ``FilterCriteria`` that let only order items
whose status went from CREATED to PAID through. Records are handled one by one with ``mall.workers``
batch processing: a failed record is reported in ``batchItemFailures`` and redelivered, and a
redelivery changes nothing (the counters are written once per order, with a marker item in the
same transaction; a binding that exists is left as it is)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mall.clock import utc_now
from mall.dal.table import deserialize, main_table
from mall.observability import logger, metrics
from mall.services.referral.order_paid import OrderPaidRepositories, on_order_paid
from mall.services.referral.refunds import RefundRepositories, on_refund_succeeded
from mall.workers import Batch, EventSource, batch_entrypoint

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
paid_order_repos = OrderPaidRepositories.on(table)
refund_repos = RefundRepositories.on(table)

batch = Batch(EventSource.DYNAMODB_STREAMS)


def record_handler(record: DynamoDBRecord) -> dict[str, Any]:
    raw = record.raw_event.get("dynamodb", {}).get("NewImage") or {}
    order = deserialize(raw)
    if order.get("entity") == "refund" and order.get("status") == "SUCCEEDED":
        refund = on_refund_succeeded(repos=refund_repos, refund=order, now=utc_now())
        logger.info("succeeded refund handled", extra={"refund_id": refund["refund_id"], "counted": refund["counted"],
                                                       "downgraded": len(refund["downgraded"])})
        return refund
    if order.get("sk") != "ORDER" or order.get("status") != "PAID":
        return {"skipped": True}  # the filter should not let these through; never fail on them
    result = on_order_paid(repos=paid_order_repos, order=order, now=utc_now())
    logger.info("paid order handled", extra={"order_id": result["order_id"], "bound": result["bound"],
                                             "counted": result["counted"]})
    if result["counted"]:
        metrics.add_metric(name="ReferralOrdersCounted", unit="Count", value=1)
    return result


handler = batch_entrypoint(batch, record_handler)
