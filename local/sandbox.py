"""The local stand-in for WeChat's servers, served by the local stack on SANDBOX_PORT.

``/wechat/...`` plays the mini-program server APIs; ``/wechatpay/...`` plays WeChat Pay v3
(local/wechatpay_sandbox.py). Login codes the sandbox accepts (documented in README.md):

- ``invalid``, or any code starting ``invalid-``  → errcode 40029 (invalid code)
- ``ratelimited``                                 → errcode 45011 (rate limited)
- ``risky``                                       → errcode 40226 (high-risk user)
- ``busy``                                        → errcode -1 (system busy)
- any other code of 1-64 letters, digits, ``-`` or ``_`` → success. The openid is derived
  from the code, so the same code always logs in the same customer (real codes are
  single-use; the sandbox allows reuse so demos and tests can log in again). A code that
  starts with ``union-`` also gets a unionid.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

Reply = tuple[int, dict[str, str], bytes]

_CODE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_ERRORS = {"invalid": 40029, "ratelimited": 45011, "risky": 40226, "busy": -1}
_pay_sandbox: Any = None


def sandbox_openid(code: str) -> str:
    """The openid the sandbox gives for ``code`` (tests use it to predict identities)."""
    return "osbx" + hashlib.sha256(f"openid:{code}".encode()).hexdigest()[:24]


def _json(status: int, payload: dict[str, Any]) -> Reply:
    return status, {"Content-Type": "application/json"}, json.dumps(payload).encode()


def _jscode2session(query: dict[str, list[str]]) -> Reply:
    code = (query.get("js_code") or [""])[0]
    if not (query.get("appid") or [""])[0] or not (query.get("secret") or [""])[0]:
        return _json(200, {"errcode": 41002, "errmsg": "appid or secret missing"})
    if (query.get("grant_type") or [""])[0] != "authorization_code":
        return _json(200, {"errcode": 40002, "errmsg": "invalid grant_type"})
    errcode = _ERRORS.get(code) or (40029 if code.startswith("invalid-") or not _CODE.match(code) else 0)
    if errcode:
        return _json(200, {"errcode": errcode, "errmsg": "sandbox error"})
    payload = {"openid": sandbox_openid(code),
               "session_key": hashlib.sha256(f"session:{code}".encode()).hexdigest()[:24]}
    if code.startswith("union-"):
        payload["unionid"] = "usbx" + hashlib.sha256(f"unionid:{code}".encode()).hexdigest()[:24]
    return _json(200, payload)


def _make_pay_sandbox() -> Any:
    """The pay sandbox holds the other half of the local WeChat Pay keys (the secrets file the
    local stack gives the functions); its state sits beside that file so CLI and server agree."""
    import os
    from pathlib import Path

    from local.wechatpay_sandbox import PaySandbox

    secrets_file = Path(os.environ["SECRETS_FILE"])
    keys = json.loads(secrets_file.read_text(encoding="utf-8"))
    return PaySandbox(keys, appid=os.environ.get("WECHAT_APP_ID", "wx_local_app"),
                      state_path=secrets_file.with_name("paysandbox.json"))


def handle(method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], body: bytes) -> Reply:
    if path == "/wechat/sns/jscode2session" and method == "GET":
        return _jscode2session(query)
    if path.startswith("/wechatpay/"):
        global _pay_sandbox  # noqa: PLW0603 (one sandbox per local stack process)
        if _pay_sandbox is None:
            _pay_sandbox = _make_pay_sandbox()
        reply: Reply = _pay_sandbox.handle(method, path, query, headers, body)
        return reply
    return _json(404, {"errcode": 404, "errmsg": f"sandbox has no {method} {path}"})
