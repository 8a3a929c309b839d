"""The local WeChat's shipping-service side of receipt (小程序发货信息管理服务), for the local stack:

- **message pushes** (消息推送, JSON data format) to the local webhook ``/webhooks/wechat/messages``,
  signed as WeChat signs them: plain (``signature`` = SHA1 of the sorted token, timestamp, nonce)
  or safe mode (``encrypt_type=aes``, ``msg_signature`` over the ``Encrypt`` field: AES-256-CBC
  with the EncodingAESKey, 16 random bytes + 4-byte length + message + appid, PKCS#7 to 32).
  Written from WeChat's documentation, apart from the backend's code, so each checks the other.
  ``python -m local confirm-receipt ORDER`` (``make confirm-receipt ORDER=...``) pushes the
  settlement of a paid order: the buyer confirmed receipt in WeChat.
- **notify_confirm_receive** (``POST /wechat/wxa/sec/order/notify_confirm_receive?access_token=``),
  served by the sandbox server (local/sandbox.py): unknown or revoked token → 40001; a body that is
  not a JSON object → 47001; neither ``transaction_id`` nor ``merchant_id`` + ``merchant_trade_no``,
  or a payment the pay sandbox does not hold as paid → 10060001 (支付单不存在); ``received_time``
  missing, in milliseconds, before the payment or in the future → 10060029 (签收时间不合理); a second
  reminder of the same payment → 10060024 (the sandbox's choice: WeChat documents one reminder per
  order but not the errcode of a repeat); ``transaction_id`` ``busy`` → -1. Otherwise
  ``{"errcode":0,"errmsg":"ok"}``. ``GET /wechat/sandbox/confirm-reminders`` lists the accepted
  reminders (tests use it to prove each order was reminded once).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import struct
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

Reply = tuple[int, dict[str, str], bytes]

ERR_NO_PAYMENT = 10060001
ERR_BAD_RECEIVED_TIME = 10060029
ERR_ALREADY_REMINDED = 10060024  # the sandbox's choice (see the module doc)

_lock = threading.Lock()
confirm_reminders: list[dict[str, Any]] = []


def _sha1(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()  # noqa: S324 (WeChat's scheme)


def seal(message: bytes, *, aes_key: str, appid: str) -> str:
    """The safe mode's ``Encrypt``: base64(AES-256-CBC(key, iv = key[:16], padded plaintext))."""
    key = base64.b64decode(aes_key + "=")
    plain = secrets.token_bytes(16) + struct.pack(">I", len(message)) + message + appid.encode("utf-8")
    pad = 32 - len(plain) % 32
    plain += bytes([pad]) * pad
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode("ascii")


def signed_push(message: Mapping[str, Any], *, token: str, aes_key: str, appid: str, safe: bool = True,
                timestamp: int | None = None) -> tuple[dict[str, str], bytes]:
    """The query string and body WeChat sends for ``message``: plain, or in the safe mode."""
    ts, nonce = str(timestamp if timestamp is not None else int(time.time())), str(secrets.randbelow(10**10))
    query = {"signature": _sha1(token, ts, nonce), "timestamp": ts, "nonce": nonce}
    text = json.dumps(message, ensure_ascii=False).encode("utf-8")
    if not safe:
        return query, text
    encrypted = seal(text, aes_key=aes_key, appid=appid)
    query |= {"encrypt_type": "aes", "msg_signature": _sha1(token, ts, nonce, encrypted)}
    return query, json.dumps({"ToUserName": "gh_sandbox", "Encrypt": encrypted}).encode("utf-8")


def url_check(*, token: str, echostr: str, timestamp: int | None = None) -> dict[str, str]:
    """The query of WeChat's GET when the push URL is saved in the mini-program admin."""
    ts, nonce = str(timestamp if timestamp is not None else int(time.time())), str(secrets.randbelow(10**10))
    return {"signature": _sha1(token, ts, nonce), "timestamp": ts, "nonce": nonce, "echostr": echostr}


def settlement_event(payment: Mapping[str, Any], out_trade_no: str, *, mchid: str, now: int,
                     at_shipping: bool = False, openid: str = "o_sandbox_buyer") -> dict[str, Any]:
    """``trade_manage_order_settlement`` for a paid order: at settlement (the buyer confirmed
    receipt, ``confirm_receive_time`` / ``settlement_time``), or when shipping is complete
    (``estimated_settlement_time``, completes nothing)."""
    event: dict[str, Any] = {
        "ToUserName": "gh_sandbox", "FromUserName": openid, "CreateTime": now, "MsgType": "event",
        "Event": "trade_manage_order_settlement", "transaction_id": payment.get("transaction_id", ""),
        "merchant_id": mchid, "merchant_trade_no": out_trade_no, "pay_time": now - 3600,
        "shipped_time": now - 1800,
    }
    if at_shipping:
        event["estimated_settlement_time"] = now + 10 * 86400
    else:
        event |= {"confirm_receive_method": 2, "confirm_receive_time": now, "settlement_time": now}
    return event


def remind_shipping_event(payment: Mapping[str, Any], out_trade_no: str, *, mchid: str, now: int) -> dict[str, Any]:
    return {"ToUserName": "gh_sandbox", "FromUserName": "o_sandbox_buyer", "CreateTime": now, "MsgType": "event",
            "Event": "trade_manage_remind_shipping", "merchant_id": mchid,
            "transaction_id": payment.get("transaction_id", ""), "merchant_trade_no": out_trade_no,
            "msg": "用户提醒发货"}


def post_push(url: str, query: Mapping[str, str], body: bytes, *, timeout: float = 10.0) -> tuple[int, str]:
    """POST a signed push to the webhook at ``url``: (HTTP status, body text)."""
    request = urllib.request.Request(f"{url}?{urllib.parse.urlencode(query)}", data=body, method="POST",  # noqa: S310
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (local stack)
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode("utf-8", "replace")


# ---- notify_confirm_receive (served by local/sandbox.py) -------------------------------------------

def _payments() -> tuple[str, dict[str, dict[str, Any]]]:
    """The merchant number and what the pay sandbox of this stack holds (out_trade_no → order)."""
    from local.sandbox import _make_pay_sandbox, _pay_sandbox_config

    pay = _make_pay_sandbox(*_pay_sandbox_config())
    orders = pay.snapshot().get("orders", {})
    return str(pay.mchid), {str(k): v for k, v in orders.items() if isinstance(v, dict)}


def _json(payload: dict[str, Any]) -> Reply:
    return 200, {"Content-Type": "application/json"}, json.dumps(payload, ensure_ascii=False).encode("utf-8")


def _find_payment(request: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
    transaction_id = str(request.get("transaction_id") or "")
    merchant_id, trade_no = str(request.get("merchant_id") or ""), str(request.get("merchant_trade_no") or "")
    mchid, payments = _payments()
    for out_trade_no, payment in payments.items():
        if payment.get("trade_state") not in {"SUCCESS", "REFUND"}:
            continue
        if transaction_id and payment.get("transaction_id") == transaction_id:
            return out_trade_no, payment
        if not transaction_id and trade_no == out_trade_no and merchant_id == mchid:
            return out_trade_no, payment
    return None


def _paid_at(payment: Mapping[str, Any]) -> float:
    from datetime import datetime

    text = str(payment.get("success_time") or "")
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return 0.0


def notify_confirm_receive(request: dict[str, Any]) -> Reply:
    """The reminder call, once the token and JSON were checked (local/sandbox.py)."""
    if str(request.get("transaction_id") or "") == "busy":
        return _json({"errcode": -1, "errmsg": "system error (sandbox)"})
    found = _find_payment(request)
    if found is None:
        return _json({"errcode": ERR_NO_PAYMENT, "errmsg": "支付单不存在 (sandbox)"})
    out_trade_no, payment = found
    received = request.get("received_time")
    if (not isinstance(received, int) or isinstance(received, bool) or received <= _paid_at(payment)
            or received > time.time() + 60):
        return _json({"errcode": ERR_BAD_RECEIVED_TIME, "errmsg": "签收时间不合理 (sandbox)"})
    with _lock:
        if any(r["transaction_id"] == payment.get("transaction_id") for r in confirm_reminders):
            return _json({"errcode": ERR_ALREADY_REMINDED, "errmsg": "already reminded (sandbox: once per order)"})
        confirm_reminders.append({"transaction_id": payment.get("transaction_id"), "merchant_trade_no": out_trade_no,
                                  "received_time": received, "at": int(time.time())})
    return _json({"errcode": 0, "errmsg": "ok"})


def list_confirm_reminders(query: Mapping[str, list[str]]) -> Reply:
    trade_no = (query.get("merchant_trade_no") or [""])[0]
    with _lock:
        found = [r for r in confirm_reminders if not trade_no or r["merchant_trade_no"] == trade_no]
    return _json({"reminders": found})


# ---- python -m local confirm-receipt -------------------------------------------------------------

def push_for_order(data_dir: Path, order_id: str, *, api_url: str, appid: str, event: str = "settlement",
                   safe: bool = True) -> tuple[int, str]:
    """Push ``event`` (settlement | shipped | remind-shipping) for the paid order ``order_id`` of the
    local stack at ``api_url``, signed with its secrets (``secrets.json``)."""
    from local.wechatpay_sandbox.local_stack import local_stack_sandbox

    keys = json.loads((data_dir / "secrets.json").read_text("utf-8"))
    pay = local_stack_sandbox(data_dir, appid=appid)
    payment = pay.snapshot().get("orders", {}).get(order_id)
    if not isinstance(payment, dict) or not payment.get("transaction_id"):
        raise LookupError(f"the pay sandbox holds no paid order {order_id}: `make pay ORDER={order_id}` first")
    now = int(time.time())
    mchid = str(pay.mchid)
    message = (remind_shipping_event(payment, order_id, mchid=mchid, now=now) if event == "remind-shipping"
               else settlement_event(payment, order_id, mchid=mchid, now=now, at_shipping=event == "shipped",
                                     openid=str(payment.get("openid") or "o_sandbox_buyer")))
    query, body = signed_push(message, token=keys["wechat_message_token"], aes_key=keys["wechat_message_aes_key"],
                              appid=appid, safe=safe)
    return post_push(f"{api_url.rstrip('/')}/webhooks/wechat/messages", query, body)


def local_api_url() -> str:
    return os.environ.get("LOCAL_API_URL", "http://127.0.0.1:3000")
