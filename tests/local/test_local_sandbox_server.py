"""The sandbox server passes requests to ``local.sandbox.handle`` unchanged."""

from __future__ import annotations

from typing import Any

import requests

from local.sandbox_server import SandboxServer


def test_sandbox_server_calls_the_handler_with_raw_request() -> None:
    calls: list[tuple[Any, ...]] = []

    def handle(
        method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        calls.append((method, path, query, headers, body))
        if path == "/fail":
            raise RuntimeError("sandbox bug")
        return 200, {"Content-Type": "application/json", "X-Sandbox": "1"}, b'{"errcode":0}'

    server = SandboxServer(0, handle)
    server.start()
    try:
        body = '{"openid":"张三"}'.encode()
        response = requests.post(
            f"{server.url}/wechat/sns/jscode2session?appid=wx1&js_code=abc&js_code=def",
            data=body,
            headers={"Content-Type": "application/json", "X-Trace": "t"},
            timeout=10,
        )
        assert (response.status_code, response.headers["X-Sandbox"], response.content) == (200, "1", b'{"errcode":0}')
        method, path, query, headers, raw = calls[-1]
        assert (method, path, raw) == ("POST", "/wechat/sns/jscode2session", body)
        assert query == {"appid": ["wx1"], "js_code": ["abc", "def"]}
        assert headers["content-type"] == "application/json" and headers["x-trace"] == "t"
        assert requests.get(f"{server.url}/fail", timeout=10).status_code == 500
    finally:
        server.stop()

