"""POST /orders and POST /orders/{order_id}/payment through the real handlers (moto), with the
WeChat Pay sandbox served in-process in place of HTTP."""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from types import ModuleType
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from local.wechatpay_sandbox.sandbox import PaySandbox
from mall.clock import utc_now
from mall.dal.catalog import CategoryRepository, ProductRepository
from mall.dal.identity import CustomerRepository
from mall.dal.order_items import order_history
from mall.dal.table import main_table
from mall.domain.catalog import Category, CommissionSetting, Product
from mall.domain.tokens import Role, issue_token
from mall.integrations import pii_crypto
from mall.integrations.wechatpay import client as client_module
from mall.integrations.wechatpay.crypto import load_public_key
from mall.secrets import get_secret
from tests.conftest import SECRETS_FILE
from tests.unit.conftest import FakeContext, http_event, load_function
from tests.unit.wechatpay.helpers import RecordingSender, sandbox_transport

APPID = "wx_test_app"
NOTIFY_URL = "http://webhook.test/webhooks/wechatpay"


def keys() -> dict[str, str]:
    data: dict[str, str] = json.loads(SECRETS_FILE.read_text())
    return data


@dataclass
class Mall:
    """The functions under test, the pay sandbox they talk to, and helpers to drive them."""

    sandbox: PaySandbox
    sender: RecordingSender
    modules: dict[str, ModuleType] = field(default_factory=dict)

    def module(self, name: str) -> ModuleType:
        if name not in self.modules:
            self.modules[name] = load_function(name)
        return self.modules[name]

    def call(self, function: str, event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        result = self.module(function).handler(event, FakeContext())
        body = result.get("body") or ""
        return int(result["statusCode"]), (json.loads(body) if body else {})

    def place(self, token: str, body: Any, *, key: str | None = None) -> tuple[int, dict[str, Any]]:
        headers = {"authorization": f"Bearer {token}", "idempotency-key": key or uuid.uuid4().hex}
        return self.call("place_order", http_event("POST", "/orders", body=body, headers=headers))

    def payment(self, token: str, order_id: str) -> tuple[int, dict[str, Any]]:
        path = f"/orders/{order_id}/payment"
        event = http_event("POST", path, headers={"authorization": f"Bearer {token}"})
        event["routeKey"] = "POST /orders/{order_id}/payment"
        event["pathParameters"] = {"order_id": order_id}
        return self.call("order_payment", event)

    def deliver(self, headers: dict[str, str], body: bytes, *, base64_body: bool = False) -> tuple[int, dict[str, Any]]:
        """POST a notification to the webhook as API Gateway would (lower-case header names)."""
        event = http_event("POST", "/webhooks/wechatpay", headers={k.lower(): v for k, v in headers.items()},
                           raw_body=body.decode("utf-8"))
        if base64_body:
            event["body"] = base64.b64encode(body).decode("ascii")
            event["isBase64Encoded"] = True
        return self.call("wechatpay_webhook", event)

    def pay(self, order_id: str) -> tuple[int, dict[str, Any]]:
        """The buyer pays at the sandbox; its notification is delivered to the webhook."""
        event = self.sandbox.pay(order_id)
        return self.deliver(event.headers, event.body)


def make_mall(monkeypatch: pytest.MonkeyPatch) -> Mall:
    """WeChat Pay configured for the tests, its API served in-process by a fresh sandbox."""
    monkeypatch.setenv("WECHATPAY_API_BASE", "http://sandbox.test/wechatpay")
    monkeypatch.setenv("WECHATPAY_NOTIFY_URL", NOTIFY_URL)
    sender = RecordingSender()
    sandbox = PaySandbox(keys(), appid=APPID, sender=sender)
    monkeypatch.setattr(client_module, "urllib_transport", sandbox_transport(sandbox))
    return Mall(sandbox, sender)


@pytest.fixture
def mall(moto_table: str, monkeypatch: pytest.MonkeyPatch) -> Mall:
    return make_mall(monkeypatch)


def customer_token(code: str = "buyer") -> tuple[str, str]:
    now = utc_now()
    customer, _ = CustomerRepository(main_table()).get_or_create(app_id=APPID, openid=f"openid-{code}",
                                                                 unionid=None, now=now)
    token = issue_token(customer.user_id, frozenset({Role.CUSTOMER}), key=get_secret("token_signing_key").encode(),
                        now=now, ttl_seconds=3600)
    return customer.user_id, token


def add_products(*products: Product) -> None:
    categories = CategoryRepository(main_table())
    repo = ProductRepository(main_table())
    for category_id in {p.category_id for p in products}:
        if categories.get(category_id) is None:
            categories.create(Category(category_id=category_id, name=f"分类{category_id}"))
    for product in products:
        repo.create(product)


BOOK = Product(product_id="book", name="三体", type="physical", category_id="c1", price_fen=3990, stock=10,
               shipping_fee_fen=800, on_shelf=True, commission=CommissionSetting("ratio", 1000, 500))
CARD = Product(product_id="card", name="会员卡", type="virtual", category_id="c2", price_fen=9900, stock=100,
               on_shelf=True, per_user_limit=2)
ADDRESS = {"name": "张三丰", "phone": "13812341234", "province": "广东省", "city": "深圳市",
           "detail": "南山区科技园一路 1 号"}


def stock_of(product_id: str) -> int:
    product = ProductRepository(main_table()).get(product_id, consistent=True)
    assert product is not None
    return product.stock


def order_item(order_id: str) -> dict[str, Any]:
    item = main_table().get({"pk": f"ORDER#{order_id}", "sk": "ORDER"}, consistent=True)
    assert item is not None
    return item


def partition(pk: str) -> list[dict[str, Any]]:
    return main_table().query(partition=("pk", pk), limit=100).items


# ---- placing -------------------------------------------------------------------------------------


def test_placing_an_order_reserves_stock_in_one_go_and_returns_signed_payment_params(mall: Mall) -> None:
    add_products(BOOK, CARD)
    buyer, token = customer_token()
    status, body = mall.place(token, {"lines": [{"product_id": "book", "quantity": 2},
                                                {"product_id": "card", "quantity": 1}], "address": ADDRESS})
    assert status == 201, body
    order_id = body["order_id"]
    assert body["status"] == "CREATED" and body["goods_fen"] == 2 * 3990 + 9900
    assert body["shipping_fen"] == 800 and body["amount_fen"] == 2 * 3990 + 9900 + 800
    assert body["address"] == {"name": "张**", "phone": "138****1234", "province": "广东省", "city": "深圳市",
                               "detail": "南山区科技园****"}
    # The wx.requestPayment parameters are signed with the merchant key over WeChat's message.
    params = body["payment"]
    assert params["appId"] == APPID and params["package"].startswith("prepay_id=") and params["signType"] == "RSA"
    message = f"{APPID}\n{params['timeStamp']}\n{params['nonceStr']}\n{params['package']}\n".encode()
    load_public_key(keys()["wechatpay_merchant_public_key"]).verify(
        base64.b64decode(params["paySign"]), message, padding.PKCS1v15(), hashes.SHA256())
    # The sandbox got the prepay with our amount, openid, expiry and notify URL.
    prepaid = mall.sandbox.snapshot()["orders"][order_id]
    assert prepaid["total"] == body["amount_fen"] and prepaid["notify_url"] == NOTIFY_URL
    assert prepaid["openid"] == "openid-buyer" and prepaid["trade_state"] == "NOTPAY"

    item = order_item(order_id)
    assert item["buyer_id"] == buyer and item["status"] == "CREATED" and item["version"] == 1
    assert item["gsi1pk"] == f"BUYER#{buyer}" and item["expires_at_order"] == body["expires_at"]
    assert [line["paid_fen"] for line in item["lines"]] == [7980, 9900]
    assert item["lines"][0]["commission"] == {"mode": "ratio", "l1": 1000, "l2": 500}
    assert item["attribution"]["basis"] == "none" and item["attribution"]["l1_promoter_id"] is None
    # Personal data: encrypted, bound to this order, never stored in clear.
    (apart,) = [i for i in partition(f"ORDER#{order_id}") if i["sk"] == "ADDRESS"]  # kept apart from the order
    address = apart["address"]
    assert "address" not in item and "张三丰" not in json.dumps(apart, ensure_ascii=False)
    assert pii_crypto.decrypt(address["phone_enc"], context=f"ORDER#{order_id}") == "13812341234"
    assert address["province"] == "广东省"
    assert stock_of("book") == 8 and stock_of("card") == 99
    counter = main_table().get({"pk": f"USER#{buyer}", "sk": "PURCHASE#card"})
    assert counter is not None and counter["reserved_quantity"] == 1
    # The order's history as its detail reads it (stored entries and those the order implies).
    history = order_history(item, [i for i in partition(f"ORDER#{order_id}") if i["sk"].startswith("HISTORY#")])
    assert [h.status for h in history] == ["CREATED"]
    # The expiry finds the order in the by-status list (gsi3): it enters no gsi2 partition of its own.
    assert item["gsi3pk"] == "ORDERS#CREATED" and "gsi2pk" not in item and "gsi2sk" not in item


def test_the_idempotency_key_is_required_and_a_retry_replays_the_same_order(mall: Mall) -> None:
    add_products(BOOK)
    _, token = customer_token()
    body = {"lines": [{"product_id": "book", "quantity": 1}], "address": ADDRESS}
    event = http_event("POST", "/orders", body=body, headers={"authorization": f"Bearer {token}"})
    status, error = mall.call("place_order", event)
    assert status == 422 and error["error"]["fields"][0]["field"] == "header:idempotency-key"
    first = mall.place(token, body, key="retry-key-0001")
    again = mall.place(token, body, key="retry-key-0001")
    assert first[0] == again[0] == 201 and first[1]["order_id"] == again[1]["order_id"]
    assert stock_of("book") == 9


def test_a_share_source_is_kept_and_a_virtual_order_keeps_no_address(mall: Mall) -> None:
    add_products(CARD)
    _, token = customer_token()
    status, body = mall.place(token, {"lines": [{"product_id": "card", "quantity": 1}], "address": ADDRESS,
                                      "share_source": {"promoter_code": "AB12cd34", "source": "poster"}})
    assert status == 201, body
    assert body["address"] is None and body["shipping_fen"] == 0
    item = order_item(body["order_id"])
    assert "address" not in item
    assert item["share_source"] == {"promoter_code": "AB12cd34", "source": "poster", "product_id": None}


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"lines": [{"product_id": "book", "quantity": 1}]}, 422, "address_required"),
    ({"lines": [{"product_id": "book", "quantity": 11}], "address": ADDRESS}, 409, "out_of_stock"),
    ({"lines": [{"product_id": "ghost", "quantity": 1}]}, 422, "invalid_order_lines"),
    ({"lines": [{"product_id": "book", "quantity": 0}], "address": ADDRESS}, 422, "validation_error"),
    ({"lines": [{"product_id": "book", "quantity": 1, "unit_price_fen": 1}], "address": ADDRESS}, 422,
     "validation_error"),
    ({"lines": [], "address": ADDRESS}, 422, "validation_error"),
    ({"lines": [{"product_id": "card", "quantity": 3}]}, 409, "purchase_limit_exceeded"),
    ({"lines": [{"product_id": "book", "quantity": 1}], "address": {**ADDRESS, "phone": "call me"}}, 422,
     "validation_error"),
])
def test_refusals_are_clear_and_change_nothing(mall: Mall, body: dict[str, Any], status: int, code: str) -> None:
    add_products(BOOK, CARD)
    _, token = customer_token()
    got, error = mall.place(token, body)
    assert got == status and error["error"]["code"] == code, error
    assert stock_of("book") == 10 and stock_of("card") == 100
    assert mall.sandbox.snapshot()["orders"] == {}


def test_off_shelf_products_cannot_be_ordered(mall: Mall) -> None:
    add_products(Product(product_id="old", name="旧款", type="virtual", category_id="c2", price_fen=100, stock=5,
                         on_shelf=False))
    _, token = customer_token()
    status, error = mall.place(token, {"lines": [{"product_id": "old", "quantity": 1}]})
    assert status == 409 and error["error"]["code"] == "product_unavailable"


def test_the_per_customer_limit_counts_earlier_orders(mall: Mall) -> None:
    add_products(CARD)
    _, token = customer_token()
    assert mall.place(token, {"lines": [{"product_id": "card", "quantity": 2}]})[0] == 201
    status, error = mall.place(token, {"lines": [{"product_id": "card", "quantity": 1}]})
    assert status == 409 and error["error"]["code"] == "purchase_limit_exceeded"
    _, other = customer_token("someone-else")
    assert mall.place(other, {"lines": [{"product_id": "card", "quantity": 1}]})[0] == 201


def test_an_anonymous_caller_cannot_order(mall: Mall) -> None:
    event = http_event("POST", "/orders", body={"lines": [{"product_id": "card", "quantity": 1}]},
                       headers={"idempotency-key": "anonymous-0001"})
    assert mall.call("place_order", event)[0] == 401


def test_a_failed_prepay_keeps_the_order_and_the_client_fetches_params_again(mall: Mall) -> None:
    add_products(CARD)
    buyer, token = customer_token()
    mall.sandbox.fail_next(500, "SYSTEM_ERROR")
    status, body = mall.place(token, {"lines": [{"product_id": "card", "quantity": 1}]})
    assert status == 201 and body["payment"] is None and body["payment_error"] == "payment_unavailable"
    assert order_item(body["order_id"])["status"] == "CREATED" and stock_of("card") == 99
    status, again = mall.payment(token, body["order_id"])
    assert status == 200, again
    assert again["payment"]["package"].startswith("prepay_id=") and again["amount_fen"] == body["amount_fen"]
    # Only the buyer sees their order; a paid order has nothing left to pay.
    _, stranger = customer_token("stranger")
    assert mall.payment(stranger, body["order_id"])[0] == 404
    assert mall.pay(body["order_id"])[0] == 204
    status, error = mall.payment(token, body["order_id"])
    assert status == 409 and error["error"]["code"] == "order_not_payable"
    assert buyer


def test_payment_params_are_refused_after_expiry_and_while_wechatpay_is_down(mall: Mall,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    add_products(CARD)
    _, token = customer_token()
    _, body = mall.place(token, {"lines": [{"product_id": "card", "quantity": 1}]})
    mall.sandbox.fail_next(503, "SYSTEM_ERROR")
    status, error = mall.payment(token, body["order_id"])
    assert status == 503 and error["error"]["code"] == "payment_unavailable"
    later = utc_now() + timedelta(minutes=31)
    monkeypatch.setattr(mall.module("order_payment"), "utc_now", lambda: later)
    status, error = mall.payment(token, body["order_id"])
    assert status == 409 and error["error"]["code"] == "order_expired"


def test_an_address_placed_with_the_order_is_masked_in_the_buyers_detail_and_revealed_to_an_admin(
        mall: Mall) -> None:
    """Placing an order and the order views seal and open the address with the same
    context: the detail shows the masked forms, not the stars of an address that did not decrypt."""
    add_products(BOOK)
    _, token = customer_token()
    status, placed = mall.place(token, {"lines": [{"product_id": "book", "quantity": 1}], "address": ADDRESS})
    assert status == 201, placed
    order_id = placed["order_id"]
    path = f"/orders/{order_id}"
    event = http_event("GET", path, headers={"authorization": f"Bearer {token}"})
    event["routeKey"] = "GET /orders/{order_id}"
    event["pathParameters"] = {"order_id": order_id}
    status, detail = mall.call("orders_read", event)
    assert status == 200, detail
    assert detail["address"] == {"name": "张**", "phone": "138****1234", "province": "广东省", "city": "深圳市",
                                 "detail": "南山区科技园****"}
    admin = issue_token("admin:alice", frozenset({Role.ADMIN}), key=get_secret("token_signing_key").encode(),
                        now=utc_now(), ttl_seconds=600)
    status, full = mall.call("admin_orders", http_event("GET", f"/admin/orders/{order_id}/shipping-address",
                                                        headers={"authorization": f"Bearer {admin}"}))
    assert status == 200 and full == {"order_id": order_id, **ADDRESS}
