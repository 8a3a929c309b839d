"""Orders and payments under real concurrency on DynamoDB Local: threads racing in parallel for the
last units, the same notification delivered by many threads at once, overlapping expiry runs."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest

from local.wechatpay_sandbox.sandbox import PaySandbox
from mall.clock import utc_now
from mall.dal.catalog import CategoryRepository, ProductRepository
from mall.dal.identity import CustomerRepository
from mall.dal.orders import OrderRepository
from mall.dal.table import Table
from mall.domain.catalog import Category, Product
from mall.errors import Conflict
from mall.integrations.wechatpay.client import WeChatPayClient
from mall.integrations.wechatpay.crypto import load_private_key, load_public_key
from mall.integrations.wechatpay.factory import MerchantConfig
from mall.schemas.orders import OrderLineRequest, PlaceOrderRequest
from mall.services.orders import PlacementRepositories, PlaceOrder, place_order
from mall.services.payment_jobs import expire_due_orders
from mall.services.payments import PaymentRepositories, WebhookReply, handle_notification
from tests.conftest import SECRETS_FILE
from tests.unit.wechatpay.helpers import RecordingSender, sandbox_transport

pytestmark = pytest.mark.integration

APPID = "wx_test_app"
NOTIFY_URL = "http://webhook.test/webhooks/wechatpay"
KEYS: dict[str, str] = json.loads(SECRETS_FILE.read_text())
MERCHANT = MerchantConfig(mchid=KEYS["wechatpay_mchid"], appid=APPID,
                          merchant_serial=KEYS["wechatpay_merchant_serial"],
                          public_key_id=KEYS["wechatpay_public_key_id"], notify_url=NOTIFY_URL)
PUBLIC_KEYS = {KEYS["wechatpay_public_key_id"]: load_public_key(KEYS["wechatpay_public_key"])}


class World:
    def __init__(self, table: Table) -> None:
        self.table = table
        self.orders = OrderRepository(table)
        self.products = ProductRepository(table)
        self.customers = CustomerRepository(table)
        self.sandbox = PaySandbox(KEYS, appid=APPID, sender=RecordingSender())
        private = load_private_key(KEYS["wechatpay_merchant_private_key"])
        self._client = WeChatPayClient("http://sandbox.test/wechatpay", mchid=MERCHANT.mchid, appid=APPID,
                                       merchant_serial=MERCHANT.merchant_serial, merchant_private_key=private,
                                       public_keys=PUBLIC_KEYS, transport=sandbox_transport(self.sandbox))

    def pay(self) -> WeChatPayClient:
        return self._client

    def add_product(self, product_id: str, stock: int, *, limit: int | None = None) -> None:
        categories = CategoryRepository(self.table)
        if categories.get("c1") is None:
            categories.create(Category(category_id="c1", name="书籍"))
        self.products.create(Product(product_id=product_id, name="限量版", type="virtual", category_id="c1",
                                     price_fen=1990, stock=stock, on_shelf=True, per_user_limit=limit))

    def buyer(self, n: int) -> str:
        customer, _ = self.customers.get_or_create(app_id=APPID, openid=f"openid-{n}", unionid=None, now=utc_now())
        return customer.user_id

    def place(self, buyer_id: str, product_id: str, quantity: int = 1) -> str:
        request = PlaceOrderRequest(lines=[OrderLineRequest(product_id=product_id, quantity=quantity)])
        return place_order(PlaceOrder(request=request, buyer_id=buyer_id, now=utc_now()),
                           repos=PlacementRepositories.on(self.table), pay=self.pay, notify_url=NOTIFY_URL).order_id

    def deliver(self, headers: dict[str, str], body: bytes) -> WebhookReply:
        return handle_notification(headers=headers, raw_body=body, repos=PaymentRepositories.on(self.table),
                                   merchant=MERCHANT, public_keys=PUBLIC_KEYS,
                                   apiv3_key=KEYS["wechatpay_apiv3_key"].encode(), pay=self.pay, now=utc_now())

    def expire(self, minutes_ahead: float) -> dict[str, Any]:
        return expire_due_orders(repos=PaymentRepositories.on(self.table), products=self.products,
                                 merchant=MERCHANT, pay=self.pay, now=utc_now(),
                                 due_until=utc_now() + timedelta(minutes=minutes_ahead)).as_dict()

    def stock(self, product_id: str) -> int:
        product = self.products.get(product_id, consistent=True)
        assert product is not None
        return product.stock

    def item(self, pk: str, sk: str) -> dict[str, Any]:
        found = self.table.get({"pk": pk, "sk": sk}, consistent=True)
        assert found is not None
        return found


def race[T](n: int, work: Callable[[int], T]) -> list[T | BaseException]:
    """Run ``work(i)`` for i in range(n) on n threads released at the same instant."""
    start = threading.Barrier(n)

    def run(i: int) -> T | BaseException:
        start.wait()
        try:
            return work(i)
        except Exception as exc:
            return exc

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(run, range(n)))


@pytest.fixture
def world(table: Table) -> World:
    return World(table)


def test_fifty_buyers_racing_for_the_last_ten_units_get_exactly_ten_orders(world: World) -> None:
    world.add_product("limited", stock=10, limit=5)  # a limit: the placement reserves the buyer's counter
    buyers = [world.buyer(i) for i in range(50)]
    results = race(50, lambda i: world.place(buyers[i], "limited"))

    placed = [r for r in results if isinstance(r, str)]
    refused = [r for r in results if not isinstance(r, str)]
    assert len(placed) == 10 and len(set(placed)) == 10
    assert all(isinstance(r, Conflict) and r.code == "out_of_stock" for r in refused), Counter(
        getattr(r, "code", type(r).__name__) for r in refused)
    assert len(refused) == 40
    assert world.stock("limited") == 0
    assert world.item("PRODUCT#limited", "PRODUCT")["sales"] == 10
    for order_id in placed:
        assert world.item(f"ORDER#{order_id}", "ORDER")["status"] == "CREATED"
    # Only the winners hold a reservation.
    reserved = [world.table.get({"pk": f"USER#{b}", "sk": "PURCHASE#limited"}, consistent=True) for b in buyers]
    assert sum(int(r["reserved_quantity"]) for r in reserved if r) == 10


def test_one_buyer_racing_with_itself_cannot_pass_the_per_customer_limit(world: World) -> None:
    world.add_product("limited", stock=100, limit=3)
    buyer = world.buyer(1)
    results = race(10, lambda _: world.place(buyer, "limited"))
    assert sum(isinstance(r, str) for r in results) == 3
    assert {getattr(r, "code", None) for r in results if not isinstance(r, str)} == {"purchase_limit_exceeded"}
    assert world.stock("limited") == 97


def test_ten_concurrent_deliveries_of_one_payment_make_one_transition(world: World) -> None:
    world.add_product("book", stock=5)
    buyer = world.buyer(1)
    order_id = world.place(buyer, "book", 2)
    event = world.sandbox.pay(order_id)
    replies = race(10, lambda _: world.deliver(event.headers, event.body))
    assert all(isinstance(r, WebhookReply) and r.status == 204 for r in replies), replies
    outcomes = Counter(r.outcome for r in replies if isinstance(r, WebhookReply))
    assert outcomes["mark_paid"] == 1 and outcomes["duplicate"] == 9
    order = world.item(f"ORDER#{order_id}", "ORDER")
    assert order["status"] == "PAID" and order["version"] == 2
    profile = world.item(f"USER#{buyer}", "PROFILE")
    assert profile["paid_order_count"] == 1 and profile["paid_total_fen"] == order["amount_fen"]
    assert world.item(f"USER#{buyer}", "PURCHASE#book")["paid_quantity"] == 2
    bundle = OrderRepository(world.table).bundle(order_id)  # the history as the order detail reads it
    assert bundle is not None and [h.status for h in bundle.history] == ["CREATED", "PAID"]


def test_overlapping_expiry_runs_release_each_order_once(world: World) -> None:
    world.add_product("book", stock=20, limit=10)
    buyers = [world.buyer(i) for i in range(5)]
    orders = [world.place(b, "book", 2) for b in buyers]
    assert world.stock("book") == 10
    reports = race(4, lambda _: world.expire(31))
    assert all(isinstance(r, dict) for r in reports), reports
    assert sum(r["expired"] for r in reports if isinstance(r, dict)) == 5
    assert world.stock("book") == 20
    assert world.item("PRODUCT#book", "PRODUCT")["sales"] == 0
    for order_id, buyer in zip(orders, buyers, strict=True):
        assert world.item(f"ORDER#{order_id}", "ORDER")["status"] == "EXPIRED"
        assert world.item(f"USER#{buyer}", "PURCHASE#book")["reserved_quantity"] == 0
    assert world.expire(40)["expired"] == 0 and world.stock("book") == 20


def test_a_payment_racing_the_expiry_job_is_never_lost_nor_double_counted(world: World) -> None:
    world.add_product("book", stock=5)
    buyer = world.buyer(1)
    order_id = world.place(buyer, "book", 1)
    event = world.sandbox.pay(order_id)  # paid at WeChat Pay just before the order's time ran out

    def work(i: int) -> Any:
        return world.expire(31) if i % 2 else world.deliver(event.headers, event.body)

    results = race(6, work)
    assert not [r for r in results if isinstance(r, BaseException)], results
    order = world.item(f"ORDER#{order_id}", "ORDER")
    assert order["status"] == "PAID" and order["version"] == 2
    assert world.stock("book") == 4
    assert world.item(f"USER#{buyer}", "PROFILE")["paid_order_count"] == 1
