"""Delivering subscribe messages for table changes (the ``NotificationQueue`` worker's use case).

For one change: decide (``mall.domain.notification_events.notifications_for``), claim the record
(``mall.dal.notifications``: a final record means a redelivery, nothing is sent), look up the
recipient's openid, take one of the recipient's grants of the template (none: recorded SKIPPED,
reason ``no_grant``, nothing sent), call WeChat, record the outcome. 43101 is recorded NOT_SUBSCRIBED
and never retried (the grant stays used); any other failure is recorded FAILED and raised as
``DeliveryFailed`` so the queue message is retried (then dead-lettered), the grant kept for the retry.
A delivery is told from the order's own change: tracking records ``delivered_at`` once, when the last
parcel is signed for."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from mall.api.cursor import cursors
from mall.dal.notifications import (
    NO_GRANT,
    GrantReservation,
    NotificationBusy,
    NotificationRepository,
    NotificationStatus,
    status_listing,
)
from mall.dal.order_items import is_order_item
from mall.domain.notification_events import (
    ChangeLike,
    Notification,
    is_event,
    notifications_for,
)
from mall.domain.notifications import NotificationKind, NotificationSettings
from mall.errors import DomainError
from mall.integrations.wechat import NotSubscribed
from mall.schemas.notifications import NotificationPage, NotificationView

Outcome = Literal["sent", "not_subscribed", "no_recipient", "skipped", "duplicate", "failed"]
#: Entities whose changes can cause a notification (others are skipped without reading anything).
NOTIFYING_ENTITIES = frozenset({"commission", "withdrawal", "binding", "order", "refund"})


class MessageSender(Protocol):
    """What sending needs of ``mall.integrations.wechat.WeChatServerClient``."""

    def send_subscribe_message(self, *, touser: str, template_id: str, data: Mapping[str, str],
                               page: str | None = None, miniprogram_state: str = "formal",
                               lang: str = "zh_CN") -> int | None: ...


@dataclass(frozen=True)
class Delivery:
    notification_id: str
    kind: NotificationKind
    outcome: Outcome
    errcode: int | None = None

    def as_dict(self) -> dict[str, object]:
        return {"notification_id": self.notification_id, "kind": self.kind.value, "outcome": self.outcome,
                "errcode": self.errcode}


class DeliveryFailed(Exception):
    """A notification could not be sent (recorded FAILED): the queue message must be retried."""

    def __init__(self, deliveries: list[Delivery]) -> None:
        failed = [d.notification_id for d in deliveries if d.outcome == "failed"]
        super().__init__(f"notification(s) failed: {failed}")
        self.deliveries = deliveries


def may_notify(change: ChangeLike) -> bool:
    """Cheap pre-check: only changes of these entities can notify (no settings read for the rest)."""
    image = change.new or change.old or {}
    entity = str(image.get("entity", ""))
    if entity == "order":
        return is_order_item(image)  # not the order's by-status entry or another item of its partition
    return entity in NOTIFYING_ENTITIES


def deliver_change(change: ChangeLike, *, settings: Callable[[], NotificationSettings],
                   repo: NotificationRepository, openid_of: Callable[[str], str | None],
                   sender: Callable[[], MessageSender], now: datetime) -> list[Delivery]:
    """Send what ``change`` causes, once. ``settings``, ``openid_of`` and ``sender`` are called only
    when needed (the worker caches them per invocation / process): the settings only for a change
    that is an event (``is_event``), so an order placed or completed reads none. Raises
    ``DeliveryFailed`` after recording every notification's outcome when any failed."""
    if change.new is None or not may_notify(change) or not is_event(change):
        return []
    deliveries = [deliver(n, repo=repo, openid_of=openid_of, sender=sender, now=now)
                  for n in notifications_for(change, settings(), now=now)]
    if any(d.outcome == "failed" for d in deliveries):
        raise DeliveryFailed(deliveries)
    return deliveries


def deliver(notification: Notification, *, repo: NotificationRepository, openid_of: Callable[[str], str | None],
            sender: Callable[[], MessageSender], now: datetime) -> Delivery:
    n = notification
    claim = repo.claim(n, now)  # NotificationBusy propagates: another delivery is sending it right now
    if not claim.send:
        return Delivery(n.notification_id, n.kind, "duplicate")
    openid = openid_of(n.recipient_id)
    if not openid:
        repo.finish(n, NotificationStatus.NO_RECIPIENT, now, attempt=claim.attempt, error="no customer profile")
        return Delivery(n.notification_id, n.kind, "no_recipient")
    grant = repo.reserve_grant(n, now, attempt=claim.attempt, claimed=claim.item)
    if grant == GrantReservation.LOST:
        raise NotificationBusy(n.notification_id)
    if grant == GrantReservation.NO_GRANT:
        repo.finish(n, NotificationStatus.SKIPPED, now, attempt=claim.attempt, reason=NO_GRANT)
        return Delivery(n.notification_id, n.kind, "skipped")
    try:
        msgid = sender().send_subscribe_message(touser=openid, template_id=n.template_id, data=n.data, page=n.page,
                                                miniprogram_state=n.miniprogram_state)
    except NotSubscribed as refused:
        repo.finish(n, NotificationStatus.NOT_SUBSCRIBED, now, attempt=claim.attempt, errcode=refused.errcode,
                    error=refused.message)
        return Delivery(n.notification_id, n.kind, "not_subscribed", refused.errcode)
    except Exception as failure:  # whatever it was is recorded; the message is retried
        errcode = failure.details.get("errcode") if isinstance(failure, DomainError) else None
        repo.finish(n, NotificationStatus.FAILED, now, attempt=claim.attempt,
                    errcode=int(errcode) if isinstance(errcode, int) else None,
                    error=f"{type(failure).__name__}: {failure}")
        return Delivery(n.notification_id, n.kind, "failed", errcode if isinstance(errcode, int) else None)
    repo.finish(n, NotificationStatus.SENT, now, attempt=claim.attempt, msgid=msgid)
    return Delivery(n.notification_id, n.kind, "sent")


# ---- the admin's view -------------------------------------------------------------------------


def admin_list_notifications(*, repo: NotificationRepository, status: str, limit: int,
                             cursor: str | None) -> NotificationPage:
    """Records in ``status`` (e.g. FAILED), most recently changed first."""
    start = cursors.decode(cursor, partition=status_listing(status))
    page = repo.by_status(status, limit=limit, start_key=start)
    return NotificationPage(items=[_view(item) for item in page.items],
                            next_cursor=cursors.encode(page.last_key))


def _view(item: Mapping[str, Any]) -> NotificationView:
    return NotificationView(
        notification_id=str(item.get("notification_id", "")), kind=NotificationKind(item["kind"]),
        status=NotificationStatus(item["status"]), recipient_id=str(item.get("recipient_id", "")),
        template_id=str(item.get("template_id", "")), page=item.get("page"),
        miniprogram_state=str(item.get("miniprogram_state", "formal")),
        data={str(k): str(v) for k, v in (item.get("data") or {}).items()},
        subject={str(k): str(v) for k, v in (item.get("subject") or {}).items()},
        attempts=int(item.get("attempts", 0)), errcode=item.get("errcode"), error=item.get("error"),
        created_at=str(item.get("created_at", "")), updated_at=str(item.get("updated_at", "")),
        sent_at=item.get("sent_at"), reason=item.get("reason"))
