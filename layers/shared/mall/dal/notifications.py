"""Subscribe-message records (通知记录): one per notification, written before it is sent, so a
redelivered change never sends twice what was already sent or refused (keys: docs/data-model.md,
"notifications").

``NOTIFICATION#<event_id>#<kind> / NOTIFICATION``: the change's stream event id is the same on every
redelivery, so it is the dedupe key. Lifecycle (each step one conditional write)::

    (absent) ─claim→ SENDING ─43101→ NOT_SUBSCRIBED   (final: never retried)
       FAILED ─claim→    │    ─ok───→ SENT             (final)
                         │    ─no openid→ NO_RECIPIENT (final)
                         │    ─no grant──→ SKIPPED     (final, reason no_grant)
                         └────other error→ FAILED      (the queue message is retried; claimable again)

Before calling WeChat a delivery reserves the user's grant (``reserve_grant``): one transaction that
marks the record ``grant_template`` / ``grant_reserved_at`` (only while this delivery's claim holds
and no grant of that template was reserved for it before) and takes one from the user's grant of
the template (only while one is left; a long-term grant is only checked). A retry of a FAILED send
finds the grant already reserved and uses it, so a redelivered change never consumes twice, and of
two messages racing for one grant exactly one gets it.

A claim is ``SET status = SENDING, attempts + 1, claimed_until`` conditional on the record being
absent, FAILED, or SENDING with an expired claim (its sender died mid-call). Two deliveries of one
message at once: one claims, the other sees SENDING and its message is retried later (then it
finds the final status). WeChat has no idempotency key, so a sender that dies *after* WeChat accepted
the message but before recording SENT can cause one duplicate after the claim expires: that is the
at-least-once price, paid only on a crash.

gsi1 ``NOTIFICATIONS#<status>`` / ``<updated_at>#<notification_id>`` (the admin's list by status),
gsi2 ``USER_NOTIFICATIONS#<recipient>`` / ``<created_at>#<notification_id>`` (a promoter's own).
Records expire (``expires_at``) after ``RETENTION_DAYS``: they are delivery receipts, not business
records."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from mall.clock import epoch, iso
from mall.dal.keys import notification_key, notification_status_partition, recipient_partition, subscribe_grant_key
from mall.dal.table import ConditionFailed, Item, Key, Page, Table, TransactionCancelled, Write
from mall.domain.notification_events import Notification

RETENTION_DAYS = 90
#: How long a claim keeps other deliveries away (well above one WeChat call with its token refresh).
CLAIM_SECONDS = 120


class NotificationStatus(StrEnum):
    SENDING = "SENDING"  # claimed: a sender is calling WeChat
    SENT = "SENT"  # WeChat accepted it
    NOT_SUBSCRIBED = "NOT_SUBSCRIBED"  # 43101: the promoter has not subscribed; never retried
    NO_RECIPIENT = "NO_RECIPIENT"  # the recipient has no customer profile / openid; never retried
    FAILED = "FAILED"  # any other error: retried with the queue message, then its DLQ
    SKIPPED = "SKIPPED"  # not sent: the recipient holds no grant of the template (reason no_grant); final


FINAL: frozenset[NotificationStatus] = frozenset({NotificationStatus.SENT, NotificationStatus.NOT_SUBSCRIBED,
                                                  NotificationStatus.NO_RECIPIENT, NotificationStatus.SKIPPED})
#: Why a notification was SKIPPED.
NO_GRANT = "no_grant"


class GrantReservation(StrEnum):
    RESERVED = "reserved"  # one grant taken for this notification now
    HELD = "held"  # taken by an earlier attempt of the same notification: use it
    NO_GRANT = "no_grant"  # nothing to take
    LOST = "lost"  # this delivery's claim expired and another took over


def status_listing(status: str) -> tuple[str, str]:
    """The index partition records in ``status`` are listed from (what a cursor of that list is bound to)."""
    return ("gsi1pk", notification_status_partition(status))


class NotificationBusy(Exception):
    """Another delivery holds a live claim on the notification: retry the message later."""

    def __init__(self, notification_id: str) -> None:
        super().__init__(f"notification {notification_id} is being sent by another delivery")
        self.notification_id = notification_id


@dataclass(frozen=True)
class Claim:
    """The outcome of ``claim``: send it (``send``) or leave it (a final record, as it is)."""

    send: bool
    attempt: int
    item: Item


class NotificationRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    def claim(self, notification: Notification, now: datetime) -> Claim:
        """Mark ``notification`` SENDING for this delivery (creating its record the first time).
        A final record is returned untouched (``send=False``); a live claim by another delivery
        raises ``NotificationBusy``."""
        n = notification
        at = iso(now)
        names = {"#s": "status", "#data": "data", "#kind": "kind"}
        values: dict[str, Any] = {
            ":sending": NotificationStatus.SENDING.value, ":failed": NotificationStatus.FAILED.value,
            ":now_epoch": epoch(now), ":until": epoch(now) + CLAIM_SECONDS, ":at": at, ":one": 1,
            ":entity": "notification", ":id": n.notification_id, ":kind": n.kind.value, ":event": n.event_id,
            ":recipient": n.recipient_id, ":template": n.template_id, ":state": n.miniprogram_state,
            ":data": dict(n.data), ":subject": dict(n.subject),
            ":expires": epoch(now + timedelta(days=RETENTION_DAYS)),
            ":g1pk": notification_status_partition(NotificationStatus.SENDING.value),
            ":g1sk": f"{at}#{n.notification_id}",
            ":g2pk": recipient_partition(n.recipient_id), ":g2sk": f"{at}#{n.notification_id}",
        }
        sets = ["#s = :sending", "entity = :entity", "notification_id = :id", "#kind = :kind", "event_id = :event",
                "recipient_id = :recipient", "template_id = :template", "miniprogram_state = :state",
                "#data = :data", "subject = :subject", "claimed_until = :until", "updated_at = :at",
                "created_at = if_not_exists(created_at, :at)", "expires_at = if_not_exists(expires_at, :expires)",
                "gsi1pk = :g1pk", "gsi1sk = :g1sk", "gsi2pk = if_not_exists(gsi2pk, :g2pk)",
                "gsi2sk = if_not_exists(gsi2sk, :g2sk)"]
        tail = " ADD attempts :one"
        if n.page:
            sets.append("page = :page")
            values[":page"] = n.page
        else:
            tail += " REMOVE page"  # a retry under settings without a page
        try:
            item = self._table.update(
                notification_key(n.notification_id), "SET " + ", ".join(sets) + tail,
                condition="attribute_not_exists(pk) OR #s = :failed OR (#s = :sending AND claimed_until < :now_epoch)",
                names=names, values=values)
        except ConditionFailed as held:
            current = held.item or {}
            if current.get("status") == NotificationStatus.SENDING.value:
                raise NotificationBusy(n.notification_id) from held
            return Claim(send=False, attempt=int(current.get("attempts", 0)), item=current)
        return Claim(send=True, attempt=int(item.get("attempts", 1)), item=item)

    def reserve_grant(self, notification: Notification, now: datetime, *, attempt: int,
                      claimed: Item) -> GrantReservation:
        """Take one of the recipient's grants of the notification's template for it (see the module).
        A grant taken by an earlier attempt under another template (the merchant changed it since)
        does not cover this one."""
        n = notification
        if claimed.get("grant_template") == n.template_id:
            return GrantReservation.HELD
        grant = subscribe_grant_key(n.recipient_id, n.template_id)
        mark = Write.update(
            self._table.name, notification_key(n.notification_id),
            "SET grant_template = :template, grant_reserved_at = :at",
            condition="#s = :sending AND attempts = :attempt AND "
                      "(attribute_not_exists(grant_template) OR grant_template <> :template)",
            names={"#s": "status"},
            values={":template": n.template_id, ":at": iso(now), ":sending": NotificationStatus.SENDING.value,
                    ":attempt": attempt})
        if n.long_term:
            take = Write.check(self._table.name, grant, "long_term = :on", values={":on": True})
        else:
            take = Write.update(self._table.name, grant, "SET remaining = remaining - :one, last_used_at = :at "
                                "ADD used_total :one", condition="remaining >= :one",
                                values={":one": 1, ":at": iso(now)})
        try:
            self._table.transact([mark, take])
        except TransactionCancelled as cancelled:
            if 0 in cancelled.conditional_failures:
                return GrantReservation.LOST
            if 1 in cancelled.conditional_failures:
                return GrantReservation.NO_GRANT
            raise
        return GrantReservation.RESERVED

    def finish(self, notification: Notification, status: NotificationStatus, now: datetime, *, attempt: int,
               errcode: int | None = None, error: str | None = None, msgid: int | None = None,
               reason: str | None = None) -> bool:
        """Record the outcome of this delivery's send. False when the claim was lost meanwhile (it
        expired and another delivery took over: that one records its own outcome)."""
        at = iso(now)
        names = {"#s": "status"}
        values: dict[str, Any] = {":status": status.value, ":at": at, ":sending": NotificationStatus.SENDING.value,
                                  ":attempt": attempt, ":g1pk": notification_status_partition(status.value),
                                  ":g1sk": f"{at}#{notification.notification_id}"}
        sets = ["#s = :status", "updated_at = :at", "gsi1pk = :g1pk", "gsi1sk = :g1sk"]
        removes = ["claimed_until"]
        if status == NotificationStatus.SENT:
            sets.append("sent_at = :at")
            removes += ["errcode", "#error"]
            names["#error"] = "error"
            if msgid is not None:
                sets.append("msgid = :msgid")
                values[":msgid"] = msgid
        else:
            if reason:
                sets.append("reason = :reason")
                values[":reason"] = reason
            if errcode is not None:
                sets.append("errcode = :errcode")
                values[":errcode"] = errcode
            if error:
                sets.append("#error = :error")
                names["#error"] = "error"
                values[":error"] = error[:500]
        update = "SET " + ", ".join(sets) + " REMOVE " + ", ".join(removes)
        try:
            self._table.update(notification_key(notification.notification_id), update,
                               condition="#s = :sending AND attempts = :attempt", names=names, values=values)
        except ConditionFailed:
            return False
        return True

    def get(self, notification_id: str) -> Item | None:
        return self._table.get(notification_key(notification_id), consistent=True)

    def by_status(self, status: str, *, limit: int, start_key: Key | None = None) -> Page:
        """Records in ``status``, most recently changed first (the admin's view of failures)."""
        return self._table.query(partition=status_listing(status), index="gsi1", limit=limit,
                                 start_key=start_key, newest_first=True)

    def for_recipient(self, user_id: str, *, limit: int, start_key: Key | None = None) -> Page:
        """A promoter's notifications, newest first."""
        return self._table.query(partition=("gsi2pk", recipient_partition(user_id)), index="gsi2", limit=limit,
                                 start_key=start_key, newest_first=True)


def record_view(item: Mapping[str, Any]) -> dict[str, Any]:
    """The fields an admin may see (no openid is ever stored)."""
    fields = ("notification_id", "kind", "event_id", "recipient_id", "template_id", "page", "miniprogram_state",
              "data", "subject", "status", "attempts", "errcode", "error", "msgid", "created_at", "updated_at",
              "sent_at", "reason", "grant_template", "grant_reserved_at")
    return {name: item[name] for name in fields if name in item}
