"""Subscribe-message grants on DynamoDB Local: the mini-program's report is recorded (in at most three
round trips), one grant is consumed per message sent and never twice for a redelivery, two messages
racing for one grant send one, a message without a grant is recorded SKIPPED (no_grant) and not sent,
43101 keeps the grant used and is not retried, and nothing happens until template ids are set."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from threading import Barrier
from typing import Any

import pytest

from mall.dal.notifications import NotificationBusy, NotificationRepository
from mall.dal.settings import SettingsRepository
from mall.dal.subscriptions import SubscriptionGrantRepository
from mall.dal.table import Table
from mall.domain.notifications import NotificationSettings
from mall.domain.settings import DistributionSettings
from mall.domain.subscriptions import GrantChange, GrantResult, GrantScene
from mall.integrations.wechat import NotSubscribed, WeChatApiError
from mall.services.notifications import DeliveryFailed, MessageSender, admin_list_notifications, deliver_change
from tests.integration.test_customer_round_trips import CUSTOMER_ROUTE_TRIPS, Trips, call
from tests.unit.test_orders_handlers import Mall, customer_token, make_mall

NOW = datetime.now(UTC)  # records expire 90 days later: DynamoDB Local applies the TTL
BUYER = "u_buyer"
TEMPLATE = "tpl_shipped"
SETTINGS = NotificationSettings.model_validate({"order_shipped": {"enabled": True, "template_id": TEMPLATE}})


@dataclass(frozen=True)
class Change:
    event_id: str
    old: dict[str, Any] | None
    new: dict[str, Any] | None


def shipped(event_id: str, order_id: str = "o_0123456789abcdef") -> Change:
    order = {"pk": f"ORDER#{order_id}", "sk": "ORDER", "entity": "order", "order_id": order_id,
             "buyer_id": BUYER, "status": "PAID", "lines": [{"line_id": "1", "name": "大米"}]}
    return Change(event_id, order, {**order, "status": "SHIPPED", "carrier": "顺丰速运", "tracking_no": "SF1",
                                    "shipped_at": "2026-03-01T02:03:04Z"})


class WeChat:
    """Takes a moment per call, so parallel deliveries overlap; raises ``error`` while it is set."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.error: Exception | None = None
        self._lock = threading.Lock()

    def send_subscribe_message(self, *, touser: str, template_id: str, data: Mapping[str, str],
                               page: str | None = None, miniprogram_state: str = "formal",
                               lang: str = "zh_CN") -> int | None:
        time.sleep(0.05)
        if self.error is not None:
            raise self.error
        with self._lock:
            self.sent.append(template_id)
        return len(self.sent)


def deliver(table: Table, wx: WeChat, change: Change, settings: NotificationSettings = SETTINGS) -> str:
    def sender() -> MessageSender:
        return wx

    try:
        deliveries = deliver_change(change, settings=lambda: settings, repo=NotificationRepository(table),
                                    openid_of=lambda uid: f"openid-{uid}", sender=sender, now=NOW)
    except DeliveryFailed:
        return "failed"
    except NotificationBusy:
        return "busy"
    return ",".join(d.outcome for d in deliveries) or "nothing"


def grant(table: Table, count: int, template_id: str = TEMPLATE) -> None:
    SubscriptionGrantRepository(table).record(BUYER, [GrantChange(template_id, count, None, GrantResult.ACCEPT)],
                                              GrantScene.CHECKOUT, NOW)


def remaining(table: Table) -> tuple[int, int]:
    item = SubscriptionGrantRepository(table).get(BUYER, TEMPLATE) or {}
    return int(item.get("remaining", 0)), int(item.get("used_total", 0))


def test_a_grant_is_consumed_once_however_often_the_change_is_redelivered(table: Table) -> None:
    grant(table, 2)
    wx = WeChat()
    wx.error = WeChatApiError("busy", errcode=-1)
    assert deliver(table, wx, shipped("e1")) == "failed"
    assert remaining(table) == (1, 1)  # held for the retry
    wx.error = None
    assert [deliver(table, wx, shipped("e1")) for _ in range(3)] == ["sent", "duplicate", "duplicate"]
    assert wx.sent == [TEMPLATE] and remaining(table) == (1, 1)
    record = NotificationRepository(table).get("e1#order_shipped")
    assert record is not None and (record["status"], record["grant_template"]) == ("SENT", TEMPLATE)


def test_two_messages_racing_for_one_grant_send_one(table: Table) -> None:
    grant(table, 1)
    wx = WeChat()
    barrier = Barrier(2)

    def once(event_id: str) -> str:
        barrier.wait()
        return deliver(table, wx, shipped(event_id, order_id=f"o_{event_id}0123456789"))

    with ThreadPoolExecutor(2) as pool:
        outcomes = sorted(pool.map(once, ["a", "b"]))
    assert outcomes == ["sent", "skipped"] and len(wx.sent) == 1
    assert remaining(table) == (0, 1)


def test_without_a_grant_the_message_is_skipped_and_listed_for_the_admin(table: Table) -> None:
    wx = WeChat()
    assert deliver(table, wx, shipped("e2")) == "skipped"
    grant(table, 1)  # a later grant does not resurrect the skipped message
    assert deliver(table, wx, shipped("e2")) == "duplicate" and wx.sent == [] and remaining(table) == (1, 0)
    page = admin_list_notifications(repo=NotificationRepository(table), status="SKIPPED", limit=10, cursor=None)
    assert [(v.notification_id, v.reason) for v in page.items] == [("e2#order_shipped", "no_grant")]


def test_43101_uses_the_grant_and_is_not_retried(table: Table) -> None:
    grant(table, 1)
    wx = WeChat()
    wx.error = NotSubscribed("user refuse to accept the msg")
    assert deliver(table, wx, shipped("e3")) == "not_subscribed"
    wx.error = None
    assert deliver(table, wx, shipped("e3")) == "duplicate" and wx.sent == [] and remaining(table) == (0, 1)


def test_a_long_term_grant_covers_every_message_until_turned_off(table: Table) -> None:
    settings = NotificationSettings.model_validate(
        {"order_shipped": {"enabled": True, "template_id": TEMPLATE, "long_term": True}})
    repo = SubscriptionGrantRepository(table)
    repo.record(BUYER, [GrantChange(TEMPLATE, 0, True, GrantResult.ACCEPT)], GrantScene.ORDER, NOW)
    wx = WeChat()
    assert [deliver(table, wx, shipped(e, f"o_{e}0123456789"), settings) for e in ("l1", "l2")] == ["sent"] * 2
    repo.record(BUYER, [GrantChange(TEMPLATE, 0, False, GrantResult.REJECT)], GrantScene.ORDER, NOW)
    assert deliver(table, wx, shipped("l3", "o_l30123456789"), settings) == "skipped" and len(wx.sent) == 2


def test_template_ids_unset_send_and_record_nothing(table: Table) -> None:
    grant(table, 3)
    wx = WeChat()
    unset = NotificationSettings()
    assert deliver(table, wx, shipped("e4"), unset) == "nothing"
    delivered = shipped("e5")
    delivered_order = {**delivered.new, "delivered_at": "2026-03-02T06:30:00Z"}
    assert deliver(table, wx, Change("e5", delivered.new, delivered_order), unset) == "nothing"
    assert wx.sent == [] and remaining(table) == (3, 0)
    assert NotificationRepository(table).get("e4#order_shipped") is None


@pytest.fixture
def mall(table: Table, monkeypatch: pytest.MonkeyPatch) -> Mall:
    return make_mall(monkeypatch)


def test_the_report_route_records_grants_within_three_round_trips(table: Table, mall: Mall) -> None:
    settings = SettingsRepository(table)
    document = DistributionSettings(notifications=NotificationSettings.model_validate(
        {"order_shipped": {"enabled": True, "template_id": TEMPLATE},
         "refund_result": {"enabled": True, "template_id": "tpl_refund"}}))
    settings.save(document, based_on=settings.current().version, saved_by="admin:test", now=NOW)
    user_id, token = customer_token("grants")
    trips = Trips()
    body = {"scene": "checkout", "results": [{"template_id": TEMPLATE, "result": "accept"},
                                             {"template_id": "tpl_refund", "result": "reject"},
                                             {"template_id": "made_up", "result": "accept"}]}
    status, answer = trips.of(lambda: call(mall, "me_subscriptions", "POST /me/subscriptions", token=token,
                                           body=body))
    assert status == 200, answer
    assert len(trips.sent) <= CUSTOMER_ROUTE_TRIPS, trips.sent
    assert answer["ignored"] == ["made_up"]
    assert {t["kind"]: (t["granted"], t["remaining"]) for t in answer["templates"]} == {
        "order_shipped": (True, 1), "refund_result": (False, 0)}
    item = SubscriptionGrantRepository(table).get(user_id, TEMPLATE)
    assert item is not None and (item["remaining"], item["last_scene"]) == (1, "checkout")
    assert SubscriptionGrantRepository(table).get(user_id, "made_up") is None
    status, mine = trips.of(lambda: call(mall, "me_subscriptions", "GET /me/subscriptions", token=token))
    assert status == 200 and mine["templates"] == answer["templates"] and len(trips.sent) <= CUSTOMER_ROUTE_TRIPS
    status, refused = call(mall, "me_subscriptions", "POST /me/subscriptions", token=token,
                           body={"scene": "checkout", "results": [{"template_id": TEMPLATE, "result": "maybe"}]})
    assert status == 422 and "results" in str(refused), refused
