"""POST /webhooks/wechatpay, order expiry and reconciliation through the real handlers (moto), with
notifications built by the pay sandbox (genuinely signed and encrypted with the test keys)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from local.wechatpay_keys import generate_local_keys
from mall.clock import iso, utc_now
from mall.dal.order_items import order_history
from mall.dal.table import main_table
from mall.integrations.wechatpay.crypto import load_private_key, rsa_sign
from mall.integrations.wechatpay.refund_resources import RefundResource
from mall.services import refunds
from tests.unit.test_orders_handlers import (
    ADDRESS,
    BOOK,
    CARD,
    Mall,
    add_products,
    customer_token,
    make_mall,
    order_item,
    partition,
    stock_of,
)

pytestmark = pytest.mark.usefixtures("moto_table")


@pytest.fixture
def mall(moto_table: str, monkeypatch: pytest.MonkeyPatch) -> Mall:
    return make_mall(monkeypatch)


def place(mall: Mall, lines: list[dict[str, Any]] | None = None, code: str = "buyer") -> tuple[str, str, int]:
    buyer, token = customer_token(code)
    status, body = mall.place(token, {"lines": lines or [{"product_id": "book", "quantity": 2}], "address": ADDRESS})
    assert status == 201, body
    return buyer, body["order_id"], body["amount_fen"]


def statuses(order_id: str) -> list[str]:
    """The order's history as its detail reads it (stored entries and those the order implies)."""
    items = partition(f"ORDER#{order_id}")
    order = next(i for i in items if i["sk"] == "ORDER")
    return [h.status for h in order_history(order, [i for i in items if i["sk"].startswith("HISTORY#")])]


def profile(buyer: str) -> dict[str, Any]:
    item = main_table().get({"pk": f"USER#{buyer}", "sk": "PROFILE"}, consistent=True)
    assert item is not None
    return item


def fail_body(body: dict[str, Any]) -> str:
    assert body["code"] == "FAIL" and isinstance(body["message"], str)
    return str(body["message"])


def test_a_payment_notification_pays_the_order_once_with_the_buyers_counters(mall: Mall) -> None:
    add_products(BOOK)
    buyer, order_id, amount = place(mall)
    status, body = mall.pay(order_id)
    assert status == 204 and body == {}
    item = order_item(order_id)
    transaction_id = mall.sandbox.snapshot()["orders"][order_id]["transaction_id"]
    assert item["status"] == "PAID" and item["transaction_id"] == transaction_id and item["version"] == 2
    assert item["paid_at"]
    assert statuses(order_id) == ["CREATED", "PAID"]
    assert "gsi2pk" not in item  # out of the unpaid index with the payment
    customer = profile(buyer)
    assert customer["paid_order_count"] == 1 and customer["paid_total_fen"] == amount
    assert customer["first_paid_order_id"] == order_id and customer["first_paid_at"]
    counter = main_table().get({"pk": f"USER#{buyer}", "sk": "PURCHASE#book"})
    assert counter is not None and counter["paid_quantity"] == 2 and counter["reserved_quantity"] == 2

    # WeChat Pay delivers again (same notification id, fresh signature): success, nothing changes.
    again = mall.sandbox.redeliver_last()
    assert mall.deliver(again.headers, again.body) == (204, {})
    assert order_item(order_id) == item and statuses(order_id) == ["CREATED", "PAID"]
    assert profile(buyer)["paid_order_count"] == 1

    # A second order: counters add up, the first paid order stays the first.
    _, second, amount2 = place(mall, [{"product_id": "book", "quantity": 1}])
    assert mall.pay(second)[0] == 204
    customer = profile(buyer)
    assert customer["paid_order_count"] == 2 and customer["paid_total_fen"] == amount + amount2
    assert customer["first_paid_order_id"] == order_id


def test_a_base64_body_from_api_gateway_is_verified_over_the_decoded_bytes(mall: Mall) -> None:
    add_products(BOOK)
    _, order_id, _ = place(mall)
    event = mall.sandbox.pay(order_id)
    assert mall.deliver(event.headers, event.body, base64_body=True)[0] == 204
    assert order_item(order_id)["status"] == "PAID"


def _success(mall: Mall, order_id: str, total_fen: int, **overrides: Any) -> dict[str, Any]:
    resource: dict[str, Any] = mall.sandbox.transaction_resource(order_id, total_fen, "openid-buyer")
    resource.update(overrides)
    return resource


def test_forged_stale_probe_and_unknown_key_notifications_are_refused_and_change_nothing(mall: Mall) -> None:
    add_products(BOOK)
    _, order_id, amount = place(mall)
    before = order_item(order_id)
    resource = _success(mall, order_id, amount)
    sandbox = mall.sandbox
    other_key = load_private_key(generate_local_keys()["wechatpay_platform_private_key"])
    headers, body = sandbox.build_notification("TRANSACTION.SUCCESS", resource, original_type="transaction")
    forged = rsa_sign(other_key, f"{headers['Wechatpay-Timestamp']}\n{headers['Wechatpay-Nonce']}\n".encode()
                      + body + b"\n")
    cases = {
        "forged signature": sandbox.build_notification("TRANSACTION.SUCCESS", resource, original_type="transaction",
                                                       signature_override=forged),
        "wrong serial": sandbox.build_notification("TRANSACTION.SUCCESS", resource, original_type="transaction",
                                                   serial_override="PUB_KEY_ID_0114999999999999999999999"),
        "stale timestamp": sandbox.build_notification(
            "TRANSACTION.SUCCESS", resource, original_type="transaction",
            timestamp_override=str(int((utc_now() - timedelta(seconds=301)).timestamp()))),
        "signtest probe": sandbox.build_notification("TRANSACTION.SUCCESS", resource, original_type="transaction",
                                                     signature_override="WECHATPAY/SIGNTEST/abcdef"),
        "body changed after signing": (headers, body.replace(b"TRANSACTION.SUCCESS", b"TRANSACTION.SUCCESs")),
    }
    reasons = {}
    for name, (h, b) in cases.items():
        status, reply = mall.deliver(h, b)
        assert status == 401, name
        reasons[name] = fail_body(reply)
    assert reasons == {"forged signature": "bad_signature", "wrong serial": "unknown_serial",
                       "stale timestamp": "stale_timestamp", "signtest probe": "signature_probe",
                       "body changed after signing": "bad_signature"}
    missing = {k: v for k, v in headers.items() if k != "Wechatpay-Signature"}
    assert mall.deliver(missing, body)[0] == 401
    assert order_item(order_id) == before and statuses(order_id) == ["CREATED"]
    # The genuine one still works afterwards.
    assert mall.deliver(headers, body)[0] == 204


@pytest.mark.parametrize(("overrides", "status", "message"), [
    ({"amount": {"total": 1, "payer_total": 1, "currency": "CNY"}}, 400, "amount mismatch"),
    ({"mchid": "1999999999"}, 400, "mchid or appid mismatch"),
    ({"appid": "wx_someone_else"}, 400, "mchid or appid mismatch"),
    ({"trade_state": "NOTPAY"}, 400, "trade_state is not SUCCESS"),
    ({"out_trade_no": "o_nosuchorder0000000000"}, 404, "unknown out_trade_no"),
    ({"amount": {"total": "100"}}, 400, "malformed_resource"),
])
def test_decrypted_payments_that_do_not_match_the_order_are_refused(mall: Mall, overrides: dict[str, Any],
                                                                    status: int, message: str) -> None:
    add_products(BOOK)
    buyer, order_id, amount = place(mall)
    before = order_item(order_id)
    resource = _success(mall, order_id, amount, **overrides)
    got, reply = mall.deliver(*mall.sandbox.build_notification("TRANSACTION.SUCCESS", resource,
                                                               original_type="transaction"))
    assert got == status and fail_body(reply) == message
    assert order_item(order_id) == before and "paid_order_count" not in profile(buyer)


def test_a_notification_that_does_not_decrypt_is_refused(mall: Mall) -> None:
    add_products(BOOK)
    _, order_id, amount = place(mall)
    headers, body = mall.sandbox.build_notification("TRANSACTION.SUCCESS", _success(mall, order_id, amount),
                                                    original_type="transaction", associated_data="other")
    envelope = json.loads(body)
    envelope["resource"]["associated_data"] = "transaction"  # tampered AAD, re-signed by "WeChat Pay"
    sandbox = mall.sandbox
    raw = json.dumps(envelope).encode()
    headers = sandbox._signed_headers(raw, now=utc_now())
    status, reply = mall.deliver(headers, raw)
    assert status == 400 and fail_body(reply) == "decrypt_failed"


def test_payout_notifications_go_to_the_payouts_service(mall: Mall) -> None:
    """MCHTRANSFER.BILL.FINISHED is verified like every notification, then handled by
    mall.services.payouts (tests/unit/test_payouts.py): a number no withdrawal has is refused."""
    resource = mall.sandbox.transfer_bill_resource("bill0001", 5000, "openid-x")
    status, reply = mall.deliver(*mall.sandbox.build_notification("MCHTRANSFER.BILL.FINISHED", resource,
                                                                  original_type="mch_payment"))
    assert status == 404 and fail_body(reply) == "unknown out_bill_no"
    other = mall.sandbox.transaction_resource("o_0000000000000000000001", 100, "openid-x")
    status, reply = mall.deliver(*mall.sandbox.build_notification("PROFITSHARING.FINISHED", other,
                                                                  original_type="transaction"))
    assert status == 400 and fail_body(reply) == "unsupported event"


def test_refund_notifications_go_to_the_refunds_service(mall: Mall, monkeypatch: pytest.MonkeyPatch) -> None:
    received: list[RefundResource] = []

    def fake(*, orders: Any, refunds: Any, refund: RefundResource, now: Any) -> None:
        received.append(refund)

    # The webhook imports the refunds service when a refund notification arrives: patched where it lives.
    monkeypatch.setattr(refunds, "handle_refund_notification", fake)
    resource = mall.sandbox.refund_resource("rf_001", "o_0000000000000000000001", 500, 1000)
    status, _ = mall.deliver(*mall.sandbox.build_notification("REFUND.SUCCESS", resource, original_type="refund"))
    assert status == 204 and [r.out_refund_no for r in received] == ["rf_001"]
    other = {**resource, "mchid": "1999999999"}
    status, reply = mall.deliver(*mall.sandbox.build_notification("REFUND.CLOSED", other, original_type="refund"))
    assert status == 400 and fail_body(reply) == "mchid mismatch" and len(received) == 1


def test_an_internal_failure_answers_5xx_so_wechatpay_redelivers(mall: Mall, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*, orders: Any, refunds: Any, refund: RefundResource, now: Any) -> None:
        raise RuntimeError("database down")

    monkeypatch.setattr(refunds, "handle_refund_notification", broken)
    resource = mall.sandbox.refund_resource("rf_002", "o_0000000000000000000001", 500, 1000)
    status, reply = mall.deliver(*mall.sandbox.build_notification("REFUND.SUCCESS", resource, original_type="refund"))
    assert status == 500 and fail_body(reply) == "internal error"


# ---- expiry, paid after expiry, reconciliation --------------------------------------------------


def run_schedule(mall: Mall, function: str, minutes_ahead: float) -> dict[str, Any]:
    event = {"version": "0", "detail-type": "Scheduled Event", "source": "aws.events",
             "time": iso(utc_now() + timedelta(minutes=minutes_ahead))}
    from tests.unit.conftest import FakeContext

    result: dict[str, Any] = mall.module(function).handler(event, FakeContext())
    return result


def test_unpaid_orders_expire_once_releasing_stock_and_counters(mall: Mall) -> None:
    add_products(BOOK, CARD)
    buyer, order_id, _ = place(mall, [{"product_id": "book", "quantity": 3}, {"product_id": "card", "quantity": 2}])
    assert stock_of("book") == 7 and stock_of("card") == 98
    assert run_schedule(mall, "order_expiry", 10)["expired"] == 0  # not due yet
    report = run_schedule(mall, "order_expiry", 31)
    assert report["expired"] == 1, report
    assert order_item(order_id)["status"] == "EXPIRED" and statuses(order_id) == ["CREATED", "EXPIRED"]
    assert stock_of("book") == 10 and stock_of("card") == 100
    counter = main_table().get({"pk": f"USER#{buyer}", "sk": "PURCHASE#card"})
    assert counter is not None and counter["reserved_quantity"] == 0
    assert mall.sandbox.snapshot()["orders"][order_id]["trade_state"] == "CLOSED"
    assert "gsi2pk" not in order_item(order_id)  # out of the unpaid index with the expiry
    assert run_schedule(mall, "order_expiry", 32) == {"statusCode": 200, "examined": 0, "expired": 0, "paid": 0,
                                                      "unchanged": 0, "errors": 0}
    assert stock_of("book") == 10


def test_expiry_records_a_payment_whose_notification_was_lost(mall: Mall) -> None:
    add_products(BOOK)
    _, order_id, _ = place(mall)
    mall.sandbox.pay(order_id)  # paid at WeChat Pay; the notification never reached us
    report = run_schedule(mall, "order_expiry", 31)
    assert report["paid"] == 1 and report["expired"] == 0
    assert order_item(order_id)["status"] == "PAID" and stock_of("book") == 8


def test_expiry_waits_when_wechatpay_is_unavailable(mall: Mall) -> None:
    add_products(BOOK)
    _, order_id, _ = place(mall)
    mall.sandbox.fail_next(500, "SYSTEM_ERROR")
    assert run_schedule(mall, "order_expiry", 31)["errors"] == 1
    assert order_item(order_id)["status"] == "CREATED" and stock_of("book") == 8
    assert run_schedule(mall, "order_expiry", 31)["expired"] == 1


def test_a_payment_after_expiry_is_recorded_and_refunded_in_full_once(mall: Mall) -> None:
    add_products(BOOK)
    buyer, order_id, amount = place(mall)
    assert run_schedule(mall, "order_expiry", 31)["expired"] == 1
    with mall.sandbox._state() as state:  # WeChat Pay took the money although the order was closed
        state["orders"][order_id]["trade_state"] = "NOTPAY"
    status, _ = mall.pay(order_id)
    assert status == 204
    item = order_item(order_id)
    assert item["status"] == "PAID_AFTER_EXPIRY" and statuses(order_id) == ["CREATED", "EXPIRED", "PAID_AFTER_EXPIRY"]
    refund = main_table().get({"pk": f"ORDER#{order_id}", "sk": f"REFUND#rx{order_id}"})
    assert refund is not None
    assert refund["kind"] == "paid_after_expiry" and refund["status"] == "PROCESSING"
    assert refund["amount_fen"] == amount and refund["lines"] == [] and refund["gsi1pk"] == "REFUNDS#PROCESSING"
    refunds = mall.sandbox.snapshot()["refunds"]
    assert list(refunds) == [f"rx{order_id}"] and refunds[f"rx{order_id}"]["refund"] == amount
    assert refund["wechat_refund_id"] == refunds[f"rx{order_id}"]["refund_id"]
    assert "paid_order_count" not in profile(buyer)  # refunded money is not a customer's spending
    assert stock_of("book") == 10  # released at expiry, not taken again
    again = mall.sandbox.redeliver_last()
    assert mall.deliver(again.headers, again.body)[0] == 204
    assert len(mall.sandbox.snapshot()["refunds"]) == 1 and order_item(order_id) == item
    # The bank finishes the refund: REFUND.SUCCESS goes to the refunds service, which
    # handles this refund item like any other.
    done = mall.sandbox.complete_refund(f"rx{order_id}")
    assert mall.deliver(done.headers, done.body)[0] == 204
    finished = main_table().get({"pk": f"ORDER#{order_id}", "sk": f"REFUND#rx{order_id}"}, consistent=True)
    assert finished is not None and finished["status"] == "SUCCEEDED"


def test_a_refund_that_could_not_start_is_retried_on_redelivery(mall: Mall) -> None:
    add_products(BOOK)
    _, order_id, _ = place(mall)
    run_schedule(mall, "order_expiry", 31)
    with mall.sandbox._state() as state:
        state["orders"][order_id]["trade_state"] = "NOTPAY"
    event = mall.sandbox.pay(order_id)
    mall.sandbox.fail_next(500, "SYSTEM_ERROR")
    status, reply = mall.deliver(event.headers, event.body)
    assert status == 500 and fail_body(reply) == "internal error"
    assert order_item(order_id)["status"] == "PAID_AFTER_EXPIRY"
    assert mall.sandbox.snapshot()["refunds"] == {}
    again = mall.sandbox.redeliver_last()
    assert mall.deliver(again.headers, again.body)[0] == 204
    assert list(mall.sandbox.snapshot()["refunds"]) == [f"rx{order_id}"]


def test_reconciliation_finds_payments_whose_notification_was_lost(mall: Mall) -> None:
    add_products(BOOK)
    _, paid, _ = place(mall)
    _, unpaid, _ = place(mall, [{"product_id": "book", "quantity": 1}], code="other")
    mall.sandbox.pay(paid)  # never delivered
    assert run_schedule(mall, "payment_reconcile", 1)["examined"] == 0  # too recent to ask about
    report = run_schedule(mall, "payment_reconcile", 6)
    assert report["examined"] == 2 and report["paid"] == 1 and report["unchanged"] == 1, report
    assert order_item(paid)["status"] == "PAID" and order_item(unpaid)["status"] == "CREATED"
    assert run_schedule(mall, "payment_reconcile", 7)["examined"] == 1
    # The notification arriving late is a duplicate.
    assert mall.deliver(*mall.sandbox.build_notification(
        "TRANSACTION.SUCCESS", mall.sandbox.transaction_resource(
            paid, order_item(paid)["amount_fen"], "openid-buyer",
            transaction_id=order_item(paid)["transaction_id"]), original_type="transaction")) == (204, {})


def test_the_notification_a_sandbox_payment_delivers_verifies_with_the_independent_sdk(mall: Mall) -> None:
    """What ``python -m local pay`` sends for a real order is a notification ``wechatpayv3`` (a
    client nobody here wrote) accepts in public-key mode, offline, and our webhook accepts too."""
    from wechatpayv3 import WeChatPay, WeChatPayType

    from tests.unit.test_orders_handlers import keys

    add_products(BOOK)
    _, order_id, amount = place(mall)
    event = mall.sandbox.pay(order_id)
    raw = keys()
    sdk = WeChatPay(wechatpay_type=WeChatPayType.MINIPROG, mchid=raw["wechatpay_mchid"],
                    private_key=raw["wechatpay_merchant_private_key"], cert_serial_no=raw["wechatpay_merchant_serial"],
                    appid=mall.sandbox.appid, apiv3_key=raw["wechatpay_apiv3_key"],
                    public_key=raw["wechatpay_public_key"], public_key_id=raw["wechatpay_public_key_id"])
    checked = sdk.callback({k.lower(): v for k, v in event.headers.items()}, event.body)
    assert checked is not None and checked["event_type"] == "TRANSACTION.SUCCESS"
    assert checked["resource"]["out_trade_no"] == order_id and checked["resource"]["amount"]["total"] == amount
    assert mall.deliver(event.headers, event.body)[0] == 204
