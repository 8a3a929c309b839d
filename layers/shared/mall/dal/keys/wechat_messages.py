"""Keys of the mini-program's message pushes (one record per distinct event, listed by China day)
and of the once-per-order reminder to confirm receipt (docs/data-model.md)."""

from __future__ import annotations

from mall.dal.keys.orders import order_pk
from mall.dal.table import Key

RECEIPT_REMINDER_SK = "RECEIPT_REMINDER"


def wechat_message_key(message_id: str) -> Key:
    """One pushed event, by its deterministic id (a redelivery maps to the same item)."""
    return {"pk": f"WXMSG#{message_id}", "sk": "MESSAGE"}


def wechat_messages_partition(day: str) -> str:
    """The gsi1 partition listing one China day's pushed events (operations' view)."""
    return f"WXMSGS#{day}"


def receipt_reminder_key(order_id: str) -> Key:
    """The order's one reminder to confirm receipt (notify_confirm_receive), under its partition."""
    return {"pk": order_pk(order_id), "sk": RECEIPT_REMINDER_SK}
