"""Unit tests of handlers run against moto's DynamoDB with the template's table."""

from __future__ import annotations

import importlib.util
import json
import uuid
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tests.conftest import ROOT, clear_caches, table_request


@pytest.fixture
def moto_table(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with mock_aws():
        name = f"mall-{uuid.uuid4().hex[:8]}"
        monkeypatch.setenv("TABLE_NAME", name)
        clear_caches()
        client = boto3.client("dynamodb", region_name="us-east-1")
        request = table_request(name)
        request.pop("DeletionProtectionEnabled", None)
        client.create_table(**request)
        yield name


def load_function(name: str) -> ModuleType:
    """Import functions/<name>/app.py fresh (a cold start) under a unique module name."""
    path = ROOT / "functions" / name / "app.py"
    spec = importlib.util.spec_from_file_location(f"fn_{name}_{uuid.uuid4().hex[:6]}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class FakeContext:
    function_name = "test"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:test"
    aws_request_id = "req-1"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


def http_event(method: str, path: str, *, body: Any = None, headers: dict[str, str] | None = None,
               raw_body: str | None = None) -> dict[str, Any]:
    """A minimal API Gateway HTTP API (payload 2.0) event."""
    text = raw_body if raw_body is not None else (json.dumps(body) if body is not None else None)
    return {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json", **(headers or {})},
        "requestContext": {"http": {"method": method, "path": path, "sourceIp": "127.0.0.1", "protocol": "HTTP/1.1",
                                    "userAgent": "pytest"}, "requestId": "req-1", "routeKey": f"{method} {path}",
                           "stage": "$default"},
        "body": text,
        "isBase64Encoded": False,
    }


Invoke = Callable[..., tuple[int, dict[str, Any], dict[str, str]]]


@pytest.fixture
def invoke() -> Invoke:
    """Call a function's handler with an HTTP event; returns (status, json body, headers)."""
    loaded: dict[str, ModuleType] = {}

    def call(function: str, method: str, path: str, **kwargs: Any) -> tuple[int, dict[str, Any], dict[str, str]]:
        if function not in loaded:
            loaded[function] = load_function(function)
        result = loaded[function].handler(http_event(method, path, **kwargs), FakeContext())
        body = result.get("body") or "{}"
        headers = result.get("headers") or {}
        parsed = json.loads(body) if "json" in headers.get("Content-Type", "application/json") else {"raw": body}
        return result["statusCode"], parsed, headers

    return call
