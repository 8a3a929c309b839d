"""A traced function's trace after its cold start without ``asyncio`` (docs/performance.md, "Cold start: place
order's init"): the first request of place order, run in the function's own interpreter as the
cold-start benchmark starts it, sends the X-Ray daemon the handler's subsegment, one subsegment per
DynamoDB call and one for its call to WeChat Pay (named for the API, with its status), as template.yaml's
``Tracing: Active`` comment promises, and never loads ``asyncio``. A function the template does not
trace sends nothing for its WeChat Pay calls and never loads the X-Ray SDK for them."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import boto3
import pytest
from moto.server import ThreadedMotoServer

from bench.coldstart import after_cold_start
from mall.api.auth import signing_key
from mall.dal.catalog import CategoryRepository, ProductRepository
from mall.dal.identity import CustomerRepository
from mall.dal.table import main_table
from mall.domain.catalog import Category, Product
from mall.domain.tokens import Role, issue_token
from tests.conftest import ROOT, SECRETS_FILE, clear_caches, table_request
from tests.serving import serving


class _EmptyTable(BaseHTTPRequestHandler):
    """DynamoDB that finds nothing: every read answers empty, so the order is refused after its reads."""

    operations: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.operations.append(self.headers.get("x-amz-target", "").rpartition(".")[2])
        body = b'{"Responses": {}, "UnprocessedKeys": {}, "Items": [], "Count": 0}'
        self.send_response(200)
        self.send_header("content-type", "application/x-amz-json-1.0")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def dynamodb() -> Iterator[str]:
    _EmptyTable.operations = []
    with serving(ThreadingHTTPServer(("127.0.0.1", 0), _EmptyTable)) as port:
        yield f"http://127.0.0.1:{port}"


def _invocation(function: str) -> str:
    """A child's lines that invoke like Lambda's runtime: the context it passes ``function``'s handler and
    the trace header it sets for each invocation of a traced function."""
    return f"""
import os

class Context:
    function_name, memory_limit_in_mb, aws_request_id = "{function}", 256, "req-1"
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:{function}"
    def get_remaining_time_in_millis(self):
        return 10000

os.environ["_X_AMZN_TRACE_ID"] = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
"""


_FIRST_REQUEST = _invocation("PlaceOrderFunction") + """
from datetime import UTC, datetime
from mall.domain.tokens import Role, issue_token
from mall.runtime.lazy_modules import is_loaded

at_init = is_loaded("asyncio")
token = issue_token("c_trace", frozenset({Role.CUSTOMER}), key=b"x" * 64, now=datetime.now(UTC), ttl_seconds=600)
event = json.loads(os.environ["TEST_EVENT"].replace("{{customer_token}}", token))
answer = sys.modules["app"].handler(event, Context())
print(json.dumps({"status": answer["statusCode"], "asyncio_at_init": at_init,
                  "asyncio_after_request": is_loaded("asyncio"),
                  "loaded_after_request": sorted(name for name in NOT_USED if name in sys.modules)}))
"""

#: What placing an order's cold start no longer loads, and the first request of an order of one product, without
#: a coupon, cart lines, a saved address or a share link, does not load either.
NOT_USED = ["aws_lambda_powertools.utilities.idempotency", "mall.api.idempotency", "mall.schemas.cart",
            "mall.schemas.address_book", "mall.services.cart", "mall.services.address_book"]
#: What only an order naming a coupon, cart lines or a saved address, walking a share link's chain or getting a
#: self-purchase discount imports: placing an order's cold start does not.
DEFERRED = ["mall.dal.coupons", "mall.domain.coupons", "mall.dal.cart", "mall.domain.cart", "mall.dal.address_book",
            "mall.domain.address_book", "mall.services.saved_address", "mall.services.referral",
            "mall.services.self_purchase", "mall.dal.campaigns", "mall.domain.campaigns", "mall.domain.commission",
            "mall.dal.catalog.page"]


class Daemon:
    """The X-Ray daemon: the UDP port the SDK sends its documents to."""

    def __init__(self) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind(("127.0.0.1", 0))
        self.socket.settimeout(2)
        self.address = f"127.0.0.1:{self.socket.getsockname()[1]}"

    def documents(self) -> list[dict[str, Any]]:
        """What was sent, until nothing more arrives for 2 s."""
        documents: list[dict[str, Any]] = []
        while True:
            try:
                header, _, body = self.socket.recv(65536).decode().partition("\n")
            except TimeoutError:
                return documents
            assert json.loads(header) == {"format": "json", "version": 1}
            documents.append(json.loads(body))


@pytest.fixture
def daemon() -> Iterator[Daemon]:
    listening = Daemon()
    try:
        yield listening
    finally:
        listening.socket.close()


TRACE = "1-5759e988-bd862e3fe1be46a994272793"


def handler_subsegment(documents: list[dict[str, Any]]) -> dict[str, Any]:
    assert {d["trace_id"] for d in documents} == {TRACE}
    handler = [d for d in documents if d["name"] == "## handler"]
    assert len(handler) == 1 and handler[0]["parent_id"] == "53995c3f42cd8ad8"
    assert handler[0]["annotations"] == {"ColdStart": True, "Service": "mall"}
    return handler[0]


def test_place_orders_first_request_is_traced_without_asyncio(dynamodb: str, daemon: Daemon) -> None:
    result = after_cold_start("PlaceOrderFunction", f"NOT_USED = {NOT_USED!r}\n" + _FIRST_REQUEST, {
        "AWS_XRAY_DAEMON_ADDRESS": daemon.address,
        "DYNAMODB_ENDPOINT": dynamodb,
        "WECHATPAY_NOTIFY_URL": "https://example.com/webhooks/wechatpay",
        "WECHATPAY_MCHID": "1900000001", "WECHATPAY_MERCHANT_SERIAL": "ABCDEF12",
        "WECHATPAY_PUBLIC_KEY_ID": "PUB_KEY_ID_1",
        "TEST_EVENT": (ROOT / "events/place_order.json").read_text(encoding="utf-8"),
    })
    documents = daemon.documents()

    assert 400 <= result["status"] < 500  # the products are not found: refused after the order's reads
    assert result["asyncio_at_init"] is False and result["asyncio_after_request"] is False
    assert result["loaded_after_request"] == []
    handler = handler_subsegment(documents)
    calls = [d for d in documents if d.get("namespace") == "aws"]
    assert _EmptyTable.operations and [d["aws"]["operation"] for d in calls] == _EmptyTable.operations
    assert all(d["name"].lower() == "dynamodb" and d["parent_id"] == handler["id"]
               and d["http"]["response"]["status"] == 200 for d in calls)
    assert not [d for d in documents if d.get("namespace") == "remote"]  # refused before WeChat Pay


@pytest.fixture
def moto_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A DynamoDB over HTTP (moto's server) holding the table, seeded by the test, that the
    function's own interpreter then reads and writes."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        monkeypatch.setenv("DYNAMODB_ENDPOINT", endpoint)
        monkeypatch.setenv("TABLE_NAME", "traced")
        clear_caches()
        request = table_request("traced")
        request.pop("DeletionProtectionEnabled", None)
        client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")
        client.create_table(**request)
        yield endpoint
        client.delete_table(TableName="traced")  # moto's tables outlive its server, in this process
    finally:
        server.stop()


def test_place_orders_prepay_at_wechatpay_is_a_subsegment_of_its_trace(moto_endpoint: str, sandbox_url: str,
                                                                       daemon: Daemon) -> None:
    now = datetime.now(UTC)
    buyer, _ = CustomerRepository(main_table()).get_or_create(app_id="wx_test_app", openid="openid-traced-buyer",
                                                              unionid=None, now=now)
    CategoryRepository(main_table()).create(Category(category_id="c1", name="卡券"))
    ProductRepository(main_table()).create(Product(product_id="card", name="会员卡", type="virtual",
                                                   category_id="c1", price_fen=9900, stock=100, on_shelf=True))
    token = issue_token(buyer.user_id, frozenset({Role.CUSTOMER}), key=signing_key(), now=now, ttl_seconds=600)
    event = json.loads((ROOT / "events/place_order.json").read_text(encoding="utf-8"))
    event["headers"]["authorization"] = f"Bearer {token}"
    event["body"] = json.dumps({"lines": [{"product_id": "card", "quantity": 1}]})

    result = after_cold_start("PlaceOrderFunction", f"NOT_USED = {NOT_USED + DEFERRED!r}\n" + _FIRST_REQUEST, {
        "AWS_XRAY_DAEMON_ADDRESS": daemon.address,
        "DYNAMODB_ENDPOINT": moto_endpoint, "TABLE_NAME": "traced",
        "SECRETS_FILE": str(SECRETS_FILE),  # the test merchant the pay sandbox knows
        "WECHAT_APP_ID": "wx_test_app",
        "WECHATPAY_API_BASE": f"{sandbox_url}/wechatpay",
        "WECHATPAY_NOTIFY_URL": "https://example.com/webhooks/wechatpay",
        "TEST_EVENT": json.dumps(event),
    })
    documents = daemon.documents()

    assert result["status"] == 201
    assert result["asyncio_at_init"] is False and result["asyncio_after_request"] is False
    assert result["loaded_after_request"] == []  # the plain order's first request imports nothing deferred
    handler = handler_subsegment(documents)
    [prepay] = [d for d in documents if d.get("namespace") == "remote"]
    assert prepay["name"] == "wechatpay POST /v3/pay/transactions/jsapi"
    assert prepay["parent_id"] == handler["id"]
    assert prepay["http"] == {"request": {"method": "POST",
                                          "url": f"{sandbox_url}/wechatpay/v3/pay/transactions/jsapi"},
                              "response": {"status": 200}}
    assert prepay["annotations"] == {"wechatpay_status": 200}
    assert set(prepay["metadata"]) == {"wechatpay"} and prepay["metadata"]["wechatpay"]["request_id"]
    assert not {"error", "fault", "throttle", "cause"} & prepay.keys()
    # Between the order's reads and its transaction: where the request spent its time shows.
    operations = [(d["start_time"], d["aws"]["operation"]) for d in documents if d.get("namespace") == "aws"]
    assert max(t for t, op in operations if op != "TransactWriteItems") < prepay["start_time"]
    assert prepay["end_time"] <= min(t for t, op in operations if op == "TransactWriteItems")
    # Nothing the buyer was answered or WeChat Pay was sent: no order id, openid, amount, signature.
    # (The random ids and times, where the amount's digits could turn up by chance, left out.)
    sent = json.dumps([{k: v for k, v in d.items() if k not in {"id", "trace_id", "parent_id", "start_time",
                                                                 "end_time"}} for d in documents], ensure_ascii=False)
    assert not re.search(r"\bo_[0-9a-z]{12}", sent)  # an order id
    for secret in ("openid-traced-buyer", buyer.user_id, "9900", "prepay_id", "paySign", "WECHATPAY2", "Bearer",
                   "会员卡"):
        assert secret not in sent


_DEFERRED_REQUESTS = _invocation("PlaceOrderFunction") + """
from mall.runtime.lazy_modules import is_loaded

def loaded():
    return sorted(name for name in DEFERRED if is_loaded(name))

answers, at_init = [], loaded()
for n, body in enumerate(json.loads(os.environ["TEST_BODIES"])):
    event = json.loads(os.environ["TEST_EVENT"])
    event["headers"]["idempotency-key"] = f"deferred-{n}"
    event["body"] = json.dumps(body)
    answer = sys.modules["app"].handler(event, Context())
    answers.append({"status": answer["statusCode"], "body": json.loads(answer["body"]), "loaded": loaded()})
print(json.dumps({"at_init": at_init, "answers": answers}))
"""


def test_an_order_with_a_coupon_cart_lines_or_a_saved_address_imports_what_it_uses_after_the_cold_start(
        moto_endpoint: str, sandbox_url: str, daemon: Daemon) -> None:
    """What placing an order's cold start leaves out is imported, in the function's own interpreter, by the first
    order that uses it, and that order is placed as before: the coupon taken off and used, the cart line checked
    out, the saved address opened into the order's own sealed copy."""
    from mall.dal.address_book import AddressBookRepository
    from mall.dal.cart import CartRepository
    from mall.dal.coupons import CouponRepository
    from mall.domain.cart import cart_line_id
    from mall.schemas.address_book import SaveAddressRequest
    from mall.schemas.cart import AddCartLineRequest
    from mall.schemas.coupons import CouponTemplateIn
    from mall.services import coupons
    from mall.services.address_book import add_address
    from mall.services.cart import AddToCart, add_line

    now = datetime.now(UTC)
    table = main_table()
    buyer, _ = CustomerRepository(table).get_or_create(app_id="wx_test_app", openid="openid-deferred-buyer",
                                                       unionid=None, now=now)
    CategoryRepository(table).create(Category(category_id="c1", name="卡券"))
    ProductRepository(table).create(Product(product_id="card", name="会员卡", type="virtual", category_id="c1",
                                            price_fen=9900, stock=100, on_shelf=True))
    ProductRepository(table).create(Product(product_id="book", name="三体", type="physical", category_id="c1",
                                            price_fen=3990, stock=10, on_shelf=True))
    template = coupons.create_template(coupons=CouponRepository(table), body=CouponTemplateIn(
        name="立减1元", kind="amount", amount_off_fen=100, min_spend_fen=0, valid_days=7, total_quantity=10,
        per_user_limit=1), by="admin:t", source_ip=None, now=now).template_id
    coupon_id = coupons.claim(coupons.ClaimCoupon(template_id=template, user_id=buyer.user_id, now=now),
                              repos=coupons.CouponRepositories.on(table)).coupon.coupon_id
    add_line(AddToCart(request=AddCartLineRequest(product_id="card", quantity=1), user_id=buyer.user_id, now=now),
             cart=CartRepository(table))
    saved, _ = add_address(books=AddressBookRepository(table), user_id=buyer.user_id, now=now, body=SaveAddressRequest(
        name="张三丰", phone="13812341234", province="广东省", city="深圳市", detail="南山区科技园一路 1 号"))
    line = cart_line_id("card", None)
    event = json.loads((ROOT / "events/place_order.json").read_text(encoding="utf-8"))
    event["headers"]["authorization"] = "Bearer " + issue_token(buyer.user_id, frozenset({Role.CUSTOMER}),
                                                                key=signing_key(), now=now, ttl_seconds=600)
    bodies = [{"lines": [{"product_id": "card", "quantity": 1}], "coupon_id": coupon_id},
              {"lines": [{"product_id": "card", "quantity": 1}], "cart_line_ids": [line]},
              {"lines": [{"product_id": "book", "quantity": 1}], "address_id": saved.address_id}]

    result = after_cold_start("PlaceOrderFunction", f"DEFERRED = {DEFERRED!r}\n" + _DEFERRED_REQUESTS, {
        "AWS_XRAY_DAEMON_ADDRESS": daemon.address,
        "DYNAMODB_ENDPOINT": moto_endpoint, "TABLE_NAME": "traced",
        # The local personal-data key the saved address was sealed under, not the template's KMS key.
        "SECRETS_FILE": str(SECRETS_FILE), "PII_KMS_KEY_ID": "",
        "WECHAT_APP_ID": "wx_test_app",
        "WECHATPAY_API_BASE": f"{sandbox_url}/wechatpay",
        "WECHATPAY_NOTIFY_URL": "https://example.com/webhooks/wechatpay",
        "TEST_EVENT": json.dumps(event), "TEST_BODIES": json.dumps(bodies),
    })

    assert result["at_init"] == []
    with_coupon, from_cart, to_saved_address = result["answers"]
    assert [a["status"] for a in result["answers"]] == [201, 201, 201], result["answers"]
    assert with_coupon["body"]["discount_fen"] == 100 and with_coupon["body"]["amount_fen"] == 9800
    assert {"mall.dal.coupons", "mall.domain.coupons", "mall.domain.commission"} <= set(with_coupon["loaded"])
    assert not {"mall.dal.cart", "mall.services.saved_address"} & set(with_coupon["loaded"])
    assert {"mall.dal.cart", "mall.domain.cart"} <= set(from_cart["loaded"])
    assert "mall.services.saved_address" not in from_cart["loaded"]
    assert {"mall.dal.address_book", "mall.services.saved_address"} <= set(to_saved_address["loaded"])
    assert to_saved_address["body"]["address"]["city"] == "深圳市"
    used = CouponRepository(table).get_coupon(buyer.user_id, coupon_id, consistent=True)
    assert used is not None and used.order_id == with_coupon["body"]["order_id"]
    assert CartRepository(table).lines(buyer.user_id) == []


_UNTRACED_CALL = """
import os
from mall.integrations.wechatpay.errors import WeChatPayNotFound
from mall.integrations.wechatpay.factory import pay_client

os.environ["_X_AMZN_TRACE_ID"] = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
try:
    pay_client().query_by_out_trade_no("o_never_placed")
except WeChatPayNotFound:
    found = False
print(json.dumps({"found": found, "xray_loaded": sorted(m for m in sys.modules if m.startswith("aws_xray_sdk"))}))
"""


def test_an_untraced_functions_wechatpay_calls_send_nothing(sandbox_url: str, daemon: Daemon) -> None:
    """The payment reconciler calls WeChat Pay but is not traced: its call loads no X-Ray SDK, sends nothing."""
    result = after_cold_start("PaymentReconcileFunction", _UNTRACED_CALL, {
        "AWS_XRAY_DAEMON_ADDRESS": daemon.address,
        "SECRETS_FILE": str(SECRETS_FILE),
        "WECHAT_APP_ID": "wx_test_app",
        "WECHATPAY_API_BASE": f"{sandbox_url}/wechatpay",
        "WECHATPAY_NOTIFY_URL": "https://example.com/webhooks/wechatpay",
    })
    assert result == {"found": False, "xray_loaded": []}
    assert daemon.documents() == []


_WORKER_REQUEST = _invocation("PayoutWorkerFunction") + """
record = {"messageId": "m-1", "receiptHandle": "r", "body": '{"not": "a payout"}', "attributes": {},
          "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs", "awsRegion": "us-east-1",
          "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:PayoutQueue"}
print(json.dumps(sys.modules["app"].handler({"Records": [record]}, Context())))
"""


def test_a_traced_workers_result_stays_out_of_its_trace(daemon: Daemon) -> None:
    result = after_cold_start("PayoutWorkerFunction", _WORKER_REQUEST, {"AWS_XRAY_DAEMON_ADDRESS": daemon.address})
    assert result == {"batchItemFailures": []}  # the message was dropped: not a payout request
    [handler] = daemon.documents()
    assert handler["name"] == "## run" and handler["trace_id"] == TRACE and handler["parent_id"] == "53995c3f42cd8ad8"
    assert "metadata" not in handler
