"""Helpers of the WeChat Pay protocol tests (imported relatively by the test modules)."""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from local.wechatpay_sandbox.sandbox import PaySandbox
from mall.integrations.wechatpay.client import HttpRequest, HttpResponse

APPID = "wx_test_app"
START = datetime(2025, 3, 1, 4, 0, 0, tzinfo=UTC)  # 12:00 in Beijing


@dataclass
class FakeClock:
    now: datetime = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class RecordingSender:
    """Stands in for the webhook: records each delivery and answers ``reply``."""

    reply: tuple[int, bytes] = (204, b"")
    sent: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)

    def __call__(self, url: str, headers: Mapping[str, str], body: bytes) -> tuple[int, bytes]:
        self.sent.append((url, dict(headers), body))
        return self.reply


@dataclass(frozen=True)
class Keys:
    raw: dict[str, str]
    merchant_private: RSAPrivateKey
    merchant_public: RSAPublicKey
    platform_private: RSAPrivateKey
    platform_public: RSAPublicKey
    public_key_id: str
    apiv3_key: bytes

    @property
    def public_keys(self) -> dict[str, RSAPublicKey]:
        return {self.public_key_id: self.platform_public}


def sandbox_transport(sandbox: PaySandbox) -> Callable[[HttpRequest], HttpResponse]:
    """Calls ``sandbox.handle`` in-process, as the local runner does for ``/wechatpay`` paths."""

    def transport(request: HttpRequest) -> HttpResponse:
        parts = urlsplit(request.url)
        status, headers, body = sandbox.handle(request.method, parts.path, parts.query, request.headers, request.body)
        return HttpResponse(status, headers, body)

    return transport


def hand_rolled_notification(
    *,
    private_key: RSAPrivateKey,
    serial: str,
    apiv3_key: bytes,
    resource: Mapping[str, object],
    timestamp: int,
    event_type: str = "TRANSACTION.SUCCESS",
    associated_data: str = "transaction",
    original_type: str = "transaction",
) -> tuple[dict[str, str], bytes]:
    """A notification built straight from the protocol text with ``cryptography``, sharing no
    code with the sandbox or with ``mall.integrations.wechatpay``."""
    nonce = secrets.token_hex(6)  # 12 characters
    plaintext = json.dumps(resource, ensure_ascii=False).encode()
    sealed = AESGCM(apiv3_key).encrypt(nonce.encode(), plaintext, associated_data.encode())
    envelope = {
        "id": "EV-2018022511223320873",
        "create_time": "2015-05-20T13:29:35+08:00",
        "resource_type": "encrypt-resource",
        "event_type": event_type,
        "summary": "支付成功",
        "resource": {
            "original_type": original_type,
            "algorithm": "AEAD_AES_256_GCM",
            "ciphertext": base64.b64encode(sealed).decode(),
            "associated_data": associated_data,
            "nonce": nonce,
        },
    }
    body = json.dumps(envelope, ensure_ascii=False, indent=2).encode()  # any layout: raw bytes are signed
    header_nonce = secrets.token_hex(16)
    message = f"{timestamp}\n{header_nonce}\n".encode() + body + b"\n"
    signature = base64.b64encode(private_key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()
    headers = {
        "Wechatpay-Timestamp": str(timestamp),
        "Wechatpay-Nonce": header_nonce,
        "Wechatpay-Signature": signature,
        "Wechatpay-Serial": serial,
        "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
        "Request-ID": "test-request",
    }
    return headers, body
