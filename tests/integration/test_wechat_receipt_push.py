"""The mini-program's message push on DynamoDB Local: WeChat's confirmation of receipt completes the
order exactly once, under repeats and racing the buyer's own confirmation; a forged push changes
nothing; an unknown order and other events are recorded and acknowledged."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest

from bench._route_classes import PAYMENT, TARGETS, route_class
from mall.dal.table import Table
from mall.errors import InvalidInput
from mall.services import fulfilment
from mall.services.wechat_receipt import ReceiptRepositories, handle_push, list_messages
from tests.unit.test_fulfilment_factory import put_order
from tests.unit.test_wechat_message_push import KEYS, NOW, plain_push, safe_push

SHIPPED_AT = NOW - timedelta(days=3)


@pytest.fixture
def repos(table: Table) -> ReceiptRepositories:
    return ReceiptRepositories.on(table)


def shipped_order(table: Table, repos: ReceiptRepositories) -> dict[str, Any]:
    item = put_order(table)
    order = repos.orders.get(item["order_id"])
    assert order is not None
    repos.orders.ship(order, carrier="SF", tracking_no="SF1001", now=SHIPPED_AT, by="admin:alice")
    return item


def settlement(item: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"ToUserName": "gh_1", "FromUserName": "o_wx", "CreateTime": int(NOW.timestamp()), "MsgType": "event",
            "Event": "trade_manage_order_settlement", "transaction_id": item.get("transaction_id", "4200x"),
            "merchant_id": "1900000109", "merchant_trade_no": item["order_id"], "pay_time": 1796000000,
            "shipped_time": int(SHIPPED_AT.timestamp()), "confirm_receive_method": 2,
            "confirm_receive_time": int((NOW - timedelta(hours=1)).timestamp()),
            "settlement_time": int(NOW.timestamp()), **extra}


def deliver(repos: ReceiptRepositories, message: dict[str, Any], *, safe: bool = True) -> tuple[int, str, str]:
    query, body = safe_push(message) if safe else plain_push(message)
    reply = handle_push(query=query, body=body, keys=KEYS, allow_plain=not safe, repos=repos, now=NOW)
    return reply.status, reply.body, reply.outcome


def completions(repos: ReceiptRepositories, order_id: str) -> int:
    bundle = repos.orders.bundle(order_id)
    assert bundle is not None
    return [h.status for h in bundle.history].count("COMPLETED")


def messages(table: Table, order_id: str) -> list[dict[str, Any]]:
    page = table.query_where("#pk = :pk", names={"#pk": "gsi1pk"}, values={":pk": "WXMSGS#2026-12-06"},
                             index="gsi1", limit=None)
    return [i for i in page.items if i.get("order_id") == order_id]


def test_a_settlement_completes_the_order_once_under_repeats(table: Table, repos: ReceiptRepositories) -> None:
    item = shipped_order(table, repos)
    message = settlement(item)
    assert deliver(repos, message) == (200, "success", "complete")
    for safe in (True, True, False):
        assert deliver(repos, message, safe=safe) == (200, "success", "already_completed")
    order = repos.orders.get(item["order_id"])
    assert order is not None and order.status == "COMPLETED" and order.completed_by == "wechat"
    assert order.completed_at == "2026-12-06T11:00:00Z"  # when the buyer confirmed in WeChat
    assert completions(repos, item["order_id"]) == 1
    assert table.get({"pk": f"ORDER#{item['order_id']}", "sk": "AUTOCONFIRM"}) is None
    (recorded,) = messages(table, item["order_id"])  # one record per distinct event
    assert recorded["outcome"] == "complete" and recorded["event"] == "trade_manage_order_settlement"
    assert "FromUserName" not in recorded["fields"]  # no openid kept


def test_the_buyer_confirming_after_wechat_gets_the_completed_order(table: Table, repos: ReceiptRepositories) -> None:
    item = shipped_order(table, repos)
    assert deliver(repos, settlement(item))[2] == "complete"
    mine = fulfilment.confirm_receipt(repo=repos.orders, buyer_id=item["buyer_id"], order_id=item["order_id"],
                                      now=NOW)
    assert mine.status == "COMPLETED" and mine.completed_by == "wechat"
    assert completions(repos, item["order_id"]) == 1


def test_wechat_and_the_buyer_confirming_at_once_complete_it_once(table: Table, repos: ReceiptRepositories) -> None:
    winners: set[str] = set()
    for _ in range(6):
        item = shipped_order(table, repos)
        barrier = threading.Barrier(8)
        pushes = [safe_push(settlement(item)) for _ in range(4)]  # sealed beforehand: both sides start even

        def push(i: int, barrier: threading.Barrier = barrier,
                 pushes: list[tuple[dict[str, str], bytes]] = pushes) -> str:
            query, body = pushes[i]
            barrier.wait()
            return handle_push(query=query, body=body, keys=KEYS, allow_plain=False, repos=repos, now=NOW).outcome

        def buyer(_: int, item: dict[str, Any] = item, barrier: threading.Barrier = barrier) -> str:
            barrier.wait()
            return fulfilment.confirm_receipt(repo=repos.orders, buyer_id=item["buyer_id"],
                                              order_id=item["order_id"], now=NOW).status

        with ThreadPoolExecutor(8) as pool:
            pushed = [pool.submit(push, i) for i in range(4)]
            confirmed = [pool.submit(buyer, i) for i in range(4)]
            outcomes = [f.result() for f in pushed]
            statuses = [f.result() for f in confirmed]
        assert statuses == ["COMPLETED"] * 4  # the buyer's route answers the completed order, never 409
        assert outcomes.count("complete") <= 1
        assert set(outcomes) <= {"complete", "already_completed"}
        assert completions(repos, item["order_id"]) == 1
        order = repos.orders.get(item["order_id"])
        assert order is not None and order.completed_by in {"wechat", "buyer"}
        assert (order.completed_by == "wechat") == ("complete" in outcomes)
        winners.add(str(order.completed_by))
    print(f"first to complete, over the rounds: {sorted(winners)}")


def test_a_forged_push_changes_nothing(table: Table, repos: ReceiptRepositories) -> None:
    item = shipped_order(table, repos)
    query, body = safe_push(settlement(item))
    forged = handle_push(query={**query, "signature": "0" * 40}, body=body, keys=KEYS, allow_plain=False,
                         repos=repos, now=NOW)
    stale = handle_push(query=query, body=body, keys=KEYS, allow_plain=False, repos=repos,
                        now=NOW + timedelta(minutes=6))
    plain = handle_push(query=plain_push(settlement(item))[0], body=json.dumps(settlement(item)).encode(), keys=KEYS,
                        allow_plain=False, repos=repos, now=NOW)
    assert (forged.status, stale.status, plain.status) == (401, 401, 403)
    order = repos.orders.get(item["order_id"])
    assert order is not None and order.status == "SHIPPED"
    assert messages(table, item["order_id"]) == []


def test_an_unknown_order_is_recorded_and_acknowledged(table: Table, repos: ReceiptRepositories) -> None:
    message = settlement({"order_id": "o_nobody", "transaction_id": "4200nobody"})
    assert deliver(repos, message) == (200, "success", "unknown_order")
    (recorded,) = messages(table, "o_nobody")
    assert recorded["outcome"] == "unknown_order" and recorded["transaction_id"] == "4200nobody"


def test_the_push_at_shipping_and_other_events_are_recorded_only(table: Table, repos: ReceiptRepositories) -> None:
    item = shipped_order(table, repos)
    at_shipping = settlement(item, estimated_settlement_time=int((NOW + timedelta(days=10)).timestamp()))
    for name in ("confirm_receive_method", "confirm_receive_time", "settlement_time"):
        del at_shipping[name]
    remind = {"ToUserName": "gh_1", "FromUserName": "o_wx", "CreateTime": int(NOW.timestamp()), "MsgType": "event",
              "Event": "trade_manage_remind_shipping", "merchant_id": "1900000109",
              "transaction_id": item["transaction_id"], "merchant_trade_no": item["order_id"],
              "msg": "用户提醒发货"}
    assert deliver(repos, at_shipping) == (200, "success", "recorded")
    assert deliver(repos, remind, safe=False) == (200, "success", "recorded")
    order = repos.orders.get(item["order_id"])
    assert order is not None and order.status == "SHIPPED"
    assert sorted(m["event"] for m in messages(table, item["order_id"])) == [
        "trade_manage_order_settlement", "trade_manage_remind_shipping"]


def test_a_settlement_for_another_payment_or_an_unshipped_order_changes_nothing(
        table: Table, repos: ReceiptRepositories) -> None:
    item = shipped_order(table, repos)
    assert deliver(repos, settlement({**item, "transaction_id": "4200other"}))[2] == "transaction_mismatch"
    paid = put_order(table)
    assert deliver(repos, settlement(paid))[2] == "not_shipped"
    for order_id, status in ((item["order_id"], "SHIPPED"), (paid["order_id"], "PAID")):
        order = repos.orders.get(order_id)
        assert order is not None and order.status == status


def test_a_settlement_push_stays_within_the_webhook_class_round_trips(
        table: Table, repos: ReceiptRepositories, ddb_client: Any) -> None:
    sent: list[str] = []

    def count(**kwargs: Any) -> None:
        sent.append(str(kwargs.get("event_name", "")))

    item = shipped_order(table, repos)
    ddb_client.meta.events.register("before-send.dynamodb", count, unique_id="receipt-trips")
    try:
        assert deliver(repos, settlement(item))[2] == "complete"
        completing = len(sent)
        sent.clear()
        assert deliver(repos, settlement(item))[2] == "already_completed"
        repeated = len(sent)
    finally:
        ddb_client.meta.events.unregister("before-send.dynamodb", unique_id="receipt-trips")
    assert route_class("POST /webhooks/wechat/messages", ["anonymous"]) == PAYMENT
    assert completing <= TARGETS[PAYMENT] and repeated <= TARGETS[PAYMENT]
    assert (completing, repeated) == (3, 2)  # read, complete, record; read, record (refused: kept once)


def test_the_admin_lists_a_days_events_newest_first_page_by_page(table: Table, repos: ReceiptRepositories) -> None:
    item = shipped_order(table, repos)
    deliver(repos, settlement(item))
    deliver(repos, settlement({"order_id": "o_nobody", "transaction_id": "4200nobody"}, CreateTime=1))
    deliver(repos, settlement(item, CreateTime=2))  # a distinct event for the same order
    first = list_messages(messages=repos.messages, day="2026-12-06", limit=2, cursor=None, now=NOW)
    assert len(first.items) == 2 and first.next_cursor is not None
    rest = list_messages(messages=repos.messages, day="2026-12-06", limit=2, cursor=first.next_cursor, now=NOW)
    outcomes = sorted(m.outcome for m in [*first.items, *rest.items])
    assert outcomes == ["already_completed", "complete", "unknown_order"]
    assert all(isinstance(v, int) for m in first.items for k, v in m.fields.items() if k.endswith("_time"))
    assert list_messages(messages=repos.messages, day=None, limit=10, cursor=None, now=NOW).items  # today
    with pytest.raises(InvalidInput) as wrong_day:
        list_messages(messages=repos.messages, day="2026-12-05", limit=2, cursor=first.next_cursor, now=NOW)
    assert wrong_day.value.code == "invalid_cursor"
    with pytest.raises(InvalidInput) as bad:
        list_messages(messages=repos.messages, day="2026-13-01", limit=2, cursor=None, now=NOW)
    assert bad.value.code == "invalid_date" and bad.value.fields[0].field == "query:day"
