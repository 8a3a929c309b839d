"""Merchant-side signatures: the API ``Authorization`` header and ``wx.requestPayment`` parameters.

Both are RSA PKCS#1 v1.5 SHA-256 with the merchant API private key, base64-encoded.

- Request: ``"{METHOD}\\n{url}\\n{timestamp}\\n{nonce_str}\\n{body}\\n"`` where ``url`` is the
  absolute URL without scheme and host (path plus ``?query``) and ``body`` the exact bytes sent
  (empty for GET); header ``WECHATPAY2-SHA256-RSA2048 mchid="…",nonce_str="…",signature="…",
  timestamp="…",serial_no="…"``.
- JSAPI / mini-program payment: ``"{appId}\\n{timeStamp}\\n{nonceStr}\\n{package}\\n"`` with
  ``package = "prepay_id=…"`` and ``signType = "RSA"``.
"""

from __future__ import annotations

import secrets
import time
from datetime import datetime
from typing import TYPE_CHECKING, TypedDict
from urllib.parse import urlsplit

from mall.integrations.wechatpay.crypto import rsa_sign

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

__all__ = [
    "AUTH_SCHEME",
    "JsapiPayParams",
    "authorization_message",
    "build_authorization",
    "canonical_url",
    "jsapi_pay_message",
    "jsapi_pay_params",
    "new_nonce",
]

AUTH_SCHEME = "WECHATPAY2-SHA256-RSA2048"


def new_nonce() -> str:
    """32 upper-case hex characters (``nonce_str`` allows at most 32)."""
    return secrets.token_hex(16).upper()


def _epoch(now: datetime | None) -> int:
    if now is None:
        return int(time.time())
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    return int(now.timestamp())


def canonical_url(url: str) -> str:
    """The part of ``url`` that is signed: path plus ``?query`` (no scheme, host or fragment)."""
    parts = urlsplit(url)
    path = parts.path or "/"
    return f"{path}?{parts.query}" if parts.query else path


def authorization_message(method: str, url: str, timestamp: int, nonce: str, body: bytes) -> bytes:
    head = f"{method.upper()}\n{url}\n{timestamp}\n{nonce}\n".encode()
    return head + body + b"\n"


def build_authorization(
    *,
    method: str,
    url: str,
    body: bytes,
    mchid: str,
    serial_no: str,
    private_key: RSAPrivateKey,
    now: datetime | None = None,
    nonce: str | None = None,
) -> str:
    """The ``Authorization`` header value of one API request.

    ``url`` is the signed part of the URL (see ``canonical_url``); ``body`` the exact bytes sent."""
    timestamp = _epoch(now)
    nonce_str = nonce or new_nonce()
    for name, value in (("mchid", mchid), ("serial_no", serial_no), ("nonce", nonce_str)):
        if not value or '"' in value or "," in value:
            raise ValueError(f"{name} must be non-empty and contain neither quotes nor commas")
    signature = rsa_sign(private_key, authorization_message(method, canonical_url(url), timestamp, nonce_str, body))
    return (
        f'{AUTH_SCHEME} mchid="{mchid}",nonce_str="{nonce_str}",signature="{signature}",'
        f'timestamp="{timestamp}",serial_no="{serial_no}"'
    )


class JsapiPayParams(TypedDict):
    """The object the mini-program passes to ``wx.requestPayment`` (keys exactly as WeChat names them)."""

    appId: str
    timeStamp: str
    nonceStr: str
    package: str
    signType: str
    paySign: str


def jsapi_pay_message(app_id: str, time_stamp: str, nonce_str: str, package: str) -> bytes:
    return f"{app_id}\n{time_stamp}\n{nonce_str}\n{package}\n".encode()


def jsapi_pay_params(
    *,
    appid: str,
    prepay_id: str,
    private_key: RSAPrivateKey,
    now: datetime | None = None,
    nonce: str | None = None,
) -> JsapiPayParams:
    """Sign the ``wx.requestPayment`` parameters for ``prepay_id`` (valid 2 hours at WeChat Pay)."""
    if not prepay_id:
        raise ValueError("prepay_id is required")
    time_stamp = str(_epoch(now))
    nonce_str = nonce or new_nonce()
    package = f"prepay_id={prepay_id}"
    pay_sign = rsa_sign(private_key, jsapi_pay_message(appid, time_stamp, nonce_str, package))
    return JsapiPayParams(
        appId=appid, timeStamp=time_stamp, nonceStr=nonce_str, package=package, signType="RSA", paySign=pay_sign
    )
