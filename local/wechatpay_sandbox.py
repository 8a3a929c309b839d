"""A local stand-in for WeChat Pay API v3 (dev and tests only, never deployed).

``PaySandbox`` plays WeChat Pay for one merchant in public-key mode:

- ``handle(method, path, query, headers, body)`` serves the API under ``/wechatpay`` (JSAPI
  prepay, query, close, refunds, merchant transfers). It verifies the merchant's request
  signature like WeChat Pay does and signs every response with the platform private key.
- ``build_notification(...)`` builds a genuine notification (AES-256-GCM with the APIv3 key,
  RSA-SHA256 signature, ``Wechatpay-Serial`` = the public key id); ``send`` POSTs it.
- Actions (``pay``, ``complete_refund``, ``finish_transfer`` …) change the state like the user or
  the bank would, then deliver the notification to the order's ``notify_url`` (or the
  ``notify_url`` given to the constructor, which overrides it).

It is written directly on ``cryptography`` and the standard library, *independently* of
``mall.integrations.wechatpay``, so that the two can check each other. State lives in memory, or
in a JSON file (``state_path``) shared by processes (the local API server and this CLI)::

    python local/wechatpay_sandbox.py --secrets .local/secrets.json --state .local/wechatpay.json \\
        [--notify-url http://127.0.0.1:3000/webhooks/wechatpay/pay] COMMAND ...

    COMMAND: show | pay OUT_TRADE_NO | refund OUT_REFUND_NO [--status SUCCESS|ABNORMAL|CLOSED]
             | transfer OUT_BILL_NO [--state SUCCESS|FAIL|CANCELLED] [--reason TEXT]
             | redeliver | fail-next STATUS CODE [MESSAGE] | serve [--port 8123]

The same actions over HTTP, for end-to-end tests against the mounted sandbox (dev only, no
authentication; the notification is delivered in the background unless ``?wait=1``)::

    POST /wechatpay/_sandbox/pay/{out_trade_no}[?wait=1]
    POST /wechatpay/_sandbox/refund/{out_refund_no}?status=SUCCESS|ABNORMAL|CLOSED
    POST /wechatpay/_sandbox/transfer/{out_bill_no}?state=SUCCESS|FAIL|CANCELLED[&reason=…]
    POST /wechatpay/_sandbox/redeliver            (the last notification again: same id)
    POST /wechatpay/_sandbox/fail-next            {"status": 500, "code": "SYSTEM_ERROR"}
    GET  /wechatpay/_sandbox/state
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import re
import secrets
import string
import sys
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = [
    "PaySandbox",
    "SandboxError",
    "SandboxEvent",
    "complete_local_refund",
    "finish_local_transfer",
    "local_stack_sandbox",
    "make_http_server",
    "out_bill_no_of",
    "pay_local_order",
    "send",
]

CST = timezone(timedelta(hours=8))
SIGNATURE_TYPE = "WECHATPAY2-SHA256-RSA2048"
BASE_PATH = "/wechatpay"
REQUEST_WINDOW_SECONDS = 300
CONTROL_PREFIX = "/_sandbox/"

Json = dict[str, Any]
Sender = Callable[[str, Mapping[str, str], bytes], tuple[int, bytes]]

_OUT_TRADE_NO = re.compile(r"[0-9A-Za-z_\-|*]{6,32}")
_OUT_REFUND_NO = re.compile(r"[0-9A-Za-z_\-|*@]{1,64}")
_OUT_BILL_NO = re.compile(r"[0-9A-Za-z]{1,32}")
_AUTH_PARAM = re.compile(r'\s*([a-z_]+)="([^"]*)"\s*')

EVENT_SUMMARY = {
    "TRANSACTION.SUCCESS": "支付成功",
    "REFUND.SUCCESS": "退款成功",
    "REFUND.ABNORMAL": "退款异常",
    "REFUND.CLOSED": "退款关闭",
    "MCHTRANSFER.BILL.FINISHED": "商家转账单据终态通知",
}
TRADE_STATE_DESC = {"NOTPAY": "订单未支付", "SUCCESS": "支付成功", "CLOSED": "订单已关闭", "REFUND": "转入退款"}


class SandboxError(Exception):
    """An action is not possible in the current state (unknown number, already paid, …)."""


class _ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True)
class _Request:
    method: str
    route: str  # the path below the base path, e.g. /v3/pay/transactions/jsapi
    params: Mapping[str, str]
    headers: Mapping[str, str]  # lower-case names
    raw: bytes
    now: datetime

    def json(self) -> Json:
        try:
            data = json.loads(self.raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise _ApiError(400, "PARAM_ERROR", "请求体不是合法的 JSON") from exc
        if not isinstance(data, dict):
            raise _ApiError(400, "PARAM_ERROR", "请求体必须是 JSON 对象")
        return data


_Handler = Callable[[_Request, tuple[str, ...]], tuple[int, Json | None]]


@dataclass(frozen=True)
class SandboxEvent:
    """A notification the sandbox built, and what happened when it was delivered."""

    event_type: str
    resource: Json
    headers: dict[str, str]
    body: bytes
    url: str | None
    status: int | None  # the webhook's HTTP status; None when not sent, 0 when unreachable
    response: bytes | None


def _fmt(moment: datetime) -> str:
    return moment.astimezone(CST).isoformat(timespec="seconds")


def _digits(n: int) -> str:
    return "".join(secrets.choice(string.digits) for _ in range(n))


def _alnum(n: int) -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(n))


def _dumps(obj: object) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _oaep() -> padding.OAEP:
    sha1 = hashes.SHA1()  # noqa: S303 (WeChat Pay's sensitive-field encryption is OAEP with SHA-1)
    return padding.OAEP(mgf=padding.MGF1(algorithm=sha1), algorithm=sha1, label=None)


def send(url: str, headers: Mapping[str, str], body: bytes, timeout: float = 10.0) -> tuple[int, bytes]:
    """POST ``body`` to a webhook; returns (HTTP status, response body); status 0 if unreachable."""
    if not url.startswith(("http://", "https://")):
        raise ValueError("notify URLs must be http(s)")
    request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310 (scheme checked)
            return int(resp.status), bytes(resp.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return int(exc.code), bytes(exc.read())
    except (urllib.error.URLError, OSError) as exc:
        return 0, str(exc).encode("utf-8")


def _empty_state() -> Json:
    return {"orders": {}, "refunds": {}, "bills": {}, "failures": [], "last_notification": None}


class PaySandbox:
    """WeChat Pay for one merchant (``keys`` as made by ``local/wechatpay_keys.py``)."""

    def __init__(
        self,
        keys: Mapping[str, str],
        *,
        appid: str = "wx_local_app",
        state_path: str | Path | None = None,
        notify_url: str | None = None,
        clock: Callable[[], datetime] | None = None,
        sender: Sender | None = None,
        base_path: str = BASE_PATH,
    ) -> None:
        self.appid = appid
        self.mchid = keys["wechatpay_mchid"]
        self.merchant_serial = keys["wechatpay_merchant_serial"]
        self.public_key_id = keys["wechatpay_public_key_id"]
        self.apiv3_key = keys["wechatpay_apiv3_key"].encode("utf-8")
        merchant_public = serialization.load_pem_public_key(keys["wechatpay_merchant_public_key"].encode())
        platform_private = serialization.load_pem_private_key(
            keys["wechatpay_platform_private_key"].encode(), password=None
        )
        if not isinstance(merchant_public, rsa.RSAPublicKey) or not isinstance(platform_private, rsa.RSAPrivateKey):
            raise ValueError("expected RSA keys")
        self._merchant_public = merchant_public
        self._platform_private = platform_private
        self.state_path = Path(state_path) if state_path is not None else None
        self.notify_url = notify_url
        self.base_path = base_path.rstrip("/")
        self._clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        self._sender: Sender = sender or send
        self._lock = threading.RLock()
        self._memory = _empty_state()

    # ---- state ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _state(self, *, write: bool = True) -> Iterator[Json]:
        with self._lock:
            if self.state_path is None:
                yield self._memory
                return
            import fcntl

            self.state_path.parent.mkdir(parents=True, exist_ok=True)
            lock_path = self.state_path.with_suffix(self.state_path.suffix + ".lock")
            with lock_path.open("a") as lock_file:
                fcntl.flock(lock_file, fcntl.LOCK_EX)
                try:
                    state = (
                        json.loads(self.state_path.read_text("utf-8")) if self.state_path.exists() else _empty_state()
                    )
                    yield state
                    if write:
                        tmp = self.state_path.with_suffix(self.state_path.suffix + ".tmp")
                        tmp.write_text(json.dumps(state, ensure_ascii=False, indent=1), "utf-8")
                        tmp.replace(self.state_path)
                finally:
                    fcntl.flock(lock_file, fcntl.LOCK_UN)

    def snapshot(self) -> Json:
        """A deep copy of the whole state (orders, refunds, bills)."""
        with self._state(write=False) as state:
            copied: Json = json.loads(json.dumps(state))
            return copied

    def fail_next(self, status: int, code: str, message: str = "injected failure") -> None:
        """Make the next API call answer ``status`` with ``{"code": code, ...}`` (retry tests)."""
        with self._state() as state:
            state["failures"].append({"status": status, "code": code, "message": message})

    # ---- signatures -------------------------------------------------------------------------

    def _sign(self, message: bytes) -> str:
        return base64.b64encode(self._platform_private.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()

    def _signed_headers(self, body: bytes, *, now: datetime, timestamp: str | None = None) -> dict[str, str]:
        ts = timestamp if timestamp is not None else str(int(now.timestamp()))
        nonce = secrets.token_hex(16).upper()
        return {
            "Wechatpay-Timestamp": ts,
            "Wechatpay-Nonce": nonce,
            "Wechatpay-Signature": self._sign(ts.encode() + b"\n" + nonce.encode() + b"\n" + body + b"\n"),
            "Wechatpay-Serial": self.public_key_id,
            "Wechatpay-Signature-Type": SIGNATURE_TYPE,
            "Request-ID": f"08{_digits(8)}-{uuid.uuid4().hex[:16].upper()}",
        }

    def _check_authorization(self, method: str, url: str, headers: Mapping[str, str], body: bytes) -> None:
        value = headers.get("authorization", "")
        scheme, _, params_text = value.partition(" ")
        if scheme != SIGNATURE_TYPE:
            raise _ApiError(401, "SIGN_ERROR", "Authorization 头缺失或认证类型错误")
        params: dict[str, str] = {}
        for part in params_text.split(","):
            match = _AUTH_PARAM.fullmatch(part)
            if match is None:
                raise _ApiError(401, "SIGN_ERROR", "Authorization 头格式错误")
            params[match.group(1)] = match.group(2)
        missing = {"mchid", "nonce_str", "signature", "timestamp", "serial_no"} - params.keys()
        if missing:
            raise _ApiError(401, "SIGN_ERROR", f"Authorization 缺少 {','.join(sorted(missing))}")
        if params["mchid"] != self.mchid:
            raise _ApiError(401, "SIGN_ERROR", "商户号不匹配")
        if params["serial_no"] != self.merchant_serial:
            raise _ApiError(401, "SIGN_ERROR", "商户证书序列号错误")
        if not params["timestamp"].isdigit() or abs(
            self._clock().timestamp() - int(params["timestamp"])
        ) >= REQUEST_WINDOW_SECONDS:
            raise _ApiError(401, "SIGN_ERROR", "请求时间与当前时间相差过大")
        message = f"{method}\n{url}\n{params['timestamp']}\n{params['nonce_str']}\n".encode() + body + b"\n"
        try:
            signature = base64.b64decode(params["signature"], validate=True)
            self._merchant_public.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
        except (InvalidSignature, ValueError) as exc:
            raise _ApiError(401, "SIGN_ERROR", "签名错误") from exc

    # ---- the HTTP API -----------------------------------------------------------------------

    def handle(
        self,
        method: str,
        path: str,
        query: str | Mapping[str, str] | None,
        headers: Mapping[str, str],
        body: bytes | str | None,
    ) -> tuple[int, dict[str, str], bytes]:
        """Serve one API request. ``path`` as received (``/wechatpay/v3/…``); ``query`` ideally the
        raw query string (it is part of the signed URL); returns (status, headers, body)."""
        method = method.upper()
        raw = body.encode("utf-8") if isinstance(body, str) else (body or b"")
        if "?" in path and not query:
            path, _, query = path.partition("?")
        if isinstance(query, str):
            query_text = query
            params = dict(parse_qsl(query, keep_blank_values=True))
        else:
            params = dict(query or {})
            query_text = urlencode(params)
        lower = {k.lower(): v for k, v in headers.items()}
        now = self._clock()
        route = path[len(self.base_path):] if path.startswith(self.base_path + "/") else path
        try:
            if route.startswith(CONTROL_PREFIX):
                code, control = self._control(method, route[len(CONTROL_PREFIX):], params, raw)
                return code, {"Content-Type": "application/json; charset=utf-8"}, _dumps(control)
            self._check_authorization(method, path + (f"?{query_text}" if query_text else ""), lower, raw)
            if not lower.get("user-agent"):
                raise _ApiError(400, "PARAM_ERROR", "HTTP 头缺少 User-Agent")
            with self._state() as state:
                failure = state["failures"].pop(0) if state["failures"] else None
            if failure is not None:
                raise _ApiError(int(failure["status"]), str(failure["code"]), str(failure["message"]))
            status, payload = self._route(_Request(method, route, params, lower, raw, now))
        except _ApiError as exc:
            status, payload = exc.status, {"code": exc.code, "message": exc.message}
        out = b"" if payload is None else _dumps(payload)
        response_headers = self._signed_headers(out, now=now)
        if payload is not None:
            response_headers["Content-Type"] = "application/json; charset=utf-8"
        return status, response_headers, out

    def _control(self, method: str, action: str, params: Mapping[str, str], raw: bytes) -> tuple[int, Json]:
        """Dev-only, unauthenticated controls for end-to-end tests (see the module doc)."""
        if method == "GET" and action == "state":
            return 200, self.snapshot()
        if method != "POST":
            raise _ApiError(405, "METHOD_NOT_ALLOWED", "sandbox controls are POST (GET state)")
        wait = params.get("wait", "").lower() in {"1", "true", "yes"}
        parts = action.split("/")
        try:
            if parts[0] == "fail-next" and len(parts) == 1:
                spec = json.loads(raw or b"{}")
                self.fail_next(int(spec.get("status", 500)), str(spec.get("code", "SYSTEM_ERROR")),
                               str(spec.get("message", "injected failure")))
                return 200, {"queued": True}
            if parts[0] == "pay" and len(parts) == 2:
                event = self.pay(parts[1], background=not wait)
            elif parts[0] == "refund" and len(parts) == 2:
                event = self.complete_refund(parts[1], status=params.get("status", "SUCCESS"), background=not wait)
            elif parts[0] == "transfer" and len(parts) == 2:
                event = self.finish_transfer(parts[1], state=params.get("state", "SUCCESS"),
                                             fail_reason=params.get("reason"), background=not wait)
            elif parts[0] == "redeliver" and len(parts) == 1:
                event = self.redeliver_last(background=not wait)
            else:
                raise _ApiError(404, "NOT_FOUND", f"no sandbox control {action!r}")
        except SandboxError as exc:
            raise _ApiError(409, "SANDBOX_CONFLICT", str(exc)) from exc
        except (ValueError, AttributeError) as exc:
            raise _ApiError(400, "PARAM_ERROR", str(exc)) from exc
        summary: Json = {"event_type": event.event_type, "notification_id": json.loads(event.body)["id"],
                         "url": event.url, "resource": event.resource}
        if wait:
            summary["webhook_status"] = event.status
            summary["webhook_response"] = (event.response or b"").decode("utf-8", "replace")
        return (200 if wait else 202), summary

    def _route(self, req: _Request) -> tuple[int, Json | None]:
        for method, pattern, handler in self._routes:
            match = pattern.fullmatch(req.route)
            if match is not None and method == req.method:
                return handler(req, match.groups())
        raise _ApiError(404, "NOT_FOUND", f"sandbox: no API {req.method} {req.route}")

    @property
    def _routes(self) -> list[tuple[str, re.Pattern[str], _Handler]]:
        order = r"/v3/pay/transactions/out-trade-no/([^/]+)"
        bill = r"/v3/fund-app/mch-transfer/transfer-bills/out-bill-no/([^/]+)"
        return [
            ("POST", re.compile(r"/v3/pay/transactions/jsapi"), lambda r, _: (200, self._jsapi(r.json(), r.now))),
            ("GET", re.compile(order), lambda r, g: (200, self._query_order(g[0], r.params))),
            ("POST", re.compile(order + "/close"), lambda r, g: self._close(g[0], r.json())),
            ("POST", re.compile(r"/v3/refund/domestic/refunds"), lambda r, _: (200, self._refund(r.json(), r.now))),
            ("GET", re.compile(r"/v3/refund/domestic/refunds/([^/]+)"), lambda r, g: (200, self._query_refund(g[0]))),
            ("POST", re.compile(r"/v3/fund-app/mch-transfer/transfer-bills"),
             lambda r, _: (200, self._transfer(r.json(), r.headers, r.now))),
            ("GET", re.compile(bill), lambda r, g: (200, self._query_bill(g[0]))),
            ("POST", re.compile(bill + "/cancel"), lambda r, g: (200, self._cancel_bill(g[0], r.now))),
        ]

    # ---- payments ---------------------------------------------------------------------------

    @staticmethod
    def _need(data: Mapping[str, Any], name: str, kind: type, *, where: str = "") -> Any:
        value = data.get(name)
        if not isinstance(value, kind) or isinstance(value, bool) or (isinstance(value, str) and not value):
            raise _ApiError(400, "PARAM_ERROR", f"参数 {where}{name} 缺失或类型错误")
        return value

    def _jsapi(self, data: Json, now: datetime) -> Json:
        need = self._need
        if need(data, "appid", str) != self.appid or need(data, "mchid", str) != self.mchid:
            raise _ApiError(400, "APPID_MCHID_NOT_MATCH", "appid 和 mch_id 不匹配")
        out_trade_no = need(data, "out_trade_no", str)
        if not _OUT_TRADE_NO.fullmatch(out_trade_no):
            raise _ApiError(400, "PARAM_ERROR", "out_trade_no 格式错误")
        amount = need(data, "amount", dict)
        total = need(amount, "total", int, where="amount.")
        if total <= 0 or amount.get("currency", "CNY") != "CNY":
            raise _ApiError(400, "PARAM_ERROR", "amount 参数错误")
        openid = need(need(data, "payer", dict), "openid", str, where="payer.")
        order = {
            "out_trade_no": out_trade_no,
            "description": need(data, "description", str),
            "notify_url": need(data, "notify_url", str),
            "total": total,
            "openid": openid,
            "attach": data.get("attach"),
            "time_expire": data.get("time_expire"),
            "profit_sharing": bool((data.get("settle_info") or {}).get("profit_sharing")),
            "trade_state": "NOTPAY",
            "created": _fmt(now),
        }
        with self._state() as state:
            existing = state["orders"].get(out_trade_no)
            if existing is not None:
                if existing["trade_state"] in {"SUCCESS", "REFUND"}:
                    raise _ApiError(400, "ORDERPAID", "该订单已支付")
                if existing["trade_state"] == "CLOSED":
                    raise _ApiError(400, "ORDER_CLOSED", "订单已关闭")
                same = ("description", "total", "openid", "attach")
                if any(existing[k] != order[k] for k in same):
                    raise _ApiError(400, "INVALID_REQUEST", "201 商户订单号重复")
                order = existing
            prepay_id = f"wx{now.astimezone(CST):%d%H%M%S}{secrets.token_hex(13)}"
            order.setdefault("prepay_ids", []).append(prepay_id)
            state["orders"][out_trade_no] = order
        return {"prepay_id": prepay_id}

    def _transaction_view(self, order: Json) -> Json:
        view: Json = {
            "appid": self.appid,
            "mchid": self.mchid,
            "out_trade_no": order["out_trade_no"],
            "trade_state": order["trade_state"],
            "trade_state_desc": TRADE_STATE_DESC[order["trade_state"]],
            "amount": {"total": order["total"], "currency": "CNY", "payer_currency": "CNY"},
            "promotion_detail": [],
        }
        if order.get("attach") is not None:
            view["attach"] = order["attach"]
        if order.get("transaction_id"):
            view.update(
                transaction_id=order["transaction_id"],
                trade_type="JSAPI",
                bank_type=order.get("bank_type", "OTHERS"),
                success_time=order["success_time"],
                payer={"openid": order["openid"]},
            )
            view["amount"]["payer_total"] = order["total"]
            view.setdefault("attach", "")
        return view

    def _query_order(self, out_trade_no: str, params: Mapping[str, str]) -> Json:
        if params.get("mchid") != self.mchid:
            raise _ApiError(400, "PARAM_ERROR", "mchid 参数错误")
        with self._state(write=False) as state:
            order = state["orders"].get(out_trade_no)
            if order is None:
                raise _ApiError(404, "ORDER_NOT_EXIST", "订单不存在")
            return self._transaction_view(order)

    def _close(self, out_trade_no: str, data: Json) -> tuple[int, None]:
        """Close an unpaid order (204, no body)."""
        if data.get("mchid") != self.mchid:
            raise _ApiError(400, "PARAM_ERROR", "mchid 参数错误")
        with self._state() as state:
            order = state["orders"].get(out_trade_no)
            if order is None:
                raise _ApiError(404, "ORDER_NOT_EXIST", "订单不存在")
            if order["trade_state"] in {"SUCCESS", "REFUND"}:
                raise _ApiError(400, "ORDERPAID", "该订单已支付")
            order["trade_state"] = "CLOSED"
        return 204, None

    # ---- refunds ----------------------------------------------------------------------------

    def _refund(self, data: Json, now: datetime) -> Json:
        need = self._need
        out_refund_no = need(data, "out_refund_no", str)
        if not _OUT_REFUND_NO.fullmatch(out_refund_no):
            raise _ApiError(400, "PARAM_ERROR", "out_refund_no 格式错误")
        out_trade_no = need(data, "out_trade_no", str)
        amount = need(data, "amount", dict)
        refund_fen = need(amount, "refund", int, where="amount.")
        total_fen = need(amount, "total", int, where="amount.")
        if refund_fen <= 0 or amount.get("currency", "CNY") != "CNY":
            raise _ApiError(400, "PARAM_ERROR", "amount 参数错误")
        with self._state() as state:
            order = state["orders"].get(out_trade_no)
            if order is None:
                raise _ApiError(404, "RESOURCE_NOT_EXISTS", "订单不存在")
            existing = state["refunds"].get(out_refund_no)
            if existing is not None:
                if existing["out_trade_no"] != out_trade_no or existing["refund"] != refund_fen:
                    raise _ApiError(400, "INVALID_REQUEST", "退款单号重复且参数不一致")
                return self._refund_view(existing)
            if order["trade_state"] not in {"SUCCESS", "REFUND"}:
                raise _ApiError(400, "INVALID_REQUEST", "订单未支付，不能退款")
            if total_fen != order["total"]:
                raise _ApiError(400, "INVALID_REQUEST", "订单金额与原订单不一致")
            refunded = sum(
                r["refund"] for r in state["refunds"].values()
                if r["out_trade_no"] == out_trade_no and r["status"] != "CLOSED"
            )
            if refund_fen > order["total"] - refunded:
                raise _ApiError(400, "INVALID_REQUEST", "申请退款金额超过订单可退金额")
            refund = {
                "out_refund_no": out_refund_no,
                "refund_id": "50" + _digits(27),
                "out_trade_no": out_trade_no,
                "transaction_id": order["transaction_id"],
                "refund": refund_fen,
                "total": order["total"],
                "reason": data.get("reason"),
                "notify_url": data.get("notify_url"),
                "status": "PROCESSING",
                "create_time": _fmt(now),
                "success_time": None,
            }
            state["refunds"][out_refund_no] = refund
            return self._refund_view(refund)

    def _query_refund(self, out_refund_no: str) -> Json:
        with self._state(write=False) as state:
            refund = state["refunds"].get(out_refund_no)
            if refund is None:
                raise _ApiError(404, "RESOURCE_NOT_EXISTS", "退款单不存在")
            return self._refund_view(refund)

    @staticmethod
    def _refund_view(refund: Json) -> Json:
        view: Json = {
            "refund_id": refund["refund_id"],
            "out_refund_no": refund["out_refund_no"],
            "transaction_id": refund["transaction_id"],
            "out_trade_no": refund["out_trade_no"],
            "channel": "ORIGINAL",
            "user_received_account": "支付用户零钱",
            "create_time": refund["create_time"],
            "status": refund["status"],
            "funds_account": "AVAILABLE",
            "amount": {
                "total": refund["total"], "refund": refund["refund"],
                "payer_total": refund["total"], "payer_refund": refund["refund"],
                "settlement_refund": refund["refund"], "settlement_total": refund["total"],
                "discount_refund": 0, "currency": "CNY", "refund_fee": 0,
            },
            "promotion_detail": [],
        }
        if refund.get("success_time"):
            view["success_time"] = refund["success_time"]
        return view

    # ---- transfers --------------------------------------------------------------------------

    def _transfer(self, data: Json, headers: Mapping[str, str], now: datetime) -> Json:
        need = self._need
        if need(data, "appid", str) != self.appid:
            raise _ApiError(400, "APPID_MCHID_NOT_MATCH", "appid 和 mch_id 不匹配")
        out_bill_no = need(data, "out_bill_no", str)
        if not _OUT_BILL_NO.fullmatch(out_bill_no):
            raise _ApiError(400, "PARAM_ERROR", "out_bill_no 只能由数字、大小写字母组成")
        amount = need(data, "transfer_amount", int)
        remark = need(data, "transfer_remark", str)
        if amount <= 0 or len(remark) > 32:
            raise _ApiError(400, "PARAM_ERROR", "transfer_amount 或 transfer_remark 错误")
        openid = need(data, "openid", str)
        need(data, "transfer_scene_id", str)
        infos = data.get("transfer_scene_report_infos")
        if not isinstance(infos, list) or not all(
            isinstance(i, dict) and isinstance(i.get("info_type"), str) and isinstance(i.get("info_content"), str)
            for i in infos
        ):
            raise _ApiError(400, "PARAM_ERROR", "transfer_scene_report_infos 格式错误")
        user_name = data.get("user_name")
        if amount >= 200_000 and not user_name:
            raise _ApiError(400, "PARAM_ERROR", "转账金额 >= 2000 元时 user_name 必填")
        if user_name:
            if headers.get("wechatpay-serial") != self.public_key_id:
                raise _ApiError(400, "PARAM_ERROR", "Wechatpay-Serial 与加密使用的公钥不一致")
            try:
                self._platform_private.decrypt(base64.b64decode(str(user_name), validate=True), _oaep())
            except ValueError as exc:
                raise _ApiError(400, "PARAM_ERROR", "user_name 解密失败") from exc
        with self._state() as state:
            existing = state["bills"].get(out_bill_no)
            if existing is not None:
                if existing["openid"] != openid or existing["transfer_amount"] != amount:
                    raise _ApiError(400, "INVALID_REQUEST", "商户单号重复且参数不一致")
                return self._bill_created_view(existing)
            bill = {
                "out_bill_no": out_bill_no,
                "transfer_bill_no": "1330" + _digits(36),
                "openid": openid,
                "transfer_amount": amount,
                "transfer_remark": remark,
                "notify_url": data.get("notify_url"),
                "transfer_scene_id": data["transfer_scene_id"],
                "state": "WAIT_USER_CONFIRM",
                "package_info": base64.b64encode(secrets.token_bytes(48)).decode(),
                "create_time": _fmt(now),
                "update_time": _fmt(now),
                "fail_reason": None,
                "user_name_given": bool(user_name),
            }
            state["bills"][out_bill_no] = bill
            return self._bill_created_view(bill)

    @staticmethod
    def _bill_created_view(bill: Json) -> Json:
        view: Json = {k: bill[k] for k in ("out_bill_no", "transfer_bill_no", "create_time", "state")}
        if bill["state"] == "WAIT_USER_CONFIRM":
            view["package_info"] = bill["package_info"]
        if bill.get("fail_reason"):
            view["fail_reason"] = bill["fail_reason"]
        return view

    def _query_bill(self, out_bill_no: str) -> Json:
        with self._state(write=False) as state:
            bill = state["bills"].get(out_bill_no)
            if bill is None:
                raise _ApiError(404, "NOT_FOUND", "记录不存在")
            return self._bill_view(bill)

    def _bill_view(self, bill: Json) -> Json:
        view: Json = {
            "mch_id": self.mchid, "appid": self.appid,
            **{k: bill[k] for k in ("out_bill_no", "transfer_bill_no", "state", "transfer_amount",
                                    "transfer_remark", "openid", "create_time", "update_time")},
        }
        if bill.get("fail_reason"):
            view["fail_reason"] = bill["fail_reason"]
        return view

    def _cancel_bill(self, out_bill_no: str, now: datetime) -> Json:
        with self._state() as state:
            bill = state["bills"].get(out_bill_no)
            if bill is None:
                raise _ApiError(404, "NOT_FOUND", "记录不存在")
            if bill["state"] not in {"ACCEPTED", "PROCESSING", "WAIT_USER_CONFIRM", "CANCELING"}:
                raise _ApiError(400, "INVALID_REQUEST", f"单据状态 {bill['state']} 不允许撤销")
            bill["state"] = "CANCELLED"
            bill["update_time"] = _fmt(now)
            view = {k: bill[k] for k in ("out_bill_no", "transfer_bill_no", "state", "update_time")}
            snapshot = dict(bill)
        self._deliver_bill(snapshot, background=True)
        return view

    # ---- notifications ----------------------------------------------------------------------

    def build_notification(
        self,
        event_type: str,
        resource: Mapping[str, Any],
        *,
        original_type: str,
        now: datetime | None = None,
        timestamp_override: str | None = None,
        serial_override: str | None = None,
        signature_override: str | None = None,
        associated_data: str | None = None,
        notification_id: str | None = None,
    ) -> tuple[dict[str, str], bytes]:
        """A genuine WeChat Pay notification: returns (headers, raw body).

        ``associated_data`` defaults to ``original_type``; ``timestamp_override`` is signed (a
        genuine but stale message); ``serial_override``/``signature_override`` forge the header."""
        moment = now or self._clock()
        aad = original_type if associated_data is None else associated_data
        nonce = _alnum(12)
        sealed = AESGCM(self.apiv3_key).encrypt(nonce.encode(), _dumps(resource), aad.encode())
        envelope = {
            "id": notification_id or str(uuid.uuid4()),
            "create_time": _fmt(moment),
            "resource_type": "encrypt-resource",
            "event_type": event_type,
            "summary": EVENT_SUMMARY.get(event_type, event_type),
            "resource": {
                "original_type": original_type,
                "algorithm": "AEAD_AES_256_GCM",
                "ciphertext": base64.b64encode(sealed).decode(),
                "associated_data": aad,
                "nonce": nonce,
            },
        }
        raw = _dumps(envelope)
        headers = self._signed_headers(raw, now=moment, timestamp=timestamp_override)
        headers["Content-Type"] = "application/json"
        if serial_override is not None:
            headers["Wechatpay-Serial"] = serial_override
        if signature_override is not None:
            headers["Wechatpay-Signature"] = signature_override
        return headers, raw

    def send(self, url: str, headers: Mapping[str, str], body: bytes) -> tuple[int, bytes]:
        """POST a notification to ``url`` (through the configured sender)."""
        return self._sender(url, headers, body)

    def transaction_resource(
        self,
        out_trade_no: str,
        total_fen: int,
        openid: str,
        *,
        transaction_id: str | None = None,
        success_time: datetime | None = None,
        attach: str = "",
        bank_type: str = "OTHERS",
        trade_state: str = "SUCCESS",
    ) -> Json:
        """The decrypted TRANSACTION.SUCCESS resource."""
        return {
            "mchid": self.mchid,
            "appid": self.appid,
            "out_trade_no": out_trade_no,
            "transaction_id": transaction_id or "4200" + _digits(24),
            "trade_type": "JSAPI",
            "trade_state": trade_state,
            "trade_state_desc": TRADE_STATE_DESC.get(trade_state, trade_state),
            "bank_type": bank_type,
            "attach": attach,
            "success_time": _fmt(success_time or self._clock()),
            "payer": {"openid": openid},
            "amount": {"total": total_fen, "payer_total": total_fen, "currency": "CNY", "payer_currency": "CNY"},
        }

    def refund_resource(
        self,
        out_refund_no: str,
        out_trade_no: str,
        refund_fen: int,
        total_fen: int,
        *,
        refund_status: str = "SUCCESS",
        transaction_id: str | None = None,
        refund_id: str | None = None,
        success_time: datetime | None = None,
    ) -> Json:
        """The decrypted REFUND.* resource."""
        resource: Json = {
            "mchid": self.mchid,
            "transaction_id": transaction_id or "4200" + _digits(24),
            "out_trade_no": out_trade_no,
            "refund_id": refund_id or "50" + _digits(27),
            "out_refund_no": out_refund_no,
            "refund_status": refund_status,
            "user_received_account": "支付用户零钱",
            "amount": {"total": total_fen, "refund": refund_fen, "payer_total": total_fen, "payer_refund": refund_fen},
        }
        if refund_status == "SUCCESS":
            resource["success_time"] = _fmt(success_time or self._clock())
        return resource

    def transfer_bill_resource(
        self,
        out_bill_no: str,
        amount_fen: int,
        openid: str,
        *,
        state: str = "SUCCESS",
        transfer_bill_no: str | None = None,
        fail_reason: str | None = None,
        create_time: str | None = None,
        update_time: str | None = None,
    ) -> Json:
        """The decrypted MCHTRANSFER.BILL.FINISHED resource."""
        now = _fmt(self._clock())
        resource: Json = {
            "out_bill_no": out_bill_no,
            "transfer_bill_no": transfer_bill_no or "1330" + _digits(36),
            "state": state,
            "mch_id": self.mchid,
            "transfer_amount": amount_fen,
            "openid": openid,
            "create_time": create_time or now,
            "update_time": update_time or now,
        }
        if fail_reason:
            resource["fail_reason"] = fail_reason
        return resource

    # ---- actions ----------------------------------------------------------------------------

    def _deliver(self, event_type: str, resource: Json, original_type: str, url: str | None,
                 *, notification_id: str | None = None, background: bool = False) -> SandboxEvent:
        headers, body = self.build_notification(
            event_type, resource, original_type=original_type, notification_id=notification_id
        )
        target = self.notify_url or url
        envelope_id = json.loads(body)["id"]
        with self._state() as state:
            state["last_notification"] = {
                "id": envelope_id, "event_type": event_type, "resource": resource,
                "original_type": original_type, "url": target,
            }
        if not target:
            return SandboxEvent(event_type, resource, headers, body, None, None, None)
        if background:
            # Called from inside ``handle``: the webhook may be served by the very (possibly
            # single-threaded) server that is waiting for this response, so deliver afterwards.
            threading.Thread(target=self.send, args=(target, headers, body), daemon=True).start()
            return SandboxEvent(event_type, resource, headers, body, target, None, None)
        status, response = self.send(target, headers, body)
        return SandboxEvent(event_type, resource, headers, body, target, status, response)

    def pay(self, out_trade_no: str, *, bank_type: str = "OTHERS", background: bool = False) -> SandboxEvent:
        """The customer pays: NOTPAY → SUCCESS, then TRANSACTION.SUCCESS is delivered."""
        now = self._clock()
        with self._state() as state:
            order = state["orders"].get(out_trade_no)
            if order is None:
                raise SandboxError(f"no order {out_trade_no}")
            if order["trade_state"] != "NOTPAY":
                raise SandboxError(f"order {out_trade_no} is {order['trade_state']}, not NOTPAY")
            expire = order.get("time_expire")
            if expire and datetime.fromisoformat(expire) <= now:
                raise SandboxError(f"order {out_trade_no} expired at {expire}")
            order.update(
                trade_state="SUCCESS", transaction_id="4200" + _digits(24), success_time=_fmt(now), bank_type=bank_type
            )
            snapshot = dict(order)
        resource = self.transaction_resource(
            out_trade_no, snapshot["total"], snapshot["openid"], transaction_id=snapshot["transaction_id"],
            success_time=now, attach=snapshot.get("attach") or "", bank_type=bank_type,
        )
        return self._deliver("TRANSACTION.SUCCESS", resource, "transaction", snapshot["notify_url"],
                             background=background)

    def complete_refund(self, out_refund_no: str, *, status: str = "SUCCESS", background: bool = False) -> SandboxEvent:
        """The refund ends: PROCESSING → SUCCESS | ABNORMAL | CLOSED, then REFUND.<status> is delivered."""
        if status not in {"SUCCESS", "ABNORMAL", "CLOSED"}:
            raise SandboxError("status must be SUCCESS, ABNORMAL or CLOSED")
        now = self._clock()
        with self._state() as state:
            refund = state["refunds"].get(out_refund_no)
            if refund is None:
                raise SandboxError(f"no refund {out_refund_no}")
            if refund["status"] not in {"PROCESSING", "ABNORMAL"}:
                raise SandboxError(f"refund {out_refund_no} is already {refund['status']}")
            refund["status"] = status
            if status == "SUCCESS":
                refund["success_time"] = _fmt(now)
                state["orders"][refund["out_trade_no"]]["trade_state"] = "REFUND"
            snapshot = dict(refund)
        resource = self.refund_resource(
            out_refund_no, snapshot["out_trade_no"], snapshot["refund"], snapshot["total"], refund_status=status,
            transaction_id=snapshot["transaction_id"], refund_id=snapshot["refund_id"], success_time=now,
        )
        return self._deliver(f"REFUND.{status}", resource, "refund", snapshot["notify_url"], background=background)

    def _deliver_bill(self, bill: Json, *, background: bool = False) -> SandboxEvent:
        resource = self.transfer_bill_resource(
            bill["out_bill_no"], bill["transfer_amount"], bill["openid"], state=bill["state"],
            transfer_bill_no=bill["transfer_bill_no"], fail_reason=bill.get("fail_reason"),
            create_time=bill["create_time"], update_time=bill["update_time"],
        )
        return self._deliver("MCHTRANSFER.BILL.FINISHED", resource, "mch_payment", bill["notify_url"],
                             background=background)

    def finish_transfer(
        self, out_bill_no: str, *, state: str = "SUCCESS", fail_reason: str | None = None, background: bool = False
    ) -> SandboxEvent:
        """The bill reaches a terminal state (the user confirmed → SUCCESS, or FAIL / CANCELLED after
        24 h unconfirmed), then MCHTRANSFER.BILL.FINISHED is delivered."""
        if state not in {"SUCCESS", "FAIL", "CANCELLED"}:
            raise SandboxError("state must be SUCCESS, FAIL or CANCELLED")
        now = self._clock()
        with self._state() as data:
            bill = data["bills"].get(out_bill_no)
            if bill is None:
                raise SandboxError(f"no transfer bill {out_bill_no}")
            if bill["state"] in {"SUCCESS", "FAIL", "CANCELLED"}:
                raise SandboxError(f"bill {out_bill_no} is already {bill['state']}")
            bill.update(state=state, update_time=_fmt(now),
                        fail_reason=(fail_reason or "PAYEE_ACCOUNT_ABNORMAL") if state == "FAIL" else None)
            snapshot = dict(bill)
        return self._deliver_bill(snapshot, background=background)

    def confirm_transfer(self, out_bill_no: str) -> SandboxEvent:
        """The promoter confirms the receipt in the mini-program (wx.requestMerchantTransfer)."""
        return self.finish_transfer(out_bill_no, state="SUCCESS")

    def fail_transfer(self, out_bill_no: str, reason: str = "PAYEE_ACCOUNT_ABNORMAL") -> SandboxEvent:
        return self.finish_transfer(out_bill_no, state="FAIL", fail_reason=reason)

    def redeliver_last(self, *, background: bool = False) -> SandboxEvent:
        """Deliver the last notification again (same id, fresh signature): WeChat Pay's duplicates."""
        with self._state(write=False) as state:
            last = state["last_notification"]
        if not last:
            raise SandboxError("no notification was delivered yet")
        return self._deliver(last["event_type"], last["resource"], last["original_type"], last["url"],
                             notification_id=last["id"], background=background)


# ---- the local stack's sandbox ----------------------------------------------------------------

def local_stack_sandbox(data_dir: str | Path, *, appid: str, notify_url: str | None = None) -> PaySandbox:
    """The pay sandbox of the local stack whose data directory is ``data_dir``: the same keys
    (``secrets.json``, generated by local/hooks.py) and the same state file (``paysandbox.json``)
    as the sandbox the stack serves (local/sandbox.py), so an order prepaid through the API can be
    paid from another process. ``python -m local pay`` and the end-to-end tests both use this."""
    folder = Path(data_dir)
    keys = json.loads((folder / "secrets.json").read_text("utf-8"))
    return PaySandbox(keys, appid=appid, state_path=folder / "paysandbox.json", notify_url=notify_url)


def pay_local_order(data_dir: str | Path, out_trade_no: str, *, appid: str,
                    notify_url: str | None = None) -> SandboxEvent:
    """The buyer pays ``out_trade_no`` (= our order id): the sandbox marks it SUCCESS and POSTs a
    genuinely signed and encrypted TRANSACTION.SUCCESS to the webhook given at prepay (or
    ``notify_url``), and returns what the webhook answered."""
    return local_stack_sandbox(data_dir, appid=appid, notify_url=notify_url).pay(out_trade_no)


def complete_local_refund(data_dir: str | Path, out_refund_no: str, *, appid: str, status: str = "SUCCESS",
                          notify_url: str | None = None) -> SandboxEvent:
    """The refund ends (SUCCESS | ABNORMAL | CLOSED): REFUND.<status> is POSTed to the webhook."""
    return local_stack_sandbox(data_dir, appid=appid, notify_url=notify_url).complete_refund(out_refund_no,
                                                                                             status=status)


def finish_local_transfer(data_dir: str | Path, out_bill_no: str, *, appid: str, state: str = "SUCCESS",
                          fail_reason: str | None = None, notify_url: str | None = None) -> SandboxEvent:
    """The transfer bill ``out_bill_no`` finishes: SUCCESS (the promoter confirmed the receipt in
    the mini-program), FAIL or CANCELLED; MCHTRANSFER.BILL.FINISHED is POSTed to the webhook given
    when the bill was created (or ``notify_url``). ``python -m local payout`` uses this."""
    return local_stack_sandbox(data_dir, appid=appid, notify_url=notify_url).finish_transfer(
        out_bill_no, state=state, fail_reason=fail_reason)


def out_bill_no_of(withdrawal_id: str) -> str:
    """The transfer number of a withdrawal: its id without the ``_`` (letters and digits only)."""
    return "".join(ch for ch in withdrawal_id if ch.isalnum())


# ---- CLI ------------------------------------------------------------------------------------

def make_http_server(sandbox: PaySandbox, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """A stand-alone HTTP server for ``sandbox`` (port 0 = any free port); call ``serve_forever``."""

    class Handler(BaseHTTPRequestHandler):
        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            path, _, query = self.path.partition("?")
            status, headers, out = sandbox.handle(self.command, path, query, dict(self.headers.items()), body)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        do_GET = do_POST = _any

        def log_message(self, format: str, *args: Any) -> None:
            return None

    return ThreadingHTTPServer((host, port), Handler)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--secrets", type=Path, required=True, help="JSON file with the wechatpay_* keys")
    parser.add_argument("--state", type=Path, required=True, help="JSON state file shared with the API server")
    parser.add_argument("--appid", default=os.environ.get("WECHAT_APP_ID", "wx_local_app"))
    parser.add_argument("--notify-url", help="deliver notifications here instead of the orders' notify_url")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("show")
    sub.add_parser("redeliver")
    p = sub.add_parser("pay")
    p.add_argument("out_trade_no")
    p = sub.add_parser("refund")
    p.add_argument("out_refund_no")
    p.add_argument("--status", default="SUCCESS", choices=["SUCCESS", "ABNORMAL", "CLOSED"])
    p = sub.add_parser("transfer")
    p.add_argument("out_bill_no")
    p.add_argument("--state", dest="bill_state", default="SUCCESS", choices=["SUCCESS", "FAIL", "CANCELLED"])
    p.add_argument("--reason")
    p = sub.add_parser("fail-next")
    p.add_argument("status", type=int)
    p.add_argument("code")
    p.add_argument("message", nargs="?", default="injected failure")
    p = sub.add_parser("serve")
    p.add_argument("--port", type=int, default=8123)
    args = parser.parse_args(argv)

    keys = json.loads(args.secrets.read_text("utf-8"))
    sandbox = PaySandbox(keys, appid=args.appid, state_path=args.state, notify_url=args.notify_url)
    try:
        if args.command == "show":
            print(json.dumps(sandbox.snapshot(), ensure_ascii=False, indent=2))
            return 0
        if args.command == "serve":
            server = make_http_server(sandbox, port=args.port)
            print(f"WeChat Pay sandbox on http://127.0.0.1:{server.server_port}{sandbox.base_path}")
            server.serve_forever()
            return 0
        if args.command == "fail-next":
            sandbox.fail_next(args.status, args.code, args.message)
            return 0
        if args.command == "pay":
            event = sandbox.pay(args.out_trade_no)
        elif args.command == "refund":
            event = sandbox.complete_refund(args.out_refund_no, status=args.status)
        elif args.command == "transfer":
            event = sandbox.finish_transfer(args.out_bill_no, state=args.bill_state, fail_reason=args.reason)
        else:
            event = sandbox.redeliver_last()
    except SandboxError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    reply = (event.response or b"").decode("utf-8", "replace")
    print(f"{event.event_type} → {event.url or '(no notify URL)'}: {event.status} {reply}")
    return 0 if event.status in {200, 204} else 1


if __name__ == "__main__":
    raise SystemExit(main())
