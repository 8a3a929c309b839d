"""What WeChat's pushed events mean for an order, and when an order may be reminded to confirm
receipt (pure rules of mall.domain.wechat_receipt)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mall.domain import wechat_receipt as rules
from mall.domain.wechat_receipt import ReminderDecision, SettlementOutcome
from tests.unit.test_fulfilment_factory import domain_order

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
SHIPPED = "2026-12-01T08:00:00Z"
SETTLED = {"MsgType": "event", "Event": "trade_manage_order_settlement", "transaction_id": "4200a",
           "merchant_trade_no": "o_1", "confirm_receive_time": 1796500000, "settlement_time": 1796500100}


def test_only_the_push_at_settlement_completes_an_order() -> None:
    assert rules.parse_event(SETTLED).is_settlement
    at_shipping = {k: v for k, v in SETTLED.items() if k not in {"confirm_receive_time", "settlement_time"}}
    assert not rules.parse_event({**at_shipping, "estimated_settlement_time": 1797000000}).is_settlement
    assert not rules.parse_event({**SETTLED, "Event": "trade_manage_remind_shipping"}).is_settlement


def test_a_redelivery_has_the_same_id_and_no_openid_is_kept() -> None:
    first = rules.parse_event({**SETTLED, "FromUserName": "o_openid"})
    again = rules.parse_event(dict(reversed(list({**SETTLED, "FromUserName": "o_openid"}.items()))))
    assert first.message_id == again.message_id
    assert "FromUserName" not in first.fields and first.fields["transaction_id"] == "4200a"
    assert rules.parse_event({**SETTLED, "settlement_time": 1796500101}).message_id != first.message_id


@pytest.mark.parametrize(("status", "transaction", "expected"), [
    ("SHIPPED", None, SettlementOutcome.COMPLETE),
    ("COMPLETED", None, SettlementOutcome.ALREADY_COMPLETED),
    ("PAID", None, SettlementOutcome.NOT_SHIPPED),
    ("SHIPPED", "4200other", SettlementOutcome.TRANSACTION_MISMATCH),
])
def test_the_settlement_decision(status: str, transaction: str | None, expected: SettlementOutcome) -> None:
    order = domain_order(status=status, shipped_at=SHIPPED)
    assert rules.decide_settlement(order, transaction) == expected
    assert rules.decide_settlement(None, "4200a") == SettlementOutcome.UNKNOWN_ORDER


def test_completion_time_is_wechats_within_the_shipment_and_our_clock() -> None:
    order = domain_order(status="SHIPPED", shipped_at=SHIPPED)
    event = rules.parse_event(SETTLED)
    assert rules.completion_time(order, event, NOW) == datetime.fromtimestamp(1796500000, tz=UTC)
    assert rules.completion_time(order, event, datetime(2026, 11, 30, tzinfo=UTC)) == datetime(
        2026, 12, 1, 8, 0, 1, tzinfo=UTC)  # a clock behind the shipment: a second after it


def test_the_reminder_decision() -> None:
    order = domain_order(status="SHIPPED", shipped_at=SHIPPED, carrier="SF", tracking_no="SF1")
    delivered = NOW - timedelta(days=2)
    assert rules.decide_reminder(order, delivered_at=delivered, now=NOW, reminded=False) == ReminderDecision.REMIND
    assert rules.decide_reminder(order, delivered_at=delivered, now=NOW, reminded=True) == \
        ReminderDecision.ALREADY_REMINDED
    assert rules.decide_reminder(order, delivered_at=NOW - timedelta(hours=23), now=NOW, reminded=False) == \
        ReminderDecision.NOT_YET
    assert rules.decide_reminder(order, delivered_at=datetime(2026, 11, 30, tzinfo=UTC), now=NOW,
                                 reminded=False) == ReminderDecision.DELIVERED_BEFORE_SHIPPED
    done = domain_order(status="COMPLETED", shipped_at=SHIPPED, carrier="SF", tracking_no="SF1")
    assert rules.decide_reminder(done, delivered_at=delivered, now=NOW, reminded=False) == \
        ReminderDecision.NOT_SHIPPED
    pickup = domain_order(status="SHIPPED", shipped_at=SHIPPED)
    assert rules.decide_reminder(pickup, delivered_at=delivered, now=NOW, reminded=False) == \
        ReminderDecision.NOT_EXPRESS
    assert rules.decide_reminder(None, delivered_at=delivered, now=NOW, reminded=False) == \
        ReminderDecision.UNKNOWN_ORDER


def test_which_refusals_spend_the_reminder() -> None:
    assert rules.reminder_is_final(10060001) and rules.reminder_is_final(10060029)
    assert not rules.reminder_is_final(-1) and not rules.reminder_is_final(45009)


def test_delivered_at_is_read_from_the_order() -> None:
    assert rules.delivered_at_of(domain_order(delivered_at="2026-12-04T10:00:00Z")) == datetime(
        2026, 12, 4, 10, tzinfo=UTC)
    assert rules.delivered_at_of(domain_order()) is None
    assert rules.delivered_at_of(domain_order(delivered_at="not a time")) is None


def test_the_sweep_considers_deliveries_remindable_within_the_look_back() -> None:
    window = rules.reminder_window(NOW)
    assert (window.since, window.until) == (NOW - timedelta(hours=36), NOW - timedelta(hours=24))
    assert window.holds(NOW - timedelta(hours=36)) and window.holds(NOW - timedelta(hours=24, seconds=1))
    assert not window.holds(NOW - timedelta(hours=24))  # the next run's: the index's key condition is before it
    assert not window.holds(NOW - timedelta(hours=36, seconds=1))  # past the look-back: left
    assert rules.reminder_window(NOW, delay=timedelta(hours=1), lookback=timedelta(hours=2)).since == \
        NOW - timedelta(hours=3)
