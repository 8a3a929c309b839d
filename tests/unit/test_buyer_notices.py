"""Buyers' subscribe messages (shipped, delivered, refund result) and the grant rules: which change
sends which, every value within WeChat's limits (参数值内容限制: thing ≤ 20 characters,
character_string ≤ 32 letters/digits/symbols, phrase ≤ 5 Chinese characters), and no personal data."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from mall.domain.notification_events import notifications_for
from mall.domain.notifications import BUYER_KINDS, NotificationKind, NotificationSettings
from mall.domain.subscriptions import GrantReport, GrantResult, decide_grants

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ORDER = "o_01hxyz0000000000abcdefgh"
BUYER = "u_buyer000000000000000000"
PHONE, NAME, STREET = "13812345678", "张三丰", "西湖区文三路 100 号 8 幢 1203 室"
LONG_NAME = "特级明前西湖龙井茶叶礼盒装 250g × 2 罐（含手提袋）"


@dataclass(frozen=True)
class FakeChange:
    event_id: str
    old: dict[str, Any] | None
    new: dict[str, Any] | None


def buyer_settings(**overrides: Any) -> NotificationSettings:
    document: dict[str, Any] = {kind.value: {"enabled": True, "template_id": f"tpl_{kind.value}"}
                                for kind in BUYER_KINDS}
    document.update(overrides)
    return NotificationSettings.model_validate(document)


def order(**fields: Any) -> dict[str, Any]:
    return {"pk": f"ORDER#{ORDER}", "sk": "ORDER", "entity": "order", "order_id": ORDER, "buyer_id": BUYER,
            "status": "PAID", "lines": [{"line_id": "1", "name": LONG_NAME, "quantity": 2},
                                        {"line_id": "2", "name": "茶具", "quantity": 1}],
            "address": {"name": NAME, "phone": PHONE, "detail": STREET}, "contact_phone": PHONE,
            "carrier": "顺丰速运", "tracking_no": "SF1234567890123", "version": 3, **fields}


def refund(**fields: Any) -> dict[str, Any]:
    return {"pk": f"ORDER#{ORDER}", "sk": "REFUND#r_1", "entity": "refund", "refund_id": "r_1", "order_id": ORDER,
            "buyer_id": BUYER, "status": "PROCESSING", "amount_fen": 12_345, "reason": f"联系 {PHONE}",
            "version": 2, **fields}


def check_limits(data: dict[str, str]) -> None:
    for keyword, value in data.items():
        kind = re.match(r"[a-z_]+", keyword)
        assert kind is not None
        if kind.group(0) == "thing":
            assert 1 <= len(value) <= 20, (keyword, value)
        if kind.group(0) == "character_string":
            assert re.fullmatch(r"[\x21-\x7e]{1,32}", value), (keyword, value)
        if kind.group(0) == "phrase":
            assert re.fullmatch(r"[\u4e00-\u9fff]{1,5}", value), (keyword, value)
        if kind.group(0) == "time":
            assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", value), (keyword, value)
        if kind.group(0) == "amount":
            assert re.fullmatch(r"¥\d{1,10}\.\d{2}", value), (keyword, value)
        for secret in (PHONE, NAME, "文三路", ORDER):
            assert secret not in value, (keyword, value)


def test_paid_to_shipped_tells_the_buyer_once_with_values_in_limits() -> None:
    change = FakeChange("e1", order(), order(status="SHIPPED", shipped_at="2026-03-01T02:03:04Z"))
    (n,) = notifications_for(change, buyer_settings(), now=NOW)
    assert (n.kind, n.recipient_id, n.template_id) == (NotificationKind.ORDER_SHIPPED, BUYER, "tpl_order_shipped")
    assert n.data == {"character_string1": "o_01hx****efgh", "thing2": "特级明前西湖龙井茶叶礼盒装 250g …",
                      "thing3": "顺丰速运", "character_string4": "SF1234567890123", "time5": "2026-03-01 10:03"}
    assert n.page == f"pages/orders/detail?order_id={ORDER}"
    check_limits(dict(n.data))
    # A later parcel of a split delivery, or any other change, says nothing more.
    shipped = order(status="SHIPPED", shipped_at="2026-03-01T02:03:04Z")
    assert notifications_for(FakeChange("e2", shipped, {**shipped, "tracking_no": "SF2"}), buyer_settings()) == []
    assert notifications_for(FakeChange("e3", order(status="CREATED"), order()), buyer_settings()) == []


@pytest.mark.parametrize(("status", "at", "text"), [("SUCCEEDED", "succeeded_at", "退款成功"),
                                                    ("FAILED", "failed_at", "退款异常"),
                                                    ("CLOSED", "closed_at", "退款关闭")])
def test_a_refund_result_tells_the_buyer_the_amount_and_outcome(status: str, at: str, text: str) -> None:
    change = FakeChange("e4", refund(), refund(status=status, **{at: "2026-03-01T04:00:00Z"}))
    (n,) = notifications_for(change, buyer_settings(), now=NOW)
    assert (n.kind, n.recipient_id) == (NotificationKind.REFUND_RESULT, BUYER)
    assert n.data["amount2"] == "¥123.45" and n.data["phrase3"] == text and n.data["time5"] == "2026-03-01 12:00"
    assert n.subject == {"order_id": ORDER, "refund_id": "r_1"}
    check_limits(dict(n.data))


def test_a_refund_still_in_progress_or_unchanged_says_nothing() -> None:
    assert notifications_for(FakeChange("e5", refund(status="REQUESTED"), refund()), buyer_settings()) == []
    done = refund(status="SUCCEEDED")
    assert notifications_for(FakeChange("e6", done, {**done, "version": 3}), buyer_settings()) == []


def test_the_order_gaining_its_delivery_tells_the_buyer_once() -> None:
    shipped = order(status="SHIPPED", shipped_at="2026-03-01T02:03:04Z")
    delivered = {**shipped, "delivered_at": "2026-03-02T06:30:00Z", "version": 4}
    (n,) = notifications_for(FakeChange("d1", shipped, delivered), buyer_settings(), now=NOW)
    assert (n.kind, n.recipient_id) == (NotificationKind.ORDER_DELIVERED, BUYER)
    assert n.data["phrase3"] == "已签收" and n.data["time4"] == "2026-03-02 14:30"
    assert n.data["thing2"].startswith("特级明前西湖龙井")
    check_limits(dict(n.data))
    # Any later change of the delivered order (its countdown, its completion) says nothing more.
    assert notifications_for(FakeChange("d2", delivered, {**delivered, "version": 5}), buyer_settings()) == []
    completed = {**delivered, "status": "COMPLETED", "version": 5}
    assert notifications_for(FakeChange("d3", delivered, completed), buyer_settings()) == []


def test_nothing_is_sent_until_the_merchant_sets_template_ids() -> None:
    defaults = NotificationSettings()
    changes = [FakeChange("a", order(), order(status="SHIPPED")),
               FakeChange("b", refund(), refund(status="SUCCEEDED")),
               FakeChange("c", order(status="SHIPPED"), order(status="SHIPPED", delivered_at="2026-03-02T06:30:00Z"))]
    assert [notifications_for(c, defaults, now=NOW) for c in changes] == [[], [], []]


def test_a_configured_long_template_field_value_is_cut_to_its_type() -> None:
    settings = buyer_settings(order_shipped={"enabled": True, "template_id": "t1",
                                             "fields": {"thing1": "tracking_no", "character_string2": "order_no",
                                                        "thing3": "product"}})
    (n,) = notifications_for(FakeChange("e7", order(), order(status="SHIPPED", tracking_no="X" * 40)), settings,
                             now=NOW)
    assert len(n.data["thing1"]) == 20 and len(n.data["thing3"]) == 20
    check_limits(dict(n.data))


def test_grants_count_accepts_of_configured_one_time_templates_and_flag_long_term_ones() -> None:
    settings = buyer_settings(refund_result={"enabled": True, "template_id": "tpl_long", "long_term": True})
    changes, ignored = decide_grants([
        GrantReport("tpl_order_shipped", GrantResult.ACCEPT), GrantReport("tpl_order_shipped", GrantResult.ACCEPT),
        GrantReport("tpl_order_delivered", GrantResult.REJECT), GrantReport("tpl_long", GrantResult.ACCEPT),
        GrantReport("made_up", GrantResult.ACCEPT)], settings)
    assert ignored == ["made_up"]
    assert {c.template_id: (c.added, c.long_term, c.result.value) for c in changes} == {
        "tpl_order_shipped": (2, None, "accept"), "tpl_order_delivered": (0, None, "reject"),
        "tpl_long": (0, True, "accept")}
    (off,), _ = decide_grants([GrantReport("tpl_long", GrantResult.REJECT)], settings)
    assert off.long_term is False
