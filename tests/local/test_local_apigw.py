"""The local HTTP API: routing, the v2 event, response mapping (with a fake function)."""

from __future__ import annotations

import base64
import http.client
import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest

from local.apigw import ApiGateway, Match, Router, build_event, is_text, map_result
from local.lambda_runtime import HandlerError, Invocation
from local.template_model import HttpRoute


def route(key: str, function_id: str = "Fn") -> HttpRoute:
    if key == "$default":
        return HttpRoute(function_id, "Default", "ANY", "$default", "HttpApi")
    method, path = key.split(" ", 1)
    return HttpRoute(function_id, key, method, path, "HttpApi")


ROUTES = [
    route("GET /pets/dog/1", "Exact"),
    route("ANY /pets/dog/1", "ExactAny"),
    route("GET /pets/dog/{id}", "DogParam"),
    route("GET /pets/{kind}/{id}", "TwoParams"),
    route("GET /pets/{proxy+}", "PetsGreedy"),
    route("ANY /{proxy+}", "RootGreedy"),
    route("POST /orders", "CreateOrder"),
    route("GET /orders/{id}/items/{item}", "OrderItem"),
    route("$default", "Default"),
]


@pytest.mark.parametrize(
    ("method", "path", "function_id", "params"),
    [
        ("GET", "/pets/dog/1", "Exact", {}),
        ("PUT", "/pets/dog/1", "ExactAny", {}),  # exact path with ANY beats variables
        ("GET", "/pets/dog/2", "DogParam", {"id": "2"}),  # more literal segments first
        ("GET", "/pets/cat/2", "TwoParams", {"kind": "cat", "id": "2"}),
        ("GET", "/pets/cat/2/toys", "PetsGreedy", {"proxy": "cat/2/toys"}),  # longest greedy prefix
        ("POST", "/pets/cat/2/toys", "RootGreedy", {"proxy": "pets/cat/2/toys"}),
        ("GET", "/pets", "RootGreedy", {"proxy": "pets"}),  # greedy needs at least one segment
        ("POST", "/orders", "CreateOrder", {}),
        ("GET", "/orders", "RootGreedy", {"proxy": "orders"}),
        ("GET", "/orders/o%201/items/%E5%95%86", "OrderItem", {"id": "o 1", "item": "商"}),  # decoded
    ],
)
def test_route_precedence(method: str, path: str, function_id: str, params: dict[str, str]) -> None:
    match = Router(ROUTES).match(method, path)
    assert match is not None
    assert (match.route.function_id, match.path_parameters) == (function_id, params)


def test_default_route_and_no_match() -> None:
    router = Router([route("GET /me"), route("$default", "Default")])
    match = router.match("POST", "/me")  # a known path with another method goes to $default
    assert match is not None and match.route.function_id == "Default" and match.route.route_key == "$default"
    assert Router([route("GET /me")]).match("POST", "/me") is None
    assert Router([route("GET /me")]).match("GET", "/other") is None


def test_duplicate_routes_are_rejected() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        Router([route("GET /me"), route("GET /me", "Other")])


def test_build_event_v2_shape() -> None:
    when = datetime(2020, 3, 12, 19, 3, 58, 390000, tzinfo=UTC)
    match = Match(route("GET /items/{id}"), {"id": "42"})
    event = build_event(
        method="GET",
        raw_path="/items/42",
        raw_query="a=1&a=2&b=x%20y&empty=",
        headers=[
            ("Host", "127.0.0.1:3000"),
            ("User-Agent", "pytest"),
            ("X-Multi", "one"),
            ("x-multi", "two"),
            ("Cookie", "a=1; b=2"),
            ("Cookie", "c=3"),
        ],
        body=b"",
        source_ip="127.0.0.1",
        match=match,
        api_id="api",
        request_id="rid=",
        now=when,
    )
    assert event["version"] == "2.0"
    assert event["routeKey"] == "GET /items/{id}"
    assert event["rawPath"] == "/items/42"
    assert event["rawQueryString"] == "a=1&a=2&b=x%20y&empty="
    assert event["cookies"] == ["a=1", "b=2", "c=3"]
    assert "cookie" not in event["headers"]
    assert event["headers"]["x-multi"] == "one,two"
    assert event["headers"]["user-agent"] == "pytest"
    assert event["headers"]["x-forwarded-for"] == "127.0.0.1"
    assert event["queryStringParameters"] == {"a": "1,2", "b": "x y", "empty": ""}
    assert event["pathParameters"] == {"id": "42"}
    assert event["isBase64Encoded"] is False
    assert "body" not in event and "stageVariables" not in event
    ctx = event["requestContext"]
    assert ctx["accountId"] == "000000000000"
    assert ctx["apiId"] == "api"
    assert ctx["domainName"] == "127.0.0.1" and ctx["domainPrefix"] == "127"
    assert ctx["http"] == {
        "method": "GET",
        "path": "/items/42",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1",
        "userAgent": "pytest",
    }
    assert ctx["requestId"] == "rid="
    assert ctx["routeKey"] == "GET /items/{id}"
    assert ctx["stage"] == "$default"
    assert ctx["time"] == "12/Mar/2020:19:03:58 +0000"
    assert ctx["timeEpoch"] == 1584039838390


def test_body_text_or_base64() -> None:
    assert is_text("application/json; charset=utf-8", b"{}")
    assert is_text(None, "纯文本".encode())
    assert is_text("text/xml", b"<xml/>")
    assert not is_text(None, b"\xff\xfe")
    assert not is_text("application/octet-stream", b"abc")
    assert not is_text("image/png", b"abc")
    assert not is_text("multipart/form-data; boundary=x", b"abc")


def test_map_result() -> None:
    inferred = map_result({"hello": "world"})
    assert (inferred.status, inferred.headers, json.loads(inferred.body)) == (
        200,
        [("Content-Type", "application/json")],
        {"hello": "world"},
    )
    assert map_result("plain").body == b"plain"
    assert map_result([1, 2]).body == b"[1, 2]"
    full = map_result(
        {
            "statusCode": 201,
            "headers": {"X-A": "1", "X-Bool": True},
            "multiValueHeaders": {"X-M": ["a", "b"]},
            "cookies": ["s=1", "t=2"],
            "body": base64.b64encode(b"\x00\xff").decode(),
            "isBase64Encoded": True,
        }
    )
    assert full.status == 201
    assert full.headers == [
        ("X-A", "1"),
        ("X-Bool", "true"),
        ("X-M", "a"),
        ("X-M", "b"),
        ("Set-Cookie", "s=1"),
        ("Set-Cookie", "t=2"),
    ]
    assert full.body == b"\x00\xff"
    assert map_result({"statusCode": 204}).body == b""
    for bad in ({"statusCode": "abc"}, {"statusCode": 200, "body": {"x": 1}}, {"statusCode": 999}):
        with pytest.raises(ValueError):
            map_result(bad)


# ---- the server, with a fake function -------------------------------------------------


class FakeFunctions:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def __call__(self, function_id: str, event: Any, request_id: str) -> Invocation:
        with self.lock:
            self.events.append(event)
        if function_id == "Boom":
            return Invocation(request_id, error=HandlerError("Boom", "RuntimeError", "boom", []))
        if function_id == "Slow":
            time.sleep(0.5)
        if function_id == "Malformed":
            return Invocation(request_id, result={"statusCode": "nope"})
        return Invocation(request_id, result={"statusCode": 200, "body": "ok", "cookies": ["a=1", "b=2"]})


@pytest.fixture(scope="module")
def gateway() -> Iterator[tuple[ApiGateway, FakeFunctions]]:
    functions = FakeFunctions()
    api = ApiGateway(
        [
            route("POST /hook", "Hook"),
            route("GET /boom", "Boom"),
            route("GET /slow", "Slow"),
            route("GET /bad", "Malformed"),
        ],
        functions,
    )
    api.start()
    yield api, functions
    api.stop()


def request(
    api: ApiGateway, method: str, path: str, body: bytes | None = None, headers: list[tuple[str, str]] | None = None
) -> tuple[int, http.client.HTTPMessage, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", api.port, timeout=10)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for name, value in headers or []:
            conn.putheader(name, value)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        response = conn.getresponse()
        return response.status, response.headers, response.read()
    finally:
        conn.close()


def test_raw_body_and_headers_preserved_byte_for_byte(gateway: tuple[ApiGateway, FakeFunctions]) -> None:
    api, functions = gateway
    text = '{"商品":"订单","emoji":"😀","sig":"a+b/c="}'.encode()
    status, headers, _ = request(
        api,
        "POST",
        "/hook?x=1&x=2",
        text,
        [
            ("Content-Type", "application/json"),
            ("Wechatpay-Signature", "AbC+/=="),
            ("Wechatpay-Serial", "5157F09EFDC096DE15EBE81A47057A72"),
            ("X-Dup", "1"),
            ("X-Dup", "2"),
        ],
    )
    assert status == 200
    event = functions.events[-1]
    assert event["body"].encode("utf-8") == text
    assert event["isBase64Encoded"] is False
    assert event["headers"]["wechatpay-signature"] == "AbC+/=="
    assert event["headers"]["wechatpay-serial"] == "5157F09EFDC096DE15EBE81A47057A72"
    assert event["headers"]["x-dup"] == "1,2"
    assert event["headers"]["content-length"] == str(len(text))
    assert event["queryStringParameters"] == {"x": "1,2"}
    assert event["requestContext"]["http"]["sourceIp"] == "127.0.0.1"
    assert headers.get_all("Set-Cookie") == ["a=1", "b=2"]
    assert headers["apigw-requestid"] == event["requestContext"]["requestId"]

    binary = bytes(range(256))
    request(api, "POST", "/hook", binary, [("Content-Type", "application/octet-stream")])
    event = functions.events[-1]
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == binary

    invalid_utf8 = b"\xe5\x95" + b"abc"
    request(api, "POST", "/hook", invalid_utf8, [("Content-Type", "text/plain")])
    assert base64.b64decode(functions.events[-1]["body"]) == invalid_utf8


def test_chunked_request_body(gateway: tuple[ApiGateway, FakeFunctions]) -> None:
    api, functions = gateway
    conn = http.client.HTTPConnection("127.0.0.1", api.port, timeout=10)
    conn.request(
        "POST",
        "/hook",
        body=iter([b"hello ", "世界".encode()]),
        headers={"Content-Type": "text/plain"},
        encode_chunked=True,
    )
    assert conn.getresponse().status == 200
    conn.close()
    assert functions.events[-1]["body"] == "hello 世界"


def test_not_found_without_default_route(gateway: tuple[ApiGateway, FakeFunctions]) -> None:
    api, _ = gateway
    status, headers, body = request(api, "GET", "/nothing-here")
    assert (status, json.loads(body)) == (404, {"message": "Not Found"})
    assert headers["Content-Type"] == "application/json"
    assert headers["apigw-requestid"]
    status, _, body = request(api, "GET", "/hook")  # a known path, another method, no $default
    assert (status, json.loads(body)) == (404, {"message": "Not Found"})


def test_function_error_and_malformed_response_are_500(gateway: tuple[ApiGateway, FakeFunctions]) -> None:
    api, _ = gateway
    for path in ("/boom", "/bad"):
        status, _, body = request(api, "GET", path)
        assert (status, json.loads(body)) == (500, {"message": "Internal Server Error"})


def test_requests_are_served_concurrently(gateway: tuple[ApiGateway, FakeFunctions]) -> None:
    api, _ = gateway
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = list(pool.map(lambda _: request(api, "GET", "/slow")[0], range(6)))
    elapsed = time.perf_counter() - started
    assert statuses == [200] * 6
    assert elapsed < 2.0, f"6 requests of 0.5 s took {elapsed:.2f} s: not served in parallel"
