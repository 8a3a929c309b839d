"""Over HTTP against the local stack: place an order, pay it through the pay sandbox exactly as
``python -m local pay`` does (a genuinely signed, encrypted notification to the local webhook), and
the webhook's refusals (forged signature, wrong serial, stale timestamp, SIGNTEST probe, amount
mismatch) leaving the order unchanged."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import boto3
import pytest
import requests
from wechatpayv3 import WeChatPay, WeChatPayType

from local.hooks import DEMO_ADMIN, DEMO_ADMIN_PASSWORD
from local.wechatpay_sandbox.local_stack import local_stack_sandbox, pay_local_order
from local.wechatpay_sandbox.sandbox import PaySandbox
from mall.clock import utc_now
from mall.dal.catalog import CategoryRepository, ProductRepository
from mall.dal.table import Table
from mall.domain.catalog import Category, Product

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def table(stack: Any) -> Table:
    client = boto3.client("dynamodb", endpoint_url=stack.env["DYNAMODB_ENDPOINT"], region_name="us-east-1",
                          aws_access_key_id="local", aws_secret_access_key="local")
    table = Table(stack.env["TABLE_NAME"], client)
    categories = CategoryRepository(table)
    if categories.get("e2e-orders") is None:
        categories.create(Category(category_id="e2e-orders", name="端到端"))
    ProductRepository(table).create(Product(
        product_id=f"e2e-{uuid.uuid4().hex[:8]}", name="端到端测试商品", type="physical", category_id="e2e-orders",
        price_fen=12_900, stock=50, shipping_fee_fen=1_000, on_shelf=True))
    return table


@pytest.fixture(scope="module")
def product_id(table: Table) -> str:
    products, _ = ProductRepository(table).list_shelf(on_shelf=True)
    return next(p.product_id for p in products if p.category_id == "e2e-orders")


@pytest.fixture(scope="module")
def appid(stack: Any) -> str:
    return str(stack.env["WECHAT_APP_ID"])


@pytest.fixture(scope="module")
def sandbox(stack: Any, appid: str) -> PaySandbox:
    return local_stack_sandbox(stack.data_dir, appid=appid)


@pytest.fixture(scope="module")
def token(api: str, http: requests.Session) -> str:
    login = http.post(f"{api}/auth/login", json={"code": "e2e-orders-buyer"}, timeout=10)
    assert login.status_code == 200, login.text
    return str(login.json()["access_token"])


def place(api: str, http: requests.Session, token: str, product_id: str, quantity: int = 1) -> dict[str, Any]:
    response = http.post(f"{api}/orders", timeout=20, json={
        "lines": [{"product_id": product_id, "quantity": quantity}],
        "address": {"name": "李四", "phone": "13900001111", "province": "浙江省", "city": "杭州市",
                    "detail": "西湖区文三路 100 号"},
    }, headers={"Authorization": f"Bearer {token}", "Idempotency-Key": uuid.uuid4().hex})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def order(table: Table, order_id: str) -> dict[str, Any]:
    item = table.get({"pk": f"ORDER#{order_id}", "sk": "ORDER"}, consistent=True)
    assert item is not None
    return item


@dataclass(frozen=True)
class Shop:
    api: str
    http: requests.Session
    token: str
    product_id: str
    table: Table
    stack: Any
    appid: str
    sandbox: PaySandbox


@pytest.fixture(scope="module")
def shop(api: str, http: requests.Session, token: str, product_id: str, table: Table, stack: Any,  # noqa: PLR0917
         appid: str, sandbox: PaySandbox) -> Shop:
    return Shop(api, http, token, product_id, table, stack, appid, sandbox)


def test_place_then_pay_through_the_sandbox_command_path(shop: Shop) -> None:
    api, http, token, table, stack, appid = shop.api, shop.http, shop.token, shop.table, shop.stack, shop.appid
    placed = place(api, http, token, shop.product_id, 2)
    assert placed["amount_fen"] == 2 * 12_900 + 1_000 and placed["address"]["phone"] == "139****1111"
    assert placed["payment"]["package"].startswith("prepay_id="), placed
    assert order(table, placed["order_id"])["status"] == "CREATED"

    event = pay_local_order(stack.data_dir, placed["order_id"], appid=appid)  # what `python -m local pay` runs
    assert event.url == f"{api}/webhooks/wechatpay"
    assert event.status == 204, event.response
    paid = order(table, placed["order_id"])
    assert paid["status"] == "PAID" and paid["transaction_id"].startswith("4200")

    # The very bytes our webhook accepted also verify with the independent wechatpayv3 SDK.
    keys = json.loads((stack.data_dir / "secrets.json").read_text())
    sdk = WeChatPay(wechatpay_type=WeChatPayType.MINIPROG, mchid=keys["wechatpay_mchid"],
                    private_key=keys["wechatpay_merchant_private_key"],
                    cert_serial_no=keys["wechatpay_merchant_serial"], appid=appid,
                    apiv3_key=keys["wechatpay_apiv3_key"], public_key=keys["wechatpay_public_key"],
                    public_key_id=keys["wechatpay_public_key_id"])
    checked = sdk.callback({k.lower(): v for k, v in event.headers.items()}, event.body)
    assert checked is not None and checked["event_type"] == "TRANSACTION.SUCCESS"
    assert checked["resource"]["out_trade_no"] == placed["order_id"]
    assert checked["resource"]["amount"]["total"] == placed["amount_fen"]

    # WeChat Pay redelivers: success, nothing changes.
    again = requests.post(f"{api}/webhooks/wechatpay", data=event.body, headers=event.headers, timeout=10)
    assert again.status_code == 204 and order(table, placed["order_id"]) == paid
    # Nothing left to pay.
    more = http.post(f"{api}/orders/{placed['order_id']}/payment", headers={"Authorization": f"Bearer {token}"},
                     timeout=10)
    assert more.status_code == 409 and more.json()["error"]["code"] == "order_not_payable"


def test_the_buyer_sees_the_address_masked_and_an_admin_reveals_it_in_full(shop: Shop) -> None:
    api, http, token = shop.api, shop.http, shop.token
    placed = place(api, http, token, shop.product_id)
    oid = placed["order_id"]
    detail = http.get(f"{api}/orders/{oid}", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert detail.status_code == 200, detail.text
    assert detail.json()["address"] == {"name": "李*", "phone": "139****1111", "province": "浙江省", "city": "杭州市",
                                        "detail": "西湖区文三路****"}
    login = http.post(f"{api}/admin/auth/login", json={"username": DEMO_ADMIN, "password": DEMO_ADMIN_PASSWORD},
                      timeout=10)
    assert login.status_code == 200, login.text
    revealed = http.get(f"{api}/admin/orders/{oid}/shipping-address", timeout=10,
                        headers={"Authorization": f"Bearer {login.json()['access_token']}"})
    assert revealed.status_code == 200, revealed.text
    assert revealed.headers["Cache-Control"] == "no-store"
    assert revealed.json() == {"order_id": oid, "name": "李四", "phone": "13900001111", "province": "浙江省",
                               "city": "杭州市", "detail": "西湖区文三路 100 号"}
    refused = http.get(f"{api}/admin/orders/{oid}/shipping-address", headers={"Authorization": f"Bearer {token}"},
                       timeout=10)
    assert refused.status_code == 403


def test_refused_notifications_answer_4xx_fail_and_change_nothing(shop: Shop) -> None:
    api, table, sandbox = shop.api, shop.table, shop.sandbox
    placed = place(api, shop.http, shop.token, shop.product_id)
    order_id, amount = placed["order_id"], placed["amount_fen"]
    before = order(table, order_id)
    good = sandbox.transaction_resource(order_id, amount, "openid-e2e")
    genuine_headers, genuine_body = sandbox.build_notification("TRANSACTION.SUCCESS", good,
                                                               original_type="transaction")
    stale = str(int((utc_now() - timedelta(seconds=600)).timestamp()))
    cases = {
        "forged signature": (401, "bad_signature", sandbox.build_notification(
            "TRANSACTION.SUCCESS", good, original_type="transaction",
            signature_override=genuine_headers["Wechatpay-Signature"])),
        "wrong serial": (401, "unknown_serial", sandbox.build_notification(
            "TRANSACTION.SUCCESS", good, original_type="transaction", serial_override="PUB_KEY_ID_0114000000000")),
        "stale timestamp": (401, "stale_timestamp", sandbox.build_notification(
            "TRANSACTION.SUCCESS", good, original_type="transaction", timestamp_override=stale)),
        "signtest probe": (401, "signature_probe", sandbox.build_notification(
            "TRANSACTION.SUCCESS", good, original_type="transaction",
            signature_override="WECHATPAY/SIGNTEST/" + genuine_headers["Wechatpay-Signature"][:20])),
        "amount mismatch": (400, "amount mismatch", sandbox.build_notification(
            "TRANSACTION.SUCCESS", {**good, "amount": {**good["amount"], "total": amount - 1}},
            original_type="transaction")),
        "unsupported event": (400, "unsupported event", sandbox.build_notification(
            "PROFITSHARING.FINISHED", sandbox.transfer_bill_resource("bill1", 100, "openid-e2e"),
            original_type="mch_payment")),
    }
    for name, (status, message, (headers, body)) in cases.items():
        response = requests.post(f"{api}/webhooks/wechatpay", data=body, headers=headers, timeout=10)
        assert response.status_code == status, (name, response.text)
        assert response.json() == {"code": "FAIL", "message": message}, name
        assert order(table, order_id) == before, name
    # The genuine notification is still accepted afterwards.
    response = requests.post(f"{api}/webhooks/wechatpay", data=genuine_body, headers=genuine_headers, timeout=10)
    assert response.status_code == 204 and order(table, order_id)["status"] == "PAID"


def test_placing_needs_a_token_a_key_and_stock(api: str, http: requests.Session, token: str,
                                               product_id: str) -> None:
    body = {"lines": [{"product_id": product_id, "quantity": 1}]}
    anonymous = http.post(f"{api}/orders", json=body, headers={"Idempotency-Key": uuid.uuid4().hex}, timeout=10)
    assert anonymous.status_code == 401
    missing_key = http.post(f"{api}/orders", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert missing_key.status_code == 422
    too_many = http.post(f"{api}/orders", timeout=10, json={"lines": [{"product_id": product_id, "quantity": 999}],
                                                             "address": {"name": "李四", "phone": "13900001111",
                                                                         "province": "浙江省", "city": "杭州市",
                                                                         "detail": "西湖区"}},
                         headers={"Authorization": f"Bearer {token}", "Idempotency-Key": uuid.uuid4().hex})
    assert too_many.status_code == 409 and too_many.json()["error"]["code"] == "out_of_stock"
