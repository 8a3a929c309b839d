"""Refunds on DynamoDB Local: concurrent requests never over-refund, REFUND.SUCCESS applies once
however often and concurrently it arrives, a notification may overtake the API's answer, and the
whole chain against the pay sandbox (genuinely signed notifications)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest

from mall.dal.orders import OrderRepository
from mall.dal.refunds import RefundRepository
from mall.dal.table import Table
from mall.domain.refunds import LineRequest, RefundStatus
from mall.errors import Conflict, DomainError, InvalidInput, NotFound
from mall.integrations.wechatpay.errors import WeChatPayError, WeChatPayRetryableError
from mall.integrations.wechatpay.refund_resources import RefundResource, RefundResult
from mall.services import refunds as service
from tests.unit.test_fulfilment_factory import Line, put_order

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
NOTIFY = "http://127.0.0.1:9/webhooks/wechatpay"


class FakeGateway:
    """Answers like WeChat Pay: PROCESSING, the same refund for the same number."""

    def __init__(self, status: str = "PROCESSING", error: WeChatPayError | None = None,
                 before_answer: Callable[[str], None] | None = None) -> None:
        self.status = status
        self.error = error
        self.before_answer = before_answer
        self.calls: list[dict[str, Any]] = []

    def create_refund(self, out_refund_no: str, *, out_trade_no: str, refund_fen: int, total_fen: int,
                      reason: str | None, notify_url: str, funds_account: str | None = None) -> RefundResult:
        self.calls.append({"out_refund_no": out_refund_no, "out_trade_no": out_trade_no, "refund_fen": refund_fen,
                           "total_fen": total_fen})
        if self.error is not None:
            raise self.error
        if self.before_answer is not None:
            self.before_answer(out_refund_no)
        return RefundResult.model_validate({
            "refund_id": f"50{abs(hash(out_refund_no)) % 10**20:020d}", "out_refund_no": out_refund_no,
            "transaction_id": "4200000000", "out_trade_no": out_trade_no, "status": self.status,
            "amount": {"total": total_fen, "refund": refund_fen},
        })


def resource(refund_id: str, order_id: str, amount: int, status: str = "SUCCESS") -> RefundResource:
    return RefundResource.model_validate({
        "mchid": "1900000001", "transaction_id": "4200000000", "out_trade_no": order_id,
        "refund_id": f"50{abs(hash(refund_id)) % 10**20:020d}", "out_refund_no": refund_id, "refund_status": status,
        "success_time": "2026-11-22T16:00:00+08:00" if status == "SUCCESS" else None,
        "amount": {"total": amount, "refund": amount, "payer_total": amount, "payer_refund": amount},
    })


@pytest.fixture
def repos(table: Table) -> tuple[OrderRepository, RefundRepository]:
    return OrderRepository(table), RefundRepository(table)


def ask(repos: tuple[OrderRepository, RefundRepository], order: dict[str, Any], *lines: LineRequest) -> Any:
    orders, refunds = repos
    return service.request_refund(orders=orders, refunds=refunds, buyer_id=order["buyer_id"],
                                  order_id=order["order_id"], reason="不想要了", lines=list(lines), now=NOW)


def approve(repos: tuple[OrderRepository, RefundRepository], refund_id: str, gateway: Any) -> Any:
    orders, refunds = repos
    return service.approve_refund(orders=orders, refunds=refunds, refund_id=refund_id, admin="admin:alice", now=NOW,
                                  gateway=gateway, notify_url=NOTIFY)


def line(table: Table, order_id: str, index: int = 0) -> dict[str, Any]:
    item = table.get({"pk": f"ORDER#{order_id}", "sk": "ORDER"}, consistent=True)
    assert item is not None
    return dict(item["lines"][index])


def test_concurrent_requests_can_never_hold_more_than_the_line_paid(table: Table, repos: Any) -> None:
    order = put_order(table, lines=[Line(unit_price_fen=1000)])
    barrier = threading.Barrier(8)

    def one(_: int) -> int:
        barrier.wait()
        try:
            return int(ask(repos, order, LineRequest("1", 300)).amount_fen)
        except (InvalidInput, Conflict):
            return 0

    with ThreadPoolExecutor(8) as pool:
        granted = list(pool.map(one, range(8)))
    held = line(table, order["order_id"])["refund_held_fen"]
    assert sum(granted) == held <= 1000
    assert held >= 300 and granted.count(0) >= 5  # at least one got through; at most three could
    refunds = repos[1].list_for_order(order["order_id"])
    assert sum(r.amount_fen for r in refunds) == held
    assert len({r.refund_id for r in refunds}) == len(refunds)


def test_duplicate_and_concurrent_success_notifications_apply_once(table: Table, repos: Any) -> None:
    order = put_order(table, lines=[Line(unit_price_fen=1000), Line(unit_price_fen=500)], shipping_fen=600)
    refund = ask(repos, order, LineRequest("1", 400))
    gateway = FakeGateway()
    assert approve(repos, refund.refund_id, gateway).status == "PROCESSING"
    note = resource(refund.refund_id, order["order_id"], 400)
    barrier = threading.Barrier(10)

    def deliver(_: int) -> None:
        barrier.wait()
        service.handle_refund_notification(orders=OrderRepository(table), refunds=RefundRepository(table),
                                           refund=note, now=NOW)

    with ThreadPoolExecutor(10) as pool:
        list(pool.map(deliver, range(10)))
    service.handle_refund_notification(orders=OrderRepository(table), refunds=RefundRepository(table),
                                       refund=note, now=NOW)  # and once more, later
    stored = repos[1].get(refund.refund_id)
    assert stored.status == RefundStatus.SUCCEEDED and stored.wechat_refund_id == note.refund_id
    assert stored.version == 3  # created 1, approved 2, succeeded 3: one transition
    first = line(table, order["order_id"])
    assert first["refunded_fen"] == 400 and first["refund_held_fen"] == 0
    order_item = table.get({"pk": f"ORDER#{order['order_id']}", "sk": "ORDER"})
    assert order_item is not None and order_item["status"] == "PAID"  # partial: the order stays as it was


def test_a_notification_that_overtakes_the_api_answer_still_works(table: Table, repos: Any) -> None:
    order = put_order(table, lines=[Line(unit_price_fen=1000)])
    refund = ask(repos, order, LineRequest("1"))

    def notify_first(refund_id: str) -> None:
        service.handle_refund_notification(orders=OrderRepository(table), refunds=RefundRepository(table),
                                           refund=resource(refund_id, order["order_id"], 1000), now=NOW)

    view = approve(repos, refund.refund_id, FakeGateway(before_answer=notify_first))
    assert view.status == "SUCCEEDED" and view.wechat_refund_id
    order_item = table.get({"pk": f"ORDER#{order['order_id']}", "sk": "ORDER"})
    assert order_item is not None and order_item["status"] == "CLOSED"  # refunded in full
    assert order_item["lines"][0]["refunded_fen"] == 1000


def test_unknown_refund_and_mismatched_notifications_are_refused(table: Table, repos: Any) -> None:
    order = put_order(table)
    with pytest.raises(NotFound) as err:
        service.handle_refund_notification(orders=OrderRepository(table), refunds=RefundRepository(table),
                                           refund=resource(f"{order['order_id']}-r9", order["order_id"],
                                                                         100), now=NOW)
    assert err.value.code == "refund_unknown"
    refund = ask(repos, order, LineRequest("1", 100))
    approve(repos, refund.refund_id, FakeGateway())
    with pytest.raises(Conflict):
        service.handle_refund_notification(orders=OrderRepository(table), refunds=RefundRepository(table),
                                           refund=resource(refund.refund_id, order["order_id"], 999),
                                           now=NOW)
    assert repos[1].get(refund.refund_id).status == RefundStatus.PROCESSING


def test_full_refund_with_shipping_closes_the_order_with_history(table: Table, repos: Any) -> None:
    order = put_order(table, status="SHIPPED", lines=[Line(unit_price_fen=700, quantity=2)], shipping_fen=500,
                      shipped_at="2026-11-21T08:00:00Z")
    refund = ask(repos, order, LineRequest("1"))
    assert refund.amount_fen == 1400 + 500 and refund.shipping_fen == 500
    approve(repos, refund.refund_id, FakeGateway(status="SUCCESS"))  # the API may answer SUCCESS at once
    bundle = repos[0].bundle(order["order_id"])
    assert bundle.order.status == "CLOSED" and bundle.order.shipping_refunded_fen == 500
    assert [h.status for h in bundle.history] == ["CLOSED"]


def test_abnormal_keeps_the_hold_then_success_or_closed(table: Table, repos: Any) -> None:
    order = put_order(table, lines=[Line(unit_price_fen=1000), Line(unit_price_fen=1000)])
    first = ask(repos, order, LineRequest("1"))
    second = ask(repos, order, LineRequest("2"))
    for refund in (first, second):
        approve(repos, refund.refund_id, FakeGateway())
        service.handle_refund_notification(orders=OrderRepository(table), refunds=RefundRepository(table),
                                           refund=resource(refund.refund_id, order["order_id"], 1000,
                                                                        "ABNORMAL"), now=NOW)
        assert repos[1].get(refund.refund_id).status == RefundStatus.FAILED
    assert line(table, order["order_id"], 0)["refund_held_fen"] == 1000
    service.handle_refund_notification(orders=OrderRepository(table), refunds=RefundRepository(table),
                                       refund=resource(first.refund_id, order["order_id"], 1000),
                                       now=NOW)
    service.handle_refund_notification(orders=OrderRepository(table), refunds=RefundRepository(table),
                                       refund=resource(second.refund_id, order["order_id"], 1000,
                                                                    "CLOSED"), now=NOW)
    assert repos[1].get(first.refund_id).status == RefundStatus.SUCCEEDED
    assert repos[1].get(second.refund_id).status == RefundStatus.CLOSED
    first_line = line(table, order["order_id"], 0)
    assert first_line["refunded_fen"] == 1000 and first_line["refund_held_fen"] == 0
    second_line = line(table, order["order_id"], 1)
    assert second_line["refunded_fen"] == 0 and second_line["refund_held_fen"] == 0  # released: refundable again
    assert ask(repos, order, LineRequest("2")).amount_fen == 1000


def test_reject_releases_and_wrong_states_are_409(table: Table, repos: Any) -> None:
    orders, refunds = repos
    order = put_order(table)
    refund = ask(repos, order, LineRequest("1"))
    rejected = service.reject_refund(orders=orders, refunds=refunds, refund_id=refund.refund_id, admin="admin:alice",
                                     reason="已使用", now=NOW)
    assert rejected.status == "REJECTED" and rejected.reject_reason == "已使用"
    assert line(table, order["order_id"])["refund_held_fen"] == 0
    with pytest.raises(Conflict):
        approve(repos, refund.refund_id, FakeGateway())
    with pytest.raises(Conflict):
        service.reject_refund(orders=orders, refunds=refunds, refund_id=refund.refund_id, admin="admin:alice",
                              reason="again", now=NOW)


def test_wechatpay_unavailable_keeps_processing_and_a_refusal_closes(table: Table, repos: Any) -> None:
    order = put_order(table, lines=[Line(unit_price_fen=1000)])
    refund = ask(repos, order, LineRequest("1", 300))
    busy = FakeGateway(error=WeChatPayRetryableError(500, "SYSTEM_ERROR", "busy"))
    with pytest.raises(DomainError) as err:
        approve(repos, refund.refund_id, busy)
    assert err.value.code == "wechatpay_unavailable"
    assert repos[1].get(refund.refund_id).status == RefundStatus.PROCESSING
    again = FakeGateway()
    assert approve(repos, refund.refund_id, again).status == "PROCESSING"  # re-sent with the same number
    assert again.calls[0]["out_refund_no"] == busy.calls[0]["out_refund_no"] == refund.refund_id

    other = ask(repos, order, LineRequest("1", 200))
    refused = approve(repos, other.refund_id, FakeGateway(error=WeChatPayError(403, "NOT_ENOUGH", "余额不足")))
    assert refused.status == "CLOSED" and refused.failure_code == "NOT_ENOUGH"
    assert line(table, order["order_id"])["refund_held_fen"] == 300


def test_paid_after_expiry_refund_written_by_orders_is_handled(table: Table, repos: Any) -> None:
    order = put_order(table, status="PAID_AFTER_EXPIRY", lines=[Line(unit_price_fen=900)], shipping_fen=100)
    refund_id = f"rx{order['order_id']}"
    table.put({"pk": f"ORDER#{order['order_id']}", "sk": f"REFUND#{refund_id}", "entity": "refund",
               "refund_id": refund_id, "order_id": order["order_id"], "buyer_id": order["buyer_id"],
               "kind": "paid_after_expiry", "status": "PROCESSING", "amount_fen": 1000, "lines": [],
               "reason": "paid after expiry", "created_at": "2026-11-22T08:00:00Z", "gsi1pk": "REFUNDS#PROCESSING",
               "gsi1sk": f"2026-11-22T08:00:00Z#{refund_id}", "version": 1})
    service.handle_refund_notification(orders=OrderRepository(table), refunds=RefundRepository(table),
                                       refund=resource(refund_id, order["order_id"], 1000), now=NOW)
    bundle = repos[0].bundle(order["order_id"])
    assert bundle.order.lines[0].refunded_fen == 900 and bundle.order.lines[0].refund_held_fen == 0
    assert bundle.order.shipping_refunded_fen == 100
    assert bundle.order.status == "PAID_AFTER_EXPIRY"
    assert repos[1].get(refund_id).status == RefundStatus.SUCCEEDED


def succeed(table: Table, repos: Any, refund: Any, order: dict[str, Any]) -> None:
    approve(repos, refund.refund_id, FakeGateway())
    service.handle_refund_notification(orders=OrderRepository(table), refunds=RefundRepository(table),
                                       refund=resource(refund.refund_id, order["order_id"],
                                                                    refund.amount_fen), now=NOW)


def test_shipping_is_not_carried_while_another_request_is_open_and_stays_when_that_one_is_rejected(
        table: Table, repos: Any) -> None:
    orders, refunds = repos
    order = put_order(table, lines=[Line(unit_price_fen=1000), Line(unit_price_fen=500)], shipping_fen=600)
    first = ask(repos, order, LineRequest("1"))
    second = ask(repos, order, LineRequest("2"))  # takes the last refundable fen, but the first is only held
    assert (first.shipping_fen, second.shipping_fen) == (0, 0) and second.amount_fen == 500
    service.reject_refund(orders=orders, refunds=refunds, refund_id=first.refund_id, admin="admin:alice",
                          reason="已使用", now=NOW)
    succeed(table, repos, second, order)
    bundle = orders.bundle(order["order_id"])
    assert bundle.order.shipping_refunded_fen == 0 and bundle.order.shipping_refund_held_fen == 0
    assert bundle.order.status == "PAID"  # line 1 is still paid: the shipping stays with it
    assert [r.kind for r in refunds.list_for_order(order["order_id"])].count("shipping") == 0

    # The last unit, asked alone, carries the shipping.
    last = ask(repos, order, LineRequest("1"))
    assert last.shipping_fen == 600 and last.amount_fen == 1600


def test_when_overlapping_requests_all_succeed_the_last_success_opens_the_shipping_refund(
        table: Table, repos: Any) -> None:
    orders, refunds = repos
    order = put_order(table, lines=[Line(unit_price_fen=1000), Line(unit_price_fen=500)], shipping_fen=600)
    first = ask(repos, order, LineRequest("1"))
    second = ask(repos, order, LineRequest("2"))
    succeed(table, repos, second, order)
    assert orders.bundle(order["order_id"]).order.shipping_refund_held_fen == 0  # line 1 not refunded yet
    succeed(table, repos, first, order)
    service.handle_refund_notification(orders=OrderRepository(table), refunds=RefundRepository(table),
                                       refund=resource(first.refund_id, order["order_id"], 1000),
                                       now=NOW)  # a redelivered success opens nothing more
    shipping = [r for r in refunds.list_for_order(order["order_id"]) if r.kind == "shipping"]
    assert len(shipping) == 1 and shipping[0].status == RefundStatus.REQUESTED
    assert (shipping[0].amount_fen, shipping[0].shipping_fen, shipping[0].lines) == (600, 600, ())
    assert orders.bundle(order["order_id"]).order.shipping_refund_held_fen == 600
    succeed(table, repos, shipping[0], order)
    bundle = orders.bundle(order["order_id"])
    assert bundle.order.shipping_refunded_fen == 600 and bundle.order.shipping_refund_held_fen == 0
    assert bundle.order.status == "CLOSED"
