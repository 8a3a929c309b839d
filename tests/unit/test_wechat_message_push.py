"""The mini-program's message push as WeChat sends it (WXBizMsgCrypt, JSON): genuine pushes built
here with ``cryptography`` alone are opened; forged, tampered, stale or foreign ones are refused
before their content is read."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from mall.integrations.wechat_messages import PushKeys, PushRefused, open_push, verify_url

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
TOKEN = "sandboxtoken123"
AES_KEY = base64.b64encode(bytes(range(32))).decode()[:43]
APPID = "wx_local_app"
KEYS = PushKeys(token=TOKEN, aes_key=AES_KEY, appid=APPID)
EVENT = {"ToUserName": "gh_1", "FromUserName": "o_1", "CreateTime": 1796212800, "MsgType": "event",
         "Event": "trade_manage_order_settlement", "transaction_id": "4200001", "merchant_trade_no": "o_1",
         "confirm_receive_time": 1796212700, "settlement_time": 1796212790, "confirm_receive_method": 2}


def sha1(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()  # noqa: S324 (WeChat's scheme)


def seal(message: bytes, *, appid: str = APPID, key_text: str = AES_KEY) -> str:
    """WeChat's safe-mode ciphertext, written from its documentation (not from the code under test)."""
    key = base64.b64decode(key_text + "=")
    plain = os.urandom(16) + struct.pack(">I", len(message)) + message + appid.encode()
    pad = 32 - len(plain) % 32
    plain += bytes([pad]) * pad
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode()


def safe_push(message: dict[str, object], *, timestamp: int | None = None,
              **seal_args: str) -> tuple[dict[str, str], bytes]:
    ts, nonce = str(timestamp or int(NOW.timestamp())), "n0nce"
    encrypted = seal(json.dumps(message).encode(), **seal_args)
    query = {"signature": sha1(TOKEN, ts, nonce), "timestamp": ts, "nonce": nonce, "encrypt_type": "aes",
             "msg_signature": sha1(TOKEN, ts, nonce, encrypted)}
    return query, json.dumps({"ToUserName": "gh_1", "Encrypt": encrypted}).encode()


def plain_push(message: dict[str, object]) -> tuple[dict[str, str], bytes]:
    ts, nonce = str(int(NOW.timestamp())), "n0nce"
    return {"signature": sha1(TOKEN, ts, nonce), "timestamp": ts, "nonce": nonce}, json.dumps(message).encode()


def test_a_genuine_encrypted_push_opens_to_its_message() -> None:
    query, body = safe_push(EVENT)
    assert open_push(query, body, KEYS, NOW, allow_plain=False) == EVENT


def test_a_genuine_plain_push_opens_only_where_plain_is_allowed() -> None:
    query, body = plain_push(EVENT)
    assert open_push(query, body, KEYS, NOW, allow_plain=True) == EVENT
    with pytest.raises(PushRefused) as refused:
        open_push(query, body, KEYS, NOW, allow_plain=False)
    assert refused.value.status == 403


def test_the_url_check_echoes_echostr_when_signed() -> None:
    ts = str(int(NOW.timestamp()))
    query = {"signature": sha1(TOKEN, ts, "abc"), "timestamp": ts, "nonce": "abc", "echostr": "e-123"}
    assert verify_url(query, KEYS, NOW) == "e-123"
    with pytest.raises(PushRefused):
        verify_url({**query, "signature": sha1("other", ts, "abc")}, KEYS, NOW)


def _tampered_ciphertext() -> tuple[dict[str, str], bytes]:
    query, body = safe_push(EVENT)
    envelope = json.loads(body)
    raw = bytearray(base64.b64decode(envelope["Encrypt"]))
    raw[40] ^= 1
    envelope["Encrypt"] = base64.b64encode(bytes(raw)).decode()
    return query, json.dumps(envelope).encode()  # msg_signature still covers the original ciphertext


def _resigned_foreign_appid() -> tuple[dict[str, str], bytes]:
    return safe_push(EVENT, appid="wx_other_app")  # correctly signed with our token, another app inside


def _wrong_key() -> tuple[dict[str, str], bytes]:
    other = base64.b64encode(bytes(range(1, 33))).decode()[:43]
    return safe_push(EVENT, key_text=other)


@pytest.mark.parametrize(("build", "reason"), [
    (lambda: ({**safe_push(EVENT)[0], "signature": "0" * 40}, safe_push(EVENT)[1]), "signature mismatch"),
    (lambda: ({**safe_push(EVENT)[0], "msg_signature": "0" * 40}, safe_push(EVENT)[1]), "msg_signature mismatch"),
    (_tampered_ciphertext, "msg_signature mismatch"),
    (_resigned_foreign_appid, "appid mismatch"),
    (lambda: safe_push(EVENT, timestamp=int(NOW.timestamp()) - 301), "timestamp outside the replay window"),
    (lambda: safe_push(EVENT, timestamp=int(NOW.timestamp()) + 301), "timestamp outside the replay window"),
    (lambda: ({k: v for k, v in safe_push(EVENT)[0].items() if k != "timestamp"}, safe_push(EVENT)[1]),
     "timestamp missing or not a number"),
    (lambda: ({**safe_push(EVENT)[0], "encrypt_type": "sm4"}, safe_push(EVENT)[1]), "unknown encrypt_type 'sm4'"),
])
def test_forged_tampered_and_stale_pushes_are_refused(build: object, reason: str) -> None:
    query, body = build()  # type: ignore[operator]
    with pytest.raises(PushRefused) as refused:
        open_push(query, body, KEYS, NOW, allow_plain=True)
    assert refused.value.reason == reason


def test_a_push_under_another_aes_key_fails_to_open() -> None:
    query, body = _wrong_key()
    with pytest.raises(PushRefused) as refused:
        open_push(query, body, KEYS, NOW, allow_plain=False)
    assert refused.value.reason in {"bad padding", "appid mismatch", "message length beyond its content",
                                    "the decrypted message is not JSON (configure the JSON data format)"}


def test_the_body_is_not_parsed_before_the_signature_is_checked() -> None:
    query, _ = plain_push(EVENT)
    with pytest.raises(PushRefused) as refused:
        open_push({**query, "signature": "f" * 40}, b"<xml>not json</xml>", KEYS, NOW, allow_plain=True)
    assert refused.value.reason == "signature mismatch"


def test_an_xml_push_is_refused_with_the_configuration_to_fix() -> None:
    query, _ = plain_push(EVENT)
    with pytest.raises(PushRefused) as refused:
        open_push(query, b"<xml><Event>x</Event></xml>", KEYS, NOW, allow_plain=True)
    assert refused.value.status == 400 and "JSON data format" in refused.value.reason


def test_wechats_own_published_examples_verify() -> None:
    """The URL check and the plain push of WeChat's message-push guide (Token "AAAAA")."""
    published = PushKeys(token="AAAAA", aes_key=AES_KEY, appid=APPID)
    at = datetime.fromtimestamp(1714036504, tz=UTC)
    check = {"signature": "f464b24fc39322e44b38aa78f5edd27bd1441696", "echostr": "4375120948345356249",
             "timestamp": "1714036504", "nonce": "1514711492"}
    assert verify_url(check, published, at) == "4375120948345356249"
    push = {"signature": "899cf89e464efb63f54ddac96b0a0a235f53aa78", "timestamp": "1714037059", "nonce": "486452656"}
    body = json.dumps({"ToUserName": "gh_97417a04a28d", "FromUserName": "o9AgO5Kd5ggOC-bXrbNODIiE3bGY",
                       "CreateTime": 1714037059, "MsgType": "event", "Event": "debug_demo",
                       "debug_str": "hello world"}).encode()
    opened = open_push(push, body, published, datetime.fromtimestamp(1714037059, tz=UTC), allow_plain=True)
    assert opened["Event"] == "debug_demo"
