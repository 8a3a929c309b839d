"""The refund chain against the pay sandbox: approval calls the real ``WeChatPayClient`` (signed
requests, verified responses), the sandbox completes the refund and sends a genuinely signed and
encrypted REFUND.SUCCESS, which is verified, decrypted and handled — twice, as WeChat Pay may."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from local.wechatpay_keys import generate_local_keys
from local.wechatpay_sandbox.sandbox import PaySandbox
from mall.dal.orders import OrderRepository
from mall.dal.refunds import RefundRepository
from mall.dal.table import Table
from mall.domain.refunds import LineRequest, RefundStatus
from mall.integrations.wechatpay.client import WeChatPayClient
from mall.integrations.wechatpay.crypto import load_private_key, load_public_key
from mall.integrations.wechatpay.notifications import verify_and_decrypt
from mall.integrations.wechatpay.refund_resources import parse_refund
from mall.services import refunds as service
from tests.unit.test_fulfilment_factory import Line, put_order
from tests.unit.wechatpay.helpers import sandbox_transport

NOTIFY = "http://127.0.0.1:9/webhooks/wechatpay"


def test_approve_then_sandbox_refund_success_end_to_end(table: Table) -> None:
    keys = generate_local_keys()
    delivered: list[tuple[dict[str, str], bytes]] = []

    def sender(url: str, headers: Mapping[str, str], body: bytes) -> tuple[int, bytes]:
        delivered.append((dict(headers), body))
        return 204, b""

    sandbox = PaySandbox(keys, appid="wx_test_app", sender=sender)
    public_keys = {keys["wechatpay_public_key_id"]: load_public_key(keys["wechatpay_public_key"])}
    client = WeChatPayClient("http://sandbox.local/wechatpay", mchid=keys["wechatpay_mchid"], appid="wx_test_app",
                             merchant_serial=keys["wechatpay_merchant_serial"],
                             merchant_private_key=load_private_key(keys["wechatpay_merchant_private_key"]),
                             public_keys=public_keys, transport=sandbox_transport(sandbox))
    order = put_order(table, lines=[Line(unit_price_fen=1500, quantity=2)], shipping_fen=500)
    now = datetime.now(UTC)
    client.jsapi_prepay(order["order_id"], description="test", amount_fen=order["amount_fen"], payer_openid="o-buyer",
                        notify_url=NOTIFY, time_expire=now + timedelta(minutes=30))
    sandbox.pay(order["order_id"])  # the sandbox now holds a SUCCESS payment for the order
    delivered.clear()

    orders, refunds = OrderRepository(table), RefundRepository(table)
    asked = service.request_refund(orders=orders, refunds=refunds, buyer_id=order["buyer_id"],
                                   order_id=order["order_id"], reason="质量问题", lines=[LineRequest("1", 1000)],
                                   now=now)
    view = service.approve_refund(orders=orders, refunds=refunds, refund_id=asked.refund_id, admin="admin:alice",
                                  now=now, gateway=client, notify_url=NOTIFY)
    assert view.status == "PROCESSING" and view.wechat_refund_id
    again = service.approve_refund(orders=orders, refunds=refunds, refund_id=asked.refund_id, admin="admin:alice",
                                   now=now, gateway=client, notify_url=NOTIFY)
    assert again.wechat_refund_id == view.wechat_refund_id
    assert list(sandbox.snapshot()["refunds"]) == [asked.refund_id]  # one refund at WeChat Pay, not two

    sandbox.complete_refund(asked.refund_id, status="SUCCESS")
    headers, body = delivered[-1]
    for _ in range(2):  # WeChat Pay may deliver twice
        note = verify_and_decrypt(headers, body, public_keys=public_keys,
                                  apiv3_key=keys["wechatpay_apiv3_key"].encode(), now=datetime.now(UTC))
        assert note.event_type == "REFUND.SUCCESS"
        service.handle_refund_notification(orders=OrderRepository(table), refunds=RefundRepository(table),
                                           refund=parse_refund(note.resource), now=datetime.now(UTC))
    stored = refunds.get(asked.refund_id)
    assert stored is not None and stored.status == RefundStatus.SUCCEEDED
    order_now = orders.get(order["order_id"])
    assert order_now is not None and order_now.lines[0].refunded_fen == 1000 and order_now.status == "PAID"
