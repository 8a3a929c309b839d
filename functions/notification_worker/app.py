"""SQS worker (``NotificationQueue``): subscribe messages (订阅消息) for table changes.

The stream router (``functions/order_status_stream``) forwards every change of the routed entities
as ``mall.dal.changes.change_message``. Each message runs ``mall.services.notifications.deliver_change``:
commission earned / settled, withdrawal status and new team member messages go to the promoter,
shipped / delivered / refund result to the buyer, once per change (records keyed by the change's
event id), and only where the recipient holds a grant of the template (otherwise recorded SKIPPED).
Errcode 43101 (not subscribed) is recorded and not retried; any other failure reports the message in
``batchItemFailures`` so it is redelivered after the visibility timeout, and after ``maxReceiveCount``
deliveries it moves to ``DeadLetterQueue``.
A malformed message is dropped (logged as an error, metric ``NotificationMessagesMalformed``).

The settings document is read at most once per invocation, and only when a message is an event
(``mall.domain.notification_events.is_event``: an order placed or completed is none);
recipients' openids are cached for the invocation too."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mall.clock import utc_now
from mall.config import get_settings
from mall.dal.changes import parse_change
from mall.dal.identity import CustomerRepository
from mall.dal.notifications import NotificationBusy, NotificationRepository
from mall.dal.settings import SettingsRepository
from mall.dal.table import main_table
from mall.dal.wechat_tokens import ForceRefreshLease
from mall.domain.notifications import NotificationSettings
from mall.integrations.wechat import WeChatServerClient, server_client
from mall.observability import logger, metrics
from mall.services.notifications import Delivery, DeliveryFailed, deliver_change
from mall.workers import Batch, EventSource, batch_entrypoint

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

# Composition root: built once per cold start, shared by every invocation.
config = get_settings()
table = main_table()
repo = NotificationRepository(table)
customers = CustomerRepository(table)
settings_repo = SettingsRepository(table)
force_gate = ForceRefreshLease(table)
# An invocation where every record fails still answers batchItemFailures (same effect: all retried).
batch = Batch(EventSource.SQS, raise_on_entire_batch_failure=False)

_client: WeChatServerClient | None = None
_invocation: dict[str, Any] = {}


def wechat() -> WeChatServerClient:
    """One client per process (its access token is cached per process); the secret is read on first use."""
    global _client  # noqa: PLW0603 (lazy: a batch with nothing to send never reads the secret)
    if _client is None:
        _client = server_client(force_gate=force_gate)
    return _client


def notification_settings() -> NotificationSettings:
    if "settings" not in _invocation:
        _invocation["settings"] = settings_repo.current().settings.notifications
    found: NotificationSettings = _invocation["settings"]
    return found


def openid_of(user_id: str) -> str | None:
    openids: dict[str, str | None] = _invocation.setdefault("openids", {})
    if user_id not in openids:
        customer = customers.get(user_id)
        openids[user_id] = customer.openid if customer else None
    return openids[user_id]


def _count(delivery: Delivery) -> None:
    # A count in the invocation's log line, not a metric per kind and outcome (mall.observability):
    # no alarm or dashboard reads it.
    metrics.add_metric(name=f"Notifications_{delivery.kind.value}_{delivery.outcome}", unit="Count", value=1)


def record_handler(record: SQSRecord) -> dict[str, Any]:
    change = parse_change(record.body)
    if change is None:  # redelivering cannot fix it: drop it, loudly
        logger.error("malformed notification message dropped", extra={"message_id": record.message_id})
        metrics.add_metric(name="NotificationMessagesMalformed", unit="Count", value=1)
        return {"skipped": "malformed"}
    try:
        deliveries = deliver_change(change, settings=notification_settings, repo=repo, openid_of=openid_of,
                                    sender=wechat, now=utc_now())
    except DeliveryFailed as failed:
        for delivery in failed.deliveries:
            _count(delivery)
        logger.warning("notification failed; the message will be retried",
                       extra={"event_id": change.event_id, "deliveries": [d.as_dict() for d in failed.deliveries]})
        raise
    except NotificationBusy:
        logger.info("notification is being sent by another delivery; retried later",
                    extra={"event_id": change.event_id})
        raise
    for delivery in deliveries:
        _count(delivery)
        logger.info("notification", extra={"event_id": change.event_id, **delivery.as_dict()})
    return {"event_id": change.event_id, "deliveries": [d.as_dict() for d in deliveries]}


def _start_invocation() -> None:
    _invocation.clear()  # settings and openids are read afresh by every invocation


handler = batch_entrypoint(batch, record_handler, before=_start_invocation)
