"""What the sandbox's parts share: WeChat Pay's constants, the request and event types, the
errors, small formatting helpers and ``send`` (POST a notification to a webhook)."""

from __future__ import annotations

import json
import re
import secrets
import string
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

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
