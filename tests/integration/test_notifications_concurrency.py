"""Subscribe-message dedupe under real concurrency on DynamoDB Local: parallel deliveries of one
change send exactly once; a failed send is claimed again by exactly one retry."""

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
from mall.dal.subscriptions import SubscriptionGrantRepository
from mall.dal.table import Table
from mall.domain.notifications import NotificationSettings
from mall.domain.subscriptions import GrantChange, GrantResult, GrantScene
from mall.integrations.wechat import WeChatApiError
from mall.services.notifications import DeliveryFailed, MessageSender, deliver_change

NOW = datetime.now(UTC)  # records expire 90 days later: DynamoDB Local applies the TTL
SETTINGS = NotificationSettings.model_validate({"commission_earned": {"enabled": True, "template_id": "t"}})


@dataclass(frozen=True)
class Change:
    event_id: str
    old: dict[str, Any] | None
    new: dict[str, Any] | None


CHANGE = Change("evt-concurrent", None, {
    "entity": "commission", "commission_id": "cm_o_1_1_1", "order_id": "o_0123456789abcdef", "level": 1,
    "beneficiary_id": "u_p", "product_name": "大米", "amount_fen": 1_234, "status": "FROZEN",
    "created_at": "2026-03-01T02:03:04Z"})


@pytest.fixture(autouse=True)
def granted(table: Table) -> None:
    """The promoter granted the template (a message without a grant is not sent)."""
    SubscriptionGrantRepository(table).record("u_p", [GrantChange("t", 5, None, GrantResult.ACCEPT)],
                                              GrantScene.PROMOTER_CENTER, NOW)


class SlowWeChat:
    """Takes a moment per call, so parallel deliveries really overlap; fails while ``failing``."""

    def __init__(self) -> None:
        self.calls = 0
        self.failing = False
        self._lock = threading.Lock()

    def send_subscribe_message(self, *, touser: str, template_id: str, data: Mapping[str, str],
                               page: str | None = None, miniprogram_state: str = "formal",
                               lang: str = "zh_CN") -> int | None:
        with self._lock:
            self.calls += 1
        time.sleep(0.05)
        if self.failing:
            raise WeChatApiError("busy", errcode=-1)
        return 1


def deliver_in_parallel(table: Table, wx: SlowWeChat, workers: int) -> list[str]:
    repo = NotificationRepository(table)
    barrier = Barrier(workers)

    def sender() -> MessageSender:
        return wx

    def once(_: int) -> str:
        barrier.wait()
        try:
            deliveries = deliver_change(CHANGE, settings=lambda: SETTINGS, repo=repo, openid_of=lambda uid: "o_p",
                                        sender=sender, now=NOW)
        except NotificationBusy:
            return "busy"
        except DeliveryFailed:
            return "failed"
        return deliveries[0].outcome

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(once, range(workers)))


def test_parallel_deliveries_of_one_change_send_once(table: Table) -> None:
    wx = SlowWeChat()
    outcomes = deliver_in_parallel(table, wx, 12)
    assert wx.calls == 1
    assert outcomes.count("sent") == 1 and set(outcomes) <= {"sent", "busy", "duplicate"}
    record = NotificationRepository(table).get("evt-concurrent#commission_earned")
    assert record is not None and (record["status"], record["attempts"]) == ("SENT", 1)
    # The busy ones come back later (their messages are retried) and find it sent.
    assert deliver_in_parallel(table, wx, 4) == ["duplicate"] * 4 and wx.calls == 1


def test_a_failed_notification_is_retried_by_exactly_one_delivery(table: Table) -> None:
    wx = SlowWeChat()
    wx.failing = True
    first = deliver_in_parallel(table, wx, 8)
    assert first.count("failed") == 1 and wx.calls == 1
    wx.failing = False
    second = deliver_in_parallel(table, wx, 8)
    assert second.count("sent") == 1 and wx.calls == 2
    record = NotificationRepository(table).get("evt-concurrent#commission_earned")
    assert record is not None and (record["status"], record["attempts"]) == ("SENT", 2)
