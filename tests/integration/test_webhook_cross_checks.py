"""Cross-checks of WeChat Pay notifications through the real webhook handler on DynamoDB Local, with
genuinely signed and encrypted notifications from the pay sandbox: a payment not in CNY, a REFUND.*
whose event and decrypted refund_status disagree, a transfer bill under another transfer_bill_no or
without the merchant id — each refused with a 4xx and the whole table unchanged; a payment by
someone other than the buyer is recorded and opens a risk case."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from mall.clock import utc_now
from mall.dal.orders import OrderRepository
from mall.dal.refunds import RefundRepository
from mall.dal.risk import RiskCaseRepository
from mall.dal.table import Table, main_table
from mall.domain.refunds import LineRequest
from mall.domain.risk import risk_case_id
from mall.integrations.wechatpay.factory import merchant_config, pay_client
from mall.services import refunds as refund_service
from tests.conftest import clear_caches
from tests.unit.test_orders_handlers import ADDRESS, BOOK, Mall, add_products, customer_token, make_mall, order_item
from tests.unit.test_payouts import fail_body, record, started, wallet

PAYER_MISMATCH_RULE = "payer_mismatch"


@pytest.fixture
def mall(table: Table, monkeypatch: pytest.MonkeyPatch) -> Iterator[Mall]:
    clear_caches()
    yield make_mall(monkeypatch)
    clear_caches()


def everything(table: Table) -> list[dict[str, Any]]:
    """Every item of the table, in key order: "nothing changed" means this is equal."""
    items: list[dict[str, Any]] = []
    start: dict[str, Any] | None = None
    while True:
        page = table.client.scan(TableName=table.name, ConsistentRead=True,
                                 **({"ExclusiveStartKey": start} if start else {}))
        items += page["Items"]
        start = page.get("LastEvaluatedKey")
        if not start:
            return sorted(items, key=lambda i: (i["pk"]["S"], i["sk"]["S"]))


def paid_order(mall: Mall, code: str = "buyer") -> tuple[str, str, int]:
    add_products(BOOK)
    buyer, token = customer_token(code)
    status, body = mall.place(token, {"lines": [{"product_id": "book", "quantity": 1}], "address": ADDRESS})
    assert status == 201, body
    return buyer, body["order_id"], body["amount_fen"]


def test_a_payment_not_in_cny_is_refused_and_changes_nothing(mall: Mall, table: Table) -> None:
    buyer, order_id, amount = paid_order(mall)
    before = everything(table)
    resource = mall.sandbox.transaction_resource(order_id, amount, f"openid-{'buyer'}")
    resource["amount"] = {**resource["amount"], "currency": "USD"}
    status, reply = mall.deliver(*mall.sandbox.build_notification("TRANSACTION.SUCCESS", resource,
                                                                  original_type="transaction"))
    assert status == 400 and fail_body(reply) == "currency is not CNY"
    assert everything(table) == before
    resource["amount"] = {**resource["amount"], "currency": "CNY"}
    status, _ = mall.deliver(*mall.sandbox.build_notification("TRANSACTION.SUCCESS", resource,
                                                              original_type="transaction"))
    assert status == 204 and order_item(order_id)["status"] == "PAID"
    assert RiskCaseRepository(table).get(risk_case_id(buyer, PAYER_MISMATCH_RULE, order_id)) is None


def test_a_refund_notification_whose_event_and_status_disagree_is_refused(mall: Mall, table: Table) -> None:
    buyer, order_id, _ = paid_order(mall)
    assert mall.pay(order_id)[0] == 204
    orders, refunds = OrderRepository(table), RefundRepository(table)
    line_id = str(orders.get(order_id).lines[0].line_id)  # type: ignore[union-attr]
    asked = refund_service.request_refund(orders=orders, refunds=refunds, buyer_id=buyer, order_id=order_id,
                                          reason="质量问题", lines=[LineRequest(line_id, 1000)], now=utc_now())
    view = refund_service.approve_refund(orders=orders, refunds=refunds, refund_id=asked.refund_id,
                                         admin="admin:alice", now=utc_now(), gateway=pay_client(),
                                         notify_url=merchant_config().notify_url)
    assert view.status == "PROCESSING"
    before = everything(table)
    for event, status_in_resource in (("REFUND.SUCCESS", "CLOSED"), ("REFUND.CLOSED", "SUCCESS"),
                                      ("REFUND.ABNORMAL", "SUCCESS")):
        resource = mall.sandbox.refund_resource(asked.refund_id, order_id, 1000, 1000,
                                                refund_status=status_in_resource,
                                                refund_id=view.wechat_refund_id)
        status, reply = mall.deliver(*mall.sandbox.build_notification(event, resource, original_type="refund"))
        assert status == 400 and fail_body(reply) == "refund_status does not match the event", event
        assert everything(table) == before, event
    resource = mall.sandbox.refund_resource(asked.refund_id, order_id, 1000, 1000, refund_id=view.wechat_refund_id)
    status, _ = mall.deliver(*mall.sandbox.build_notification("REFUND.SUCCESS", resource, original_type="refund"))
    assert status == 204 and refunds.get(asked.refund_id).status == "SUCCEEDED"  # type: ignore[union-attr]


def test_a_transfer_bill_under_another_number_or_without_the_merchant_is_refused(mall: Mall, table: Table) -> None:
    w = started(mall)
    recorded = record(w.withdrawal_id)
    assert recorded["status"] == "PAYING" and recorded["transfer_bill_no"]
    money = wallet(w.promoter_id)
    before = everything(table)
    other_number = mall.sandbox.transfer_bill_resource(w.out_bill_no, w.net_fen, "openid-promoter",
                                                       transfer_bill_no="1330" + "9" * 36)
    no_merchant = mall.sandbox.transfer_bill_resource(w.out_bill_no, w.net_fen, "openid-promoter",
                                                      transfer_bill_no=recorded["transfer_bill_no"])
    del no_merchant["mch_id"]
    for resource, message in ((other_number, "transfer_bill_no mismatch"), (no_merchant, "mch_id mismatch")):
        for state in ("SUCCESS", "FAIL"):
            note = mall.sandbox.build_notification("MCHTRANSFER.BILL.FINISHED", {**resource, "state": state},
                                                   original_type="mch_payment")
            status, reply = mall.deliver(*note)
            assert status == 400 and fail_body(reply) == message, (message, state)
            assert everything(table) == before and wallet(w.promoter_id) == money
    genuine = {**no_merchant, "mch_id": merchant_config().mchid}
    status, _ = mall.deliver(*mall.sandbox.build_notification("MCHTRANSFER.BILL.FINISHED", genuine,
                                                              original_type="mch_payment"))
    assert status == 204 and record(w.withdrawal_id)["status"] == "PAID"


def test_a_payment_by_someone_else_is_recorded_and_opens_one_risk_case(mall: Mall, table: Table) -> None:
    buyer, order_id, amount = paid_order(mall)
    resource = mall.sandbox.transaction_resource(order_id, amount, "openid-a-stranger")
    for _ in range(2):  # WeChat Pay may deliver twice: one case
        status, _ = mall.deliver(*mall.sandbox.build_notification("TRANSACTION.SUCCESS", resource,
                                                                  original_type="transaction"))
        assert status == 204
    assert order_item(order_id)["status"] == "PAID"
    case = RiskCaseRepository(table).get(risk_case_id(buyer, PAYER_MISMATCH_RULE, order_id))
    assert case is not None and case.is_open and case.promoter_id == buyer and case.window_key == order_id
    assert case.evidence["subject"] == "customer" and case.evidence["order_id"] == order_id
    assert "openid-a-stranger" not in str(case.evidence)  # no openid kept in the case
    cases = [i for i in everything(table) if i.get("entity", {}).get("S") == "risk_case"]
    assert len(cases) == 1
    assert main_table().get({"pk": f"ORDER#{order_id}", "sk": "ORDER"}) is not None
