"""Receipt through WeChat (小程序发货信息管理服务): what a pushed event means for an order, and
when the order may be reminded to confirm receipt (确认收货提醒). Pure: no I/O (docs/shipping.md)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from mall.clock import parse_instant
from mall.domain.orders import Order, OrderStatus

SETTLEMENT_EVENT = "trade_manage_order_settlement"
REMIND_SHIPPING_EVENT = "trade_manage_remind_shipping"

#: The reminder waits this long after the parcel was signed for, so a buyer who confirms on their own
#: is not reminded; WeChat allows one reminder per order, so it is not spent at once.
REMIND_AFTER_DELIVERY = timedelta(hours=24)

#: How long a delivery stays in the hourly sweep once it became remindable: twelve runs, so eleven
#: failed runs in a row, or a delivery recorded up to twelve hours late, still get their reminder;
#: each hour more is one consistent read of every delivered order's reminder item.
REMIND_LOOKBACK = timedelta(hours=12)

#: Fields recorded from a pushed event (the audit record): identifiers and times, never an openid.
RECORDED_FIELDS = ("Event", "CreateTime", "transaction_id", "merchant_id", "sub_merchant_id", "merchant_trade_no",
                   "pay_time", "shipped_time", "estimated_settlement_time", "confirm_receive_method",
                   "confirm_receive_time", "settlement_time", "msg")


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


@dataclass(frozen=True)
class PushedEvent:
    """One verified message of the push. ``message_id`` is deterministic: WeChat's redelivery of the
    same message maps to the same id (it carries no id of its own)."""

    event: str
    message_id: str
    transaction_id: str | None
    merchant_trade_no: str | None
    confirm_receive_time: int | None
    settlement_time: int | None
    fields: dict[str, Any]

    @property
    def is_settlement(self) -> bool:
        """``trade_manage_order_settlement`` is pushed twice: when shipping is complete (with
        ``estimated_settlement_time``) and at settlement, after the buyer confirmed or WeChat did
        (with ``confirm_receive_time`` / ``settlement_time``). Only the second completes the order."""
        return self.event == SETTLEMENT_EVENT and (self.confirm_receive_time is not None
                                                   or self.settlement_time is not None)


def message_id_of(message: Mapping[str, Any]) -> str:
    canonical = json.dumps(message, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]


def parse_event(message: Mapping[str, Any]) -> PushedEvent:
    kind = message.get("Event") if message.get("MsgType") == "event" else message.get("MsgType")
    fields = {name: message[name] for name in RECORDED_FIELDS
              if name in message and isinstance(message[name], (str, int)) and not isinstance(message[name], bool)}
    return PushedEvent(event=str(kind or "unknown")[:64], message_id=message_id_of(message),
                       transaction_id=_text(message.get("transaction_id")),
                       merchant_trade_no=_text(message.get("merchant_trade_no")),
                       confirm_receive_time=_int(message.get("confirm_receive_time")),
                       settlement_time=_int(message.get("settlement_time")), fields=fields)


def completion_time(order: Order, event: PushedEvent, received: datetime) -> datetime:
    """When the order counts as completed: when WeChat says the buyer confirmed (or settlement ran),
    not after we heard of it (clocks differ), and a second after the shipment at the earliest (the
    history lists the shipment first)."""
    moment = event.confirm_receive_time or event.settlement_time
    at = min(datetime.fromtimestamp(moment, tz=UTC) if moment else received, received)
    if order.shipped_at:
        at = max(at, parse_instant(order.shipped_at) + timedelta(seconds=1))
    return at


class SettlementOutcome(StrEnum):
    COMPLETE = "complete"
    ALREADY_COMPLETED = "already_completed"
    NOT_SHIPPED = "not_shipped"  # recorded for the operators: WeChat settled an order we did not ship
    UNKNOWN_ORDER = "unknown_order"
    TRANSACTION_MISMATCH = "transaction_mismatch"


def decide_settlement(order: Order | None, transaction_id: str | None) -> SettlementOutcome:
    """What WeChat's confirmation of receipt does to ``order``: SHIPPED → COMPLETED once; an order
    already completed (by the buyer, the schedule, 核销 or an earlier push) is left as it is."""
    if order is None:
        return SettlementOutcome.UNKNOWN_ORDER
    if transaction_id and order.transaction_id and transaction_id != order.transaction_id:
        return SettlementOutcome.TRANSACTION_MISMATCH
    if order.status == OrderStatus.COMPLETED:
        return SettlementOutcome.ALREADY_COMPLETED
    if order.status == OrderStatus.SHIPPED:
        return SettlementOutcome.COMPLETE
    return SettlementOutcome.NOT_SHIPPED


# ---- the reminder to confirm receipt (notify_confirm_receive) ---------------------------------------

class ReminderDecision(StrEnum):
    REMIND = "remind"
    UNKNOWN_ORDER = "unknown_order"
    NOT_SHIPPED = "not_shipped"  # completed already, or not shipped yet: nothing to remind
    NOT_EXPRESS = "not_express"  # WeChat reminds only for parcels sent by express
    NO_TRANSACTION = "no_transaction"
    ALREADY_REMINDED = "already_reminded"
    DELIVERED_BEFORE_SHIPPED = "delivered_before_shipped"  # WeChat refuses it (10060029)
    NOT_YET = "not_yet"


def decide_reminder(order: Order | None, *, delivered_at: datetime, now: datetime, reminded: bool,
                    delay: timedelta = REMIND_AFTER_DELIVERY) -> ReminderDecision:
    """Whether to send WeChat's one reminder for ``order``, whose parcel was signed for at
    ``delivered_at``: a SHIPPED express order, not reminded yet, delivered after it shipped and at
    least ``delay`` ago (a delivery time in the future is not yet)."""
    if order is None:
        return ReminderDecision.UNKNOWN_ORDER
    checks = (
        (order.status != OrderStatus.SHIPPED, ReminderDecision.NOT_SHIPPED),
        (not order.carrier or not order.tracking_no, ReminderDecision.NOT_EXPRESS),
        (not order.transaction_id, ReminderDecision.NO_TRANSACTION),
        (reminded, ReminderDecision.ALREADY_REMINDED),
        (bool(order.shipped_at) and delivered_at < parse_instant(str(order.shipped_at)),
         ReminderDecision.DELIVERED_BEFORE_SHIPPED),
        (now - delivered_at < delay, ReminderDecision.NOT_YET),
    )
    return next((decision for failed, decision in checks if failed), ReminderDecision.REMIND)


@dataclass(frozen=True)
class ReminderWindow:
    """The deliveries a sweep considers: signed for at ``since`` or later and before ``until`` (as the
    index's key condition reads them; one signed for at ``until`` exactly is the next run's)."""

    since: datetime
    until: datetime

    def holds(self, delivered_at: datetime) -> bool:
        return self.since <= delivered_at < self.until


def reminder_window(now: datetime, *, delay: timedelta = REMIND_AFTER_DELIVERY,
                    lookback: timedelta = REMIND_LOOKBACK) -> ReminderWindow:
    """Which deliveries the sweep at ``now`` reminds: those that became remindable (``delay`` after
    the signing) within the last ``lookback``; an older one was the business of earlier runs."""
    return ReminderWindow(since=now - delay - lookback, until=now - delay)


def delivered_at_of(order: Order) -> datetime | None:
    """When the parcel was signed for, as the tracking side recorded it on the order (``delivered_at``)."""
    value = order.extra.get("delivered_at")
    if not isinstance(value, str) or not value:
        return None
    try:
        return parse_instant(value)
    except ValueError:
        return None


#: WeChat's answers to notify_confirm_receive that will never change on a retry: the order is
#: unknown to WeChat (10060001) or the signing time is not after the shipment (10060029).
FINAL_REFUSALS = frozenset({10060001, 10060029})


def reminder_is_final(errcode: int) -> bool:
    """A refusal not worth repeating (the reminder is spent): anything but busy (-1) or rate limits."""
    return errcode in FINAL_REFUSALS or errcode not in {-1, 45009, 45011}
