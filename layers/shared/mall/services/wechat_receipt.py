"""Receipt through WeChat: the mini-program's message push (a settlement completes the order once,
every other event is recorded and acknowledged) and the one reminder to confirm receipt
(notify_confirm_receive) for delivered, unconfirmed orders (docs/shipping.md)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol

from aws_lambda_powertools import Logger

from mall.api.cursor import cursors
from mall.clock import china_day, iso
from mall.dal.order_items import order_from_item
from mall.dal.orders import OrderRepository, TransactionCancelled
from mall.dal.settings import SettingsRepository
from mall.dal.wechat_messages import ReceiptReminders, WeChatMessageLog
from mall.domain import wechat_receipt as rules
from mall.domain.orders import OrderStatus
from mall.domain.wechat_receipt import ReminderDecision, SettlementOutcome
from mall.errors import TooManyRequests, UpstreamUnavailable
from mall.integrations.wechat import WeChatApiError
from mall.integrations.wechat_messages import PushKeys, PushRefused, open_push
from mall.schemas.wechat_messages import WeChatMessagePage, WeChatMessageView

if TYPE_CHECKING:
    from mall.dal.table import Table

logger = Logger(child=True)

MAX_ATTEMPTS = 3  # re-reads after a lost race on the order
#: A claimed reminder whose run died before WeChat answered is taken over after this long.
CLAIM_TIMEOUT = timedelta(minutes=10)
#: What WeChat expects as the answer to a push it may stop retrying.
ACKNOWLEDGED = "success"


@dataclass(frozen=True)
class ReceiptRepositories:
    orders: OrderRepository
    messages: WeChatMessageLog
    reminders: ReceiptReminders
    settings: SettingsRepository

    @classmethod
    def on(cls, table: Table) -> ReceiptRepositories:
        return cls(orders=OrderRepository(table), messages=WeChatMessageLog(table), reminders=ReceiptReminders(table),
                   settings=SettingsRepository(table))


@dataclass(frozen=True)
class PushReply:
    status: int
    body: str
    outcome: str


# ---- the message push -----------------------------------------------------------------------------

def verify_push_url(*, query: Mapping[str, str | None], keys: PushKeys, now: datetime) -> PushReply:
    """GET: WeChat checks the URL when it is saved; the verified ``echostr`` goes back as it came."""
    from mall.integrations.wechat_messages import verify_url

    try:
        return PushReply(200, verify_url(query, keys, now), "verified")
    except PushRefused as refused:
        return PushReply(refused.status, refused.reason, "refused")


def handle_push(*, query: Mapping[str, str | None], body: bytes, keys: PushKeys, allow_plain: bool,
                repos: ReceiptRepositories, now: datetime) -> PushReply:
    """POST: verify (signature, replay window, safe mode's msg_signature and appid) before anything is
    read; then a settlement completes its order once and every event is recorded once. A refusal is
    4xx with nothing changed; an event we do not act on is still acknowledged (WeChat would retry)."""
    try:
        message = open_push(query, body, keys, now, allow_plain=allow_plain)
    except PushRefused as refused:
        logger.warning("message push refused", extra={"reason": refused.reason})
        return PushReply(refused.status, refused.reason, "refused")
    event = rules.parse_event(message)
    order_id = event.merchant_trade_no
    outcome = (apply_settlement(event, orders=repos.orders, now=now).value if event.is_settlement
               else "recorded")
    first = repos.messages.record(message_id=event.message_id, event=event.event, outcome=outcome, received_at=now,
                                  order_id=order_id, transaction_id=event.transaction_id, fields=event.fields)
    logger.info("message push", extra={"event": event.event, "outcome": outcome, "order_id": order_id,
                                       "first_delivery": first})
    return PushReply(200, ACKNOWLEDGED, outcome)


def apply_settlement(event: rules.PushedEvent, *, orders: OrderRepository, now: datetime) -> SettlementOutcome:
    """WeChat says the buyer confirmed receipt (or it settled the payment): SHIPPED → COMPLETED
    (completed_by wechat) through the same conditional transition as the buyer's own confirmation
    and the schedule's; whichever comes second finds the order completed and changes nothing."""
    if not event.merchant_trade_no:
        return SettlementOutcome.UNKNOWN_ORDER
    for _ in range(MAX_ATTEMPTS):
        order = orders.get(event.merchant_trade_no)
        decision = rules.decide_settlement(order, event.transaction_id)
        if decision != SettlementOutcome.COMPLETE or order is None:
            return decision
        try:
            orders.complete(order, completed_by="wechat", now=rules.completion_time(order, event, now), by="wechat",
                            note="receipt confirmed in WeChat (确认收货)")
            return decision
        except TransactionCancelled:
            continue  # the buyer, the schedule or another delivery moved it: decide again
    order = orders.get(event.merchant_trade_no)
    return rules.decide_settlement(order, event.transaction_id)


# ---- the reminder to confirm receipt -----------------------------------------------------------

class ReminderClient(Protocol):
    def notify_confirm_receive(self, *, transaction_id: str, received_time: int) -> None: ...


@dataclass(frozen=True)
class ReminderResult:
    order_id: str
    outcome: str  # a ReminderDecision other than REMIND, or sent / refused / retry_later / busy
    errcode: int | None = None


def remind_to_confirm(order_id: str, delivered_at: datetime, *, repos: ReceiptRepositories, client: ReminderClient,
                      now: datetime, delay: timedelta = rules.REMIND_AFTER_DELIVERY) -> ReminderResult:
    """Remind the buyer of ``order_id`` (parcel signed for at ``delivered_at``) to confirm receipt,
    once per order: the reminder item is claimed before WeChat is called and settled with its answer.
    Safe to call again at any time (the tracking side on delivery, the sweep later): it does nothing
    for an order not SHIPPED, not delivered ``delay`` ago, or reminded already."""
    order = repos.orders.get(order_id)
    reminded = repos.reminders.held(order_id, stale_before=now - CLAIM_TIMEOUT)
    decision = rules.decide_reminder(order, delivered_at=delivered_at, now=now, reminded=reminded, delay=delay)
    if decision != ReminderDecision.REMIND or order is None or order.transaction_id is None:
        return ReminderResult(order_id, decision.value)
    if not repos.reminders.claim(order_id, delivered_at=delivered_at, now=now, stale_before=now - CLAIM_TIMEOUT):
        return ReminderResult(order_id, ReminderDecision.ALREADY_REMINDED.value)
    try:
        client.notify_confirm_receive(transaction_id=order.transaction_id, received_time=int(delivered_at.timestamp()))
    except WeChatApiError as refused:
        if rules.reminder_is_final(refused.errcode):
            repos.reminders.settle(order_id, claimed_at=now, status="refused", now=now, errcode=refused.errcode,
                                   errmsg=refused.message)
            logger.warning("reminder refused by WeChat", extra={"order_id": order_id, "errcode": refused.errcode})
            return ReminderResult(order_id, "refused", refused.errcode)
        repos.reminders.release(order_id, claimed_at=now)
        return ReminderResult(order_id, "retry_later", refused.errcode)
    except (TooManyRequests, UpstreamUnavailable):
        repos.reminders.release(order_id, claimed_at=now)
        return ReminderResult(order_id, "retry_later")
    repos.reminders.settle(order_id, claimed_at=now, status="sent", now=now)
    return ReminderResult(order_id, "sent")


@dataclass(frozen=True)
class ReminderSweep:
    examined: int
    sent: int
    refused: int
    retry_later: int


REMINDER_PAGE = 200  # index entries a Query of the sweep asks for (an entry is the whole order, ~1 KB)


def countdown_keyed_by_delivery_since(settings: SettingsRepository, since: datetime) -> bool:
    """Whether every delivery recorded since ``since`` moved its order's auto-confirm entry to the
    delivery: the settings in force count from delivery, and so did each version they replaced at
    ``since`` or later (read once per container: versions never change)."""
    versions, complete = settings.in_force_since(since)
    return complete and all(version.settings.orders.auto_confirm_from == "delivery" for version in versions)


def sweep_reminders(*, repos: ReceiptRepositories, client: ReminderClient, now: datetime, limit: int = 500,
                    delay: timedelta = rules.REMIND_AFTER_DELIVERY, lookback: timedelta = rules.REMIND_LOOKBACK,
                    time_left: Callable[[], bool] = lambda: True) -> ReminderSweep:
    """The schedule: SHIPPED orders in the auto-confirm index whose delivery the tracking side
    recorded (``delivered_at``) became remindable (``delay`` after it) within the last ``lookback``
    and that were not reminded: each reminded through ``remind_to_confirm``. Overlapping runs are safe
    (the claim).

    An order's reminder item is read only while its delivery is in that window, not every hour until
    the order is confirmed. Where the index entries are sorted by the delivery (the countdown runs
    from it, and did for every delivery the window can hold) the Query starts at the window too;
    otherwise an entry's key is the shipment, which says nothing of the delivery, and the Query reads
    every entry the delay before ``now`` or older, oldest first.

    ``limit`` bounds the orders a run reminds, not the entries it reads: with the countdown from the
    shipment every SHIPPED order shipped over a day before is read, and a bound on those would leave
    the newest deliveries behind the oldest shipments run after run. The run stops reading only when
    the index is exhausted or ``time_left`` says so."""
    window = rules.reminder_window(now, delay=delay, lookback=lookback)
    not_before = window.since if countdown_keyed_by_delivery_since(repos.settings, window.since) else None
    examined = attempted = sent = refused = retry = 0
    start = None
    while attempted < limit and time_left():
        page = repos.orders.due_for_auto_confirm(window.until, limit=REMINDER_PAGE, start_key=start,
                                                 not_before=not_before)
        candidates = {}
        for item in page.items:
            examined += 1
            order = order_from_item(item)
            delivered = rules.delivered_at_of(order)
            if order.status == OrderStatus.SHIPPED and delivered is not None and window.holds(delivered):
                candidates[order.order_id] = delivered
        for order_id in repos.reminders.reminded(list(candidates), stale_before=now - CLAIM_TIMEOUT):
            candidates.pop(order_id, None)
        for order_id, delivered in candidates.items():
            if attempted >= limit or not time_left():
                break
            attempted += 1
            result = remind_to_confirm(order_id, delivered, repos=repos, client=client, now=now, delay=delay)
            sent += result.outcome == "sent"
            refused += result.outcome == "refused"
            retry += result.outcome == "retry_later"
        start = page.last_key
        if start is None:
            break
    logger.info("receipt reminder sweep", extra={"examined": examined, "sent": sent, "refused": refused,
                                                 "retry_later": retry, "delivered_from": iso(window.since),
                                                 "delivered_until": iso(window.until),
                                                 "keyed_by_delivery": not_before is not None})
    return ReminderSweep(examined=examined, sent=sent, refused=refused, retry_later=retry)


# ---- the admin's view -----------------------------------------------------------------------------

def list_messages(*, messages: WeChatMessageLog, day: str | None, limit: int, cursor: str | None,
                  now: datetime) -> WeChatMessagePage:
    """The events received on China day ``day`` (default: today), newest first; a cursor of another
    day is a 422 ``invalid_cursor``."""
    from mall.services.stats import query_day

    wanted = query_day(day, "day").isoformat() if day is not None else china_day(now)
    start = cursors.decode(cursor, partition=messages.day_partition(wanted))
    page = messages.list_day(wanted, limit=limit, start_key=start)
    items = [WeChatMessageView(message_id=str(i["message_id"]), event=str(i.get("event", "")),
                               outcome=str(i.get("outcome", "")), received_at=str(i.get("received_at", "")),
                               order_id=i.get("order_id"), transaction_id=i.get("transaction_id"),
                               fields={k: int(v) if isinstance(v, Decimal) else v
                                       for k, v in dict(i.get("fields") or {}).items()})
             for i in page.items]
    return WeChatMessagePage(items=items, next_cursor=cursors.encode(page.last_key))
