"""After payment over HTTP against the local stack: a PAID order (put straight into the stack's
table, in the stored order's shape) is listed, shipped, confirmed, partly refunded — approved through
the pay sandbox, completed by a genuinely signed REFUND.SUCCESS sent to the webhook — and
auto-confirmation runs from its schedule."""

from __future__ import annotations

import base64
import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from local.hooks import DEMO_ADMIN, DEMO_ADMIN_PASSWORD
from local.wechatpay_sandbox.sandbox import PaySandbox
from mall.dal.identity import CustomerRepository
from mall.dal.orders import address_context
from mall.dal.table import Table
from mall.integrations.wechatpay.client import WeChatPayClient
from mall.integrations.wechatpay.crypto import load_private_key, load_public_key
from tests.unit.test_fulfilment_factory import ADDRESS, Line, order_item
from tests.unit.wechatpay.helpers import sandbox_transport

TIMEOUT = 15


@pytest.fixture(scope="module")
def secrets_json(stack: Any) -> dict[str, str]:
    data: dict[str, str] = json.loads((Path(stack.data_dir) / "secrets.json").read_text("utf-8"))
    return data


@pytest.fixture(scope="module")
def table(stack: Any) -> Table:
    # Our own client: the layer's cached settings are shared with the in-process functions.
    client = boto3.client("dynamodb", endpoint_url=stack.dynamodb_endpoint, region_name="us-east-1",
                          aws_access_key_id="local", aws_secret_access_key="local")
    return Table(stack.env["TABLE_NAME"], client)


@pytest.fixture(scope="module")
def sandbox(stack: Any, secrets_json: dict[str, str]) -> PaySandbox:
    """The stack's pay sandbox state (the same file its server uses), driven from this process."""
    return PaySandbox(secrets_json, appid="wx_local_app", state_path=Path(stack.data_dir) / "paysandbox.json",
                      sender=lambda url, headers, body: (0, b"not delivered"))


@pytest.fixture(scope="module")
def admin(api: str, http: requests.Session) -> dict[str, str]:
    login = http.post(f"{api}/admin/auth/login", json={"username": DEMO_ADMIN, "password": DEMO_ADMIN_PASSWORD},
                      timeout=TIMEOUT)
    assert login.status_code == 200, login.text
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


@dataclass(frozen=True)
class Ctx:
    api: str
    http: requests.Session
    stack: Any
    table: Table
    secrets: dict[str, str]
    sandbox: PaySandbox
    admin: dict[str, str]


@pytest.fixture
def ctx(api: str, http: requests.Session, stack: Any, table: Table, secrets_json: dict[str, str],  # noqa: PLR0917
        sandbox: PaySandbox, admin: dict[str, str]) -> Ctx:
    return Ctx(api, http, stack, table, secrets_json, sandbox, admin)


@pytest.fixture
def buyer(api: str, http: requests.Session) -> Iterator[tuple[str, dict[str, str]]]:
    login = http.post(f"{api}/auth/login", json={"code": f"fulfil-{uuid.uuid4().hex[:12]}"}, timeout=TIMEOUT)
    assert login.status_code == 200, login.text
    yield login.json()["user_id"], {"Authorization": f"Bearer {login.json()['access_token']}"}


def _encrypt(key_hex: str, text: str, context: str) -> str:
    """``mall.integrations.pii_crypto.encrypt`` with the stack's key (computed here: the layer's caches are the
    stack's)."""
    nonce = os.urandom(12)
    sealed = AESGCM(bytes.fromhex(key_hex)).encrypt(nonce, text.encode(), context.encode())
    return "v1:" + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")


def register_shipping_payment(table: Table, secrets_json: dict[str, str], order: dict[str, Any]) -> None:
    """Tell the stack's WeChat sandbox about a payment made outside it (the order was written paid), as WeChat
    knows every payment: its shipping information can then be uploaded (else 10060001, retried for minutes)."""
    customer = CustomerRepository(table).get(order["buyer_id"])
    if "transaction_id" not in order or customer is None or not os.environ.get("LOCAL_SANDBOX_URL"):
        return
    reply = requests.post(f"{os.environ['LOCAL_SANDBOX_URL'].rstrip('/')}/wechat/sandbox/shipping/payments",
                          json={"transaction_id": order["transaction_id"], "out_trade_no": order["order_id"],
                                "mchid": secrets_json["wechatpay_mchid"], "openid": customer.openid}, timeout=10)
    reply.raise_for_status()


def put_paid_order(table: Table, secrets_json: dict[str, str], buyer_id: str, **kwargs: Any) -> dict[str, Any]:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    item = order_item(buyer_id=buyer_id, with_address=False, created_at=now, **kwargs)
    key, context = secrets_json["pii_encryption_key"], address_context(item["order_id"])
    item["address"] = {"name_enc": _encrypt(key, ADDRESS["name"], context),
                       "phone_enc": _encrypt(key, ADDRESS["phone"], context),
                       "detail_enc": _encrypt(key, ADDRESS["detail"], context), "province": ADDRESS["province"],
                       "city": ADDRESS["city"]}
    table.put(item)
    register_shipping_payment(table, secrets_json, item)
    return item


def pay_at_sandbox(sandbox: PaySandbox, secrets_json: dict[str, str], order: dict[str, Any]) -> None:
    """Make the sandbox hold a SUCCESS payment for the order, so it accepts refunds of it."""
    keys = {secrets_json["wechatpay_public_key_id"]: load_public_key(secrets_json["wechatpay_public_key"])}
    client = WeChatPayClient("http://sandbox.local/wechatpay", mchid=secrets_json["wechatpay_mchid"],
                             appid=sandbox.appid, merchant_serial=secrets_json["wechatpay_merchant_serial"],
                             merchant_private_key=load_private_key(secrets_json["wechatpay_merchant_private_key"]),
                             public_keys=keys, transport=sandbox_transport(sandbox))
    client.jsapi_prepay(order["order_id"], description="e2e", amount_fen=order["amount_fen"], payer_openid="o-e2e",
                        notify_url="http://127.0.0.1:9/unused", time_expire=datetime.now(UTC) + timedelta(minutes=30))
    sandbox.pay(order["order_id"])


def test_paid_order_ship_confirm_refund_and_notification(ctx: Ctx, buyer: tuple[str, dict[str, str]]) -> None:
    api, http, stack, table, secrets_json, sandbox, admin = (ctx.api, ctx.http, ctx.stack, ctx.table, ctx.secrets,
                                                             ctx.sandbox, ctx.admin)
    buyer_id, customer = buyer
    order = put_paid_order(table, secrets_json, buyer_id, lines=[Line(unit_price_fen=1500, quantity=2)],
                           shipping_fen=500)
    oid = order["order_id"]
    pay_at_sandbox(sandbox, secrets_json, order)

    listed = http.get(f"{api}/orders", headers=customer, timeout=TIMEOUT)
    assert listed.status_code == 200 and [o["order_id"] for o in listed.json()["items"]] == [oid]
    detail = http.get(f"{api}/orders/{oid}", headers=customer, timeout=TIMEOUT).json()
    assert detail["status"] == "PAID" and detail["address"]["phone"] == "138****5678"
    assert detail["address"]["name"] == "张**" and ADDRESS["phone"] not in json.dumps(detail, ensure_ascii=False)

    shipped = http.post(f"{api}/admin/orders/{oid}/ship", headers=admin,
                        json={"carrier": "顺丰速运", "tracking_no": "SF1234567890"}, timeout=TIMEOUT)
    assert shipped.status_code == 200, shipped.text
    assert shipped.json()["status"] == "SHIPPED"
    stack.drain_streams()
    by_status = http.get(f"{api}/admin/orders", params={"status": "SHIPPED", "limit": 100}, headers=admin,
                         timeout=TIMEOUT)
    assert oid in [o["order_id"] for o in by_status.json()["items"]]

    confirmed = http.post(f"{api}/orders/{oid}/confirm-receipt", headers=customer, timeout=TIMEOUT)
    assert confirmed.status_code == 200 and confirmed.json()["completed_by"] == "buyer"

    asked = http.post(f"{api}/orders/{oid}/refunds", headers={**customer, "Idempotency-Key": uuid.uuid4().hex},
                      json={"reason": "有瑕疵", "lines": [{"line_id": "1", "amount_fen": 1000}]}, timeout=TIMEOUT)
    assert asked.status_code == 201, asked.text
    refund_id = asked.json()["refund_id"]
    queue = http.get(f"{api}/admin/refunds", params={"status": "REQUESTED", "limit": 100}, headers=admin,
                     timeout=TIMEOUT)
    assert refund_id in [r["refund_id"] for r in queue.json()["items"]]

    approved = http.post(f"{api}/admin/refunds/{refund_id}/approve", headers=admin, timeout=TIMEOUT)
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "PROCESSING" and approved.json()["wechat_refund_id"]

    resource = sandbox.refund_resource(refund_id, oid, 1000, order["amount_fen"],
                                       refund_id=approved.json()["wechat_refund_id"])
    headers, body = sandbox.build_notification("REFUND.SUCCESS", resource, original_type="refund")
    for _ in range(2):  # delivered twice, as WeChat Pay may: handled once
        reply = http.post(f"{api}/webhooks/wechatpay", data=body, headers=headers, timeout=TIMEOUT)
        assert reply.status_code in {200, 204}, reply.text

    refunds = http.get(f"{api}/orders/{oid}/refunds", headers=customer, timeout=TIMEOUT).json()["items"]
    assert [(r["refund_id"], r["status"]) for r in refunds] == [(refund_id, "SUCCEEDED")]
    after = http.get(f"{api}/orders/{oid}", headers=customer, timeout=TIMEOUT).json()
    assert after["lines"][0]["refunded_fen"] == 1000 and after["lines"][0]["refund_pending_fen"] == 0
    assert after["status"] == "COMPLETED" and after["refunded_fen"] == 1000
    assert [h["status"] for h in after["history"]] == ["SHIPPED", "COMPLETED"]


def test_refund_before_the_payment_is_confirmed_is_409(api: str, http: requests.Session, table: Table,
                                                        secrets_json: dict[str, str],
                                                        buyer: tuple[str, dict[str, str]]) -> None:
    buyer_id, customer = buyer
    order = put_paid_order(table, secrets_json, buyer_id, status="CREATED")
    asked = http.post(f"{api}/orders/{order['order_id']}/refunds",
                      headers={**customer, "Idempotency-Key": uuid.uuid4().hex},
                      json={"reason": "x", "lines": [{"line_id": "1"}]}, timeout=TIMEOUT)
    assert asked.status_code == 409 and asked.json()["error"]["code"] == "order_not_paid"


def test_auto_confirm_schedule_completes_orders_shipped_long_ago(ctx: Ctx, buyer: tuple[str, dict[str, str]]) -> None:
    api, http, stack, admin = ctx.api, ctx.http, ctx.stack, ctx.admin
    buyer_id, customer = buyer
    order = put_paid_order(ctx.table, ctx.secrets, buyer_id)
    shipped = http.post(f"{api}/admin/orders/{order['order_id']}/ship", headers=admin,
                        json={"carrier": "EMS", "tracking_no": "EMS000111"}, timeout=TIMEOUT)
    assert shipped.status_code == 200
    later = (datetime.now(UTC) + timedelta(days=11)).strftime("%Y-%m-%dT%H:%M:%SZ")
    result = stack.fire_schedule("OrderAutoConfirmFunction", later)
    assert result["completed"] >= 1
    detail = http.get(f"{api}/orders/{order['order_id']}", headers=customer, timeout=TIMEOUT).json()
    assert detail["status"] == "COMPLETED" and detail["completed_by"] == "auto"
