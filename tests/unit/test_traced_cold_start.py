"""A traced function's trace after its cold start without ``asyncio`` (docs/performance.md, "Cold start: place
order's init"): the first request of place order, run in the function's own interpreter as the
cold-start benchmark starts it, sends the X-Ray daemon the handler's subsegment and one subsegment per
DynamoDB call, as template.yaml's ``Tracing: Active`` comment promises, and never loads ``asyncio``."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from bench.coldstart import after_cold_start
from tests.conftest import ROOT


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
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EmptyTable)
    _EmptyTable.operations = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


_FIRST_REQUEST = """
import os
from datetime import UTC, datetime
from mall.domain.tokens import Role, issue_token
from mall.runtime.lazy_modules import is_loaded

class Context:
    function_name, memory_limit_in_mb, aws_request_id = "PlaceOrderFunction", 256, "req-1"
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:PlaceOrderFunction"
    def get_remaining_time_in_millis(self):
        return 10000

at_init = is_loaded("asyncio")
token = issue_token("c_trace", frozenset({Role.CUSTOMER}), key=b"x" * 64, now=datetime.now(UTC), ttl_seconds=600)
event = json.loads(os.environ["TEST_EVENT"].replace("{{customer_token}}", token))
# What Lambda's runtime sets for each invocation of a traced function.
os.environ["_X_AMZN_TRACE_ID"] = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
answer = sys.modules["app"].handler(event, Context())
print(json.dumps({"status": answer["statusCode"], "asyncio_at_init": at_init,
                  "asyncio_after_request": is_loaded("asyncio"),
                  "loaded_after_request": sorted(name for name in NOT_USED if name in sys.modules)}))
"""

#: What placing an order's cold start no longer loads, and its first request does not load either.
NOT_USED = ["aws_lambda_powertools.utilities.idempotency", "mall.api.idempotency", "mall.schemas.cart",
            "mall.schemas.address_book", "mall.services.cart", "mall.services.address_book"]


def test_place_orders_first_request_is_traced_without_asyncio(dynamodb: str) -> None:
    daemon = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    daemon.bind(("127.0.0.1", 0))
    daemon.settimeout(2)
    try:
        result = after_cold_start("PlaceOrderFunction", f"NOT_USED = {NOT_USED!r}\n" + _FIRST_REQUEST, {
            "AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{daemon.getsockname()[1]}",
            "DYNAMODB_ENDPOINT": dynamodb,
            "WECHATPAY_NOTIFY_URL": "https://example.com/webhooks/wechatpay",
            "WECHATPAY_MCHID": "1900000001", "WECHATPAY_MERCHANT_SERIAL": "ABCDEF12",
            "WECHATPAY_PUBLIC_KEY_ID": "PUB_KEY_ID_1",
            "TEST_EVENT": (ROOT / "events/place_order.json").read_text(encoding="utf-8"),
        })
        documents = []
        while True:
            try:
                header, _, body = daemon.recv(65536).decode().partition("\n")
            except TimeoutError:
                break
            assert json.loads(header) == {"format": "json", "version": 1}
            documents.append(json.loads(body))
    finally:
        daemon.close()

    assert 400 <= result["status"] < 500  # the products are not found: refused after the order's reads
    assert result["asyncio_at_init"] is False and result["asyncio_after_request"] is False
    assert result["loaded_after_request"] == []
    trace = "1-5759e988-bd862e3fe1be46a994272793"
    assert {d["trace_id"] for d in documents} == {trace}
    handler = [d for d in documents if d["name"] == "## handler"]
    assert len(handler) == 1 and handler[0]["parent_id"] == "53995c3f42cd8ad8"
    assert handler[0]["annotations"] == {"ColdStart": True, "Service": "mall"}
    calls = [d for d in documents if d.get("namespace") == "aws"]
    assert _EmptyTable.operations and [d["aws"]["operation"] for d in calls] == _EmptyTable.operations
    assert all(d["name"].lower() == "dynamodb" and d["parent_id"] == handler[0]["id"]
               and d["http"]["response"]["status"] == 200 for d in calls)
