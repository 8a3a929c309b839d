"""The sandbox's keys, its state (in memory or a JSON file shared by processes) and WeChat Pay's
signatures: verifying the merchant's requests, signing responses and notifications."""

from __future__ import annotations

import base64
import contextlib
import json
import secrets
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from local.wechatpay_sandbox.common import (
    _AUTH_PARAM,
    BASE_PATH,
    REQUEST_WINDOW_SECONDS,
    SIGNATURE_TYPE,
    Json,
    Sender,
    _ApiError,
    _digits,
    _empty_state,
    send,
)


class SandboxCore:
    """WeChat Pay for one merchant: keys, state and signatures; the APIs and actions build on it."""

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

    @staticmethod
    def _need(data: Mapping[str, Any], name: str, kind: type, *, where: str = "") -> Any:
        value = data.get(name)
        if not isinstance(value, kind) or isinstance(value, bool) or (isinstance(value, str) and not value):
            raise _ApiError(400, "PARAM_ERROR", f"参数 {where}{name} 缺失或类型错误")
        return value
