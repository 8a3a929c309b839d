"""The mini-program's message push (消息推送): URL verification, signatures and the safe mode
(安全模式, WeChat's ``WXBizMsgCrypt`` scheme), JSON data format only (docs/shipping.md).

- ``signature`` = SHA1 of the sorted, concatenated ``[token, timestamp, nonce]``: it authenticates
  the sender but covers no body; in safe mode ``msg_signature`` = SHA1 of the sorted
  ``[token, timestamp, nonce, Encrypt]`` covers the ciphertext.
- ``Encrypt`` = base64(AES-256-CBC(key, iv = key[:16], PKCS#7 padded to 32 bytes of
  16 random bytes + 4-byte big-endian length + message + appid)); the key is
  base64(EncodingAESKey + "=") (43 characters → 32 bytes).

Everything is checked before the body is parsed: the timestamp window, then ``signature``, then
(safe mode) the envelope's ``msg_signature``, the padding and the appid. A refusal is a
``PushRefused`` naming its reason; nothing is read from an unverified body."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

#: WeChat sends the push at once and retries within seconds; an older timestamp is a replay.
REPLAY_WINDOW_SECONDS = 300
BLOCK = 32  # WXBizMsgCrypt pads to 32 bytes, not AES's 16
MAX_BODY_BYTES = 64 * 1024


class PushRefused(Exception):
    """A push (or verification request) that is not WeChat's: answered 4xx, nothing changed."""

    def __init__(self, reason: str, *, status: int = 401) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


@dataclass(frozen=True)
class PushKeys:
    """The message-push secrets: ``token`` (令牌) and ``aes_key`` (EncodingAESKey, 43 chars); the
    mini-program's ``appid`` that every decrypted message must carry."""

    token: str
    aes_key: str
    appid: str


def signature(token: str, *parts: str) -> str:
    """SHA1 hex of the sorted, concatenated ``token`` and ``parts``."""
    return hashlib.sha1("".join(sorted((token, *parts))).encode("utf-8")).hexdigest()  # noqa: S324 (WeChat's scheme)


def aes_key_bytes(encoding_aes_key: str) -> bytes:
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("the EncodingAESKey must be 43 base64 characters") from exc
    if len(key) != 32:
        raise ValueError("the EncodingAESKey must decode to 32 bytes")
    return key


def _first(query: Mapping[str, str | None], name: str) -> str:
    value = query.get(name)
    return value if isinstance(value, str) else ""


def _check_time(query: Mapping[str, str | None], now: datetime) -> str:
    timestamp = _first(query, "timestamp")
    if not timestamp.isdigit() or len(timestamp) > 12:
        raise PushRefused("timestamp missing or not a number", status=400)
    if abs(now.timestamp() - int(timestamp)) > REPLAY_WINDOW_SECONDS:
        raise PushRefused("timestamp outside the replay window")
    return timestamp


def _check_signature(query: Mapping[str, str | None], token: str, now: datetime) -> tuple[str, str]:
    timestamp = _check_time(query, now)
    nonce, given = _first(query, "nonce"), _first(query, "signature")
    if not nonce or not given:
        raise PushRefused("nonce or signature missing", status=400)
    if not hmac.compare_digest(signature(token, timestamp, nonce), given.lower()):
        raise PushRefused("signature mismatch")
    return timestamp, nonce


def verify_url(query: Mapping[str, str | None], keys: PushKeys, now: datetime) -> str:
    """The URL check WeChat makes when the push URL is saved (GET): the ``echostr`` to echo back."""
    _check_signature(query, keys.token, now)
    echostr = _first(query, "echostr")
    if not echostr:
        raise PushRefused("echostr missing", status=400)
    return echostr


def _decrypt(encrypted: str, keys: PushKeys) -> bytes:
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    try:
        raw = base64.b64decode(encrypted, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise PushRefused("Encrypt is not base64", status=400) from exc
    if not raw or len(raw) % 16:
        raise PushRefused("Encrypt is not a whole number of AES blocks", status=400)
    key = aes_key_bytes(keys.aes_key)
    decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    plain = decryptor.update(raw) + decryptor.finalize()
    pad = plain[-1]
    if not 1 <= pad <= BLOCK or plain[-pad:] != bytes([pad]) * pad:
        raise PushRefused("bad padding")
    content = plain[16:-pad]
    if len(content) < 4:
        raise PushRefused("message too short")
    (length,) = struct.unpack(">I", content[:4])
    if length > len(content) - 4:
        raise PushRefused("message length beyond its content")
    message, appid = content[4:4 + length], content[4 + length:]
    if not hmac.compare_digest(appid, keys.appid.encode("utf-8")):
        raise PushRefused("appid mismatch")
    return message


def _json_object(data: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PushRefused(f"{what} is not JSON (configure the JSON data format)", status=400) from exc
    if not isinstance(value, dict):
        raise PushRefused(f"{what} is not a JSON object", status=400)
    return value


def open_push(query: Mapping[str, str | None], body: bytes, keys: PushKeys, now: datetime, *,
              allow_plain: bool) -> dict[str, Any]:
    """A verified push's message (a JSON object). Safe mode (``encrypt_type=aes``) is verified by
    ``msg_signature`` over the ciphertext, decrypted and its appid checked; plain mode only by
    ``signature``, which covers no body, so it is accepted only where ``allow_plain``."""
    timestamp, nonce = _check_signature(query, keys.token, now)
    if len(body) > MAX_BODY_BYTES:
        raise PushRefused("body too large", status=413)
    encrypt_type = _first(query, "encrypt_type")
    if encrypt_type in ("", "raw"):
        if not allow_plain:
            raise PushRefused("plain pushes are refused here: configure the safe mode (安全模式)", status=403)
        return _json_object(body, "the body")
    if encrypt_type != "aes":
        raise PushRefused(f"unknown encrypt_type {encrypt_type!r}", status=400)
    given = _first(query, "msg_signature")
    if not given:
        raise PushRefused("msg_signature missing", status=400)
    envelope = _json_object(body, "the body")  # the envelope only: its Encrypt is what msg_signature covers
    encrypted = envelope.get("Encrypt")
    if not isinstance(encrypted, str) or not encrypted:
        raise PushRefused("Encrypt missing", status=400)
    if not hmac.compare_digest(signature(keys.token, timestamp, nonce, encrypted), given.lower()):
        raise PushRefused("msg_signature mismatch")
    return _json_object(_decrypt(encrypted, keys), "the decrypted message")


def push_keys() -> PushKeys:
    """The configured mini-program's message-push secrets, as they are now (they rotate)."""
    from mall.config import get_settings
    from mall.secrets import get_secret

    return PushKeys(token=get_secret("wechat_message_token"), aes_key=get_secret("wechat_message_aes_key"),
                    appid=get_settings().wechat_app_id)
