"""The mini-program's pushed events as recorded (one item per distinct event, listed by China day for
the operators) and each order's one reminder to confirm receipt (docs/data-model.md)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from mall.clock import china_day, iso
from mall.dal.keys import receipt_reminder_key, wechat_message_key, wechat_messages_partition
from mall.dal.table import ConditionFailed, Item, Key, Page, Table, Write

#: Recorded events are kept this long (DynamoDB TTL), long enough for a dispute about a settlement.
MESSAGE_RETENTION = timedelta(days=400)


class WeChatMessageLog:
    def __init__(self, table: Table) -> None:
        self._table = table

    def record(self, *, message_id: str, event: str, outcome: str, received_at: datetime,
               order_id: str | None, transaction_id: str | None, fields: Mapping[str, Any]) -> bool:
        """Record a pushed event once. False when the same event was recorded already (a redelivery):
        the first record, with the outcome it had, stays."""
        at = iso(received_at)
        item: dict[str, Any] = {
            **wechat_message_key(message_id), "entity": "wechat_message", "message_id": message_id,
            "event": event, "outcome": outcome, "received_at": at, "fields": dict(fields),
            "gsi1pk": wechat_messages_partition(china_day(received_at)), "gsi1sk": f"{at}#{message_id}",
            "expires_at": int((received_at + MESSAGE_RETENTION).timestamp()),
        }
        if order_id:
            item["order_id"] = order_id
        if transaction_id:
            item["transaction_id"] = transaction_id
        try:
            self._table.put(item, condition="attribute_not_exists(pk)")
        except ConditionFailed:
            return False
        return True

    def get(self, message_id: str) -> Item | None:
        return self._table.get(wechat_message_key(message_id), consistent=True)

    def list_day(self, day: str, *, limit: int = 100, start_key: Key | None = None) -> Page:
        """The events received on China day ``day``, newest first."""
        return self._table.query(partition=("gsi1pk", wechat_messages_partition(day)), index="gsi1", limit=limit,
                                 start_key=start_key, newest_first=True)

    @staticmethod
    def day_partition(day: str) -> tuple[str, str]:
        """The index partition a page position of ``list_day`` belongs to (what binds its cursors)."""
        return ("gsi1pk", wechat_messages_partition(day))


class ReceiptReminders:
    """Each order's reminder (``RECEIPT_REMINDER`` under the order): claimed before WeChat is called,
    then settled with WeChat's answer, so the reminder is sent at most once per claim and a run
    that died mid-way is taken over only after ``stale_before``."""

    def __init__(self, table: Table) -> None:
        self._table = table

    def reminded(self, order_ids: Sequence[str], *, stale_before: datetime) -> set[str]:
        """Of ``order_ids``, those whose reminder was sent, refused or is being sent (claimed since
        ``stale_before``): one batch read."""
        if not order_ids:
            return set()
        items = self._table.batch_get([receipt_reminder_key(o) for o in order_ids], consistent=True)
        return {str(i["order_id"]) for i in items if _holds(i, stale_before)}

    def held(self, order_id: str, *, stale_before: datetime) -> bool:
        """Whether the order's reminder was sent, refused or is being sent by a live run."""
        item = self._table.get(receipt_reminder_key(order_id), consistent=True)
        return item is not None and _holds(item, stale_before)

    def get(self, order_id: str) -> Item | None:
        return self._table.get(receipt_reminder_key(order_id), consistent=True)

    def claim(self, order_id: str, *, delivered_at: datetime, now: datetime, stale_before: datetime) -> bool:
        """Claim the order's reminder; False when it was sent, refused or is being sent."""
        try:
            self._table.put(
                {**receipt_reminder_key(order_id), "entity": "receipt_reminder", "order_id": order_id,
                 "status": "claimed", "claimed_at": iso(now), "delivered_at": iso(delivered_at)},
                condition="attribute_not_exists(pk) OR (#status = :claimed AND claimed_at < :stale)",
                names={"#status": "status"}, values={":claimed": "claimed", ":stale": iso(stale_before)})
        except ConditionFailed:
            return False
        return True

    def settle(self, order_id: str, *, claimed_at: datetime, status: str, now: datetime,
               errcode: int | None = None, errmsg: str | None = None) -> None:
        """Record WeChat's answer on the claim this run holds (``status`` sent or refused)."""
        names = {"#status": "status"}
        values: dict[str, Any] = {":status": status, ":at": iso(now), ":claimed": "claimed", ":mine": iso(claimed_at)}
        update = "SET #status = :status, settled_at = :at"
        if errcode is not None:
            update += ", errcode = :errcode, errmsg = :errmsg"
            values |= {":errcode": errcode, ":errmsg": (errmsg or "")[:200]}
        self._table.update(receipt_reminder_key(order_id), update,
                           condition="#status = :claimed AND claimed_at = :mine", names=names, values=values)

    def release(self, order_id: str, *, claimed_at: datetime) -> None:
        """Give the claim back (WeChat could not be reached): a later run may try again."""
        try:
            self._table.write_one(Write.delete(self._table.name, receipt_reminder_key(order_id),
                                               condition="#status = :claimed AND claimed_at = :mine",
                                               names={"#status": "status"},
                                               values={":claimed": "claimed", ":mine": iso(claimed_at)}))
        except ConditionFailed:
            return  # taken over meanwhile: the other run owns it now


def _holds(item: Item, stale_before: datetime) -> bool:
    return item.get("status") != "claimed" or str(item.get("claimed_at", "")) >= iso(stale_before)
