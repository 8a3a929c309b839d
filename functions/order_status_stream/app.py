"""DynamoDB stream (order items only): keep each order's ``STATUS`` entry, the admin's by-status
list (gsi1 ``ORDERS#<status>``), in step with the order whoever changed it, until the deploy reads
the order items' own gsi3 entries alone (``ORDER_STATUS_LIST``, docs/runbook.md); deliver virtual-only
orders when they become PAID (PAID → COMPLETED, completed_by auto); while the stack keeps
``TrackingQueue`` (``TRACKING_QUEUE_URL``, one release: docs/runbook.md), send an order whose parcels
were shipped there too (the shipping upload worker subscribes them anyway); and route every change that
can change commission (paid, completed, a line refunded, closed:
``mall.domain.commission_changes.commission_trigger``) to ``CommissionQueue`` as ``{"order_id", "version"}``
(the order's version after the change, named only when the change raised it: otherwise the message has
no version, so the sync reads the order consistently, and a warning names the order:
``mall.dal.commission_sync.commission_message``).

It is also the table's change router: every change of an entity in
``mall.dal.changes.ROUTED_ENTITIES`` goes on to ``StatsQueue`` and ``NotificationQueue`` (the
stream keeps two readers however many consumers there are). Idempotent; failed records are
reported so only they (and the records after them) are retried."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from mall.clock import utc_now
from mall.config import function_environment
from mall.dal.changes import change_from_stream, change_message, routed
from mall.dal.commission_sync import commission_message, order_image, version_raised
from mall.dal.orders import OrderRepository
from mall.dal.queues import queue_from_env
from mall.dal.shipping import ShippingRepository
from mall.dal.table import main_table
from mall.domain.commission_changes import commission_trigger
from mall.observability import logger, metrics
from mall.services.order_changes import OrderChange, UploadRequests, needs_subscription, on_order_changes
from mall.workers import worker_entrypoint

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
repo = OrderRepository(table, status_list=function_environment().order_status_list)
commission_queue = queue_from_env("COMMISSION_QUEUE_URL")
uploads = UploadRequests(ShippingRepository(table), queue_from_env("SHIPPING_UPLOAD_QUEUE_URL"))
if commission_queue is None and function_environment().function_name:
    logger.warning("COMMISSION_QUEUE_URL is not set: commission will not follow orders")
tracking_queue = queue_from_env("TRACKING_QUEUE_URL")
change_queues = [q for q in (queue_from_env("STATS_QUEUE_URL"), queue_from_env("NOTIFICATION_QUEUE_URL"))
                 if q is not None]


def run(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    failures: list[dict[str, str]] = []
    for record in event.get("Records", []):
        sequence = str((record.get("dynamodb") or {}).get("SequenceNumber", ""))
        if failures:  # keep order per item: everything after a failure is retried too
            failures.append({"itemIdentifier": sequence})
            continue
        try:
            change = change_from_stream(record)
            old, new = change.old, change.new
            on_order_changes(repo=repo, changes=[OrderChange(old, new)], now=utc_now(), uploads=uploads)
            if (new is not None and commission_queue is not None
                    and commission_trigger(order_image(old), order_image(new))):
                commission_queue.send(commission_message(new, old))
                if not version_raised(old, new):
                    # Every write that changes what commission_trigger looks at must raise the
                    # version; the message above names none, so this change is still read right.
                    logger.warning("order changed for commission without raising its version",
                                   extra={"order_id": str(new["order_id"]), "version": new.get("version")})
            if tracking_queue is not None and new is not None and needs_subscription(old, new):
                tracking_queue.send({"order_id": str(new["order_id"])})
            if routed(change):
                message = change_message(change)
                for queue in change_queues:
                    queue.send(message)
        except Exception:
            logger.exception("order stream record failed", extra={"sequence": sequence})
            metrics.add_metric(name="OrderStreamFailures", unit="Count", value=1)
            failures.append({"itemIdentifier": sequence})
    return {"batchItemFailures": failures}


handler = worker_entrypoint(run)
