"""Notification verification and decryption, against three independent parties:

- notifications built by the sandbox (which shares no code with ``mall``),
- the same notifications checked by the PyPI ``wechatpayv3`` SDK (nobody here wrote it),
- notifications hand-rolled in ``helpers`` straight from the protocol text.
"""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from wechatpayv3 import WeChatPay, WeChatPayType

from local.wechatpay_sandbox.sandbox import PaySandbox
from mall.integrations.wechatpay.errors import NotificationRejected
from mall.integrations.wechatpay.notifications import (
    Notification,
    failure_reply,
    rejection_reply,
    success_reply,
    verify_and_decrypt,
)
from mall.integrations.wechatpay.refund_resources import parse_refund
from mall.integrations.wechatpay.resources import parse_transaction
from mall.integrations.wechatpay.transfer_resources import parse_transfer_bill

from .helpers import APPID, START, FakeClock, Keys, hand_rolled_notification

EPOCH = int(START.timestamp())


def verify(keys: Keys, headers: dict[str, str], body: bytes, clock: FakeClock | None = None) -> Notification:
    now = clock() if clock is not None else START
    return verify_and_decrypt(headers, body, public_keys=keys.public_keys, apiv3_key=keys.apiv3_key, now=now)


def rejected(keys: Keys, headers: dict[str, str], body: bytes, reason: str) -> None:
    with pytest.raises(NotificationRejected) as info:
        verify(keys, headers, body)
    assert info.value.reason_code == reason, info.value


def payment(sandbox: PaySandbox, **overrides: Any) -> tuple[dict[str, str], bytes]:
    resource = sandbox.transaction_resource("T2025030100001", 12_345, "o-openid-1")
    return sandbox.build_notification("TRANSACTION.SUCCESS", resource, original_type="transaction", **overrides)


# ---- genuine notifications verify ------------------------------------------------------------

def test_sandbox_payment_notification_verifies_decrypts_and_parses(keys: Keys, sandbox: PaySandbox) -> None:
    headers, body = payment(sandbox)
    note = verify(keys, headers, body)
    assert note.event_type == "TRANSACTION.SUCCESS"
    assert note.resource_type == "encrypt-resource"
    assert note.original_type == "transaction"
    assert note.associated_data == "transaction"
    assert note.serial == keys.public_key_id
    assert note.timestamp == EPOCH
    tx = parse_transaction(note.resource)
    assert tx.out_trade_no == "T2025030100001"
    assert tx.trade_state == "SUCCESS"
    assert tx.mchid == keys.raw["wechatpay_mchid"] and tx.appid == APPID
    assert tx.amount is not None and tx.amount.total == 12_345 and tx.amount.payer_total == 12_345
    assert tx.payer_openid == "o-openid-1"
    assert tx.success_time is not None and tx.success_time.utcoffset() == timedelta(hours=8)
    assert tx.success_time == START


def test_sandbox_refund_and_transfer_notifications_parse(keys: Keys, sandbox: PaySandbox) -> None:
    for status in ("SUCCESS", "ABNORMAL", "CLOSED"):
        resource = sandbox.refund_resource("R1", "T2025030100001", 300, 12_345, refund_status=status)
        note = verify(keys, *sandbox.build_notification(f"REFUND.{status}", resource, original_type="refund"))
        refund = parse_refund(note.resource)
        assert (refund.refund_status, refund.amount.refund, refund.amount.total) == (status, 300, 12_345)
        assert (refund.success_time is not None) == (status == "SUCCESS")
    resource = sandbox.transfer_bill_resource("B20250301x1", 5_000, "o-promoter", state="FAIL", fail_reason="X")
    note = verify(keys, *sandbox.build_notification("MCHTRANSFER.BILL.FINISHED", resource, original_type="mch_payment"))
    bill = parse_transfer_bill(note.resource)
    assert (bill.out_bill_no, bill.state, bill.transfer_amount, bill.fail_reason) == ("B20250301x1", "FAIL", 5_000, "X")
    assert note.original_type == "mch_payment"


def wechatpayv3_sdk(keys: Keys) -> WeChatPay:
    """The independent SDK in public-key mode: with ``public_key``/``public_key_id`` it loads no
    certificates and needs no network to verify callbacks."""
    return WeChatPay(
        wechatpay_type=WeChatPayType.MINIPROG,
        mchid=keys.raw["wechatpay_mchid"],
        private_key=keys.raw["wechatpay_merchant_private_key"],
        cert_serial_no=keys.raw["wechatpay_merchant_serial"],
        appid=APPID,
        apiv3_key=keys.raw["wechatpay_apiv3_key"],
        public_key=keys.raw["wechatpay_public_key"],
        public_key_id=keys.public_key_id,
    )


def test_sandbox_notifications_verify_with_the_independent_wechatpayv3_sdk(keys: Keys, sandbox: PaySandbox) -> None:
    sdk = wechatpayv3_sdk(keys)
    headers, body = payment(sandbox)
    result = sdk.callback(headers, body)
    assert result is not None
    assert result["event_type"] == "TRANSACTION.SUCCESS"
    assert result["resource"]["out_trade_no"] == "T2025030100001"
    assert result["resource"]["amount"]["total"] == 12_345
    assert result["resource"] == verify(keys, headers, body).resource
    # API Gateway lower-cases header names; the SDK reads those too.
    assert sdk.callback({k.lower(): v for k, v in headers.items()}, body) == result
    # ... and it rejects what we reject: a body altered by one byte, a forged signature.
    assert sdk.callback(headers, body.replace(b"TRANSACTION", b"TRANSACTIOM")) is None
    forged_headers, forged_body = payment(sandbox, signature_override=headers["Wechatpay-Signature"])
    assert sdk.callback(forged_headers, forged_body) is None
    refund = sandbox.refund_resource("R1", "T2025030100001", 300, 12_345)
    refund_result = sdk.callback(*sandbox.build_notification("REFUND.SUCCESS", refund, original_type="refund"))
    assert refund_result is not None and refund_result["resource"] == refund


def test_hand_rolled_notification_verifies(keys: Keys) -> None:
    resource = {"out_trade_no": "T1", "amount": {"total": 1}, "extra": ["tolerated"]}
    headers, body = hand_rolled_notification(
        private_key=keys.platform_private, serial=keys.public_key_id, apiv3_key=keys.apiv3_key,
        resource=resource, timestamp=EPOCH,
    )
    note = verify(keys, headers, body)
    assert note.resource == resource
    assert note.id == "EV-2018022511223320873" and note.summary == "支付成功"
    assert note.request_id == "test-request"


def test_empty_associated_data_is_allowed(keys: Keys) -> None:
    headers, body = hand_rolled_notification(
        private_key=keys.platform_private, serial=keys.public_key_id, apiv3_key=keys.apiv3_key,
        resource={"a": 1}, timestamp=EPOCH, associated_data="",
    )
    assert verify(keys, headers, body).resource == {"a": 1}


def test_platform_certificate_serials_match_case_insensitively(keys: Keys) -> None:
    serial = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
    headers, body = hand_rolled_notification(
        private_key=keys.platform_private, serial=serial.lower(), apiv3_key=keys.apiv3_key,
        resource={"a": 1}, timestamp=EPOCH,
    )
    note = verify_and_decrypt(headers, body, public_keys={serial: keys.platform_public}, apiv3_key=keys.apiv3_key,
                              now=START)
    assert note.resource == {"a": 1}


@pytest.mark.parametrize("style", [str.lower, str.upper, str.title, lambda s: s.swapcase()])
def test_header_names_in_any_case(keys: Keys, sandbox: PaySandbox, style: Any) -> None:
    headers, body = payment(sandbox)
    assert verify(keys, {style(k): v for k, v in headers.items()}, body).event_type == "TRANSACTION.SUCCESS"


def test_two_spellings_of_a_header_with_different_values_are_refused(keys: Keys, sandbox: PaySandbox) -> None:
    headers, body = payment(sandbox)
    headers["wechatpay-serial"] = "PUB_KEY_ID_0000"
    rejected(keys, headers, body, "ambiguous_header")


# ---- rejections ------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "header", ["Wechatpay-Timestamp", "Wechatpay-Nonce", "Wechatpay-Signature", "Wechatpay-Serial"]
)
def test_each_missing_or_empty_header_is_rejected(keys: Keys, sandbox: PaySandbox, header: str) -> None:
    headers, body = payment(sandbox)
    rejected(keys, {k: v for k, v in headers.items() if k != header}, body, "missing_header")
    rejected(keys, {**headers, header: ""}, body, "missing_header")


def test_signature_type_other_than_rsa2048_is_rejected(keys: Keys, sandbox: PaySandbox) -> None:
    headers, body = payment(sandbox)
    rejected(keys, {**headers, "Wechatpay-Signature-Type": "WECHATPAY2-SM2-WITH-SM3"}, body, "bad_signature_type")
    absent = {k: v for k, v in headers.items() if k != "Wechatpay-Signature-Type"}
    assert verify(keys, absent, body).event_type == "TRANSACTION.SUCCESS"


def test_signtest_probe_is_always_rejected(keys: Keys, sandbox: PaySandbox) -> None:
    headers, body = payment(sandbox, signature_override="WECHATPAY/SIGNTEST/" + "A" * 340)
    rejected(keys, headers, body, "signature_probe")


def test_forged_signature_is_rejected(keys: Keys, other_private_key: RSAPrivateKey) -> None:
    headers, body = hand_rolled_notification(
        private_key=other_private_key, serial=keys.public_key_id, apiv3_key=keys.apiv3_key,
        resource={"a": 1}, timestamp=EPOCH,
    )
    rejected(keys, headers, body, "bad_signature")


def test_garbage_signatures_are_rejected(keys: Keys, sandbox: PaySandbox) -> None:
    headers, body = payment(sandbox)
    for garbage in ("not base64!", "QUJD", headers["Wechatpay-Signature"][:-8] + "AAAAAAA=", "签名"):
        rejected(keys, {**headers, "Wechatpay-Signature": garbage}, body, "bad_signature")


def test_a_one_byte_change_anywhere_in_the_body_is_rejected(keys: Keys, sandbox: PaySandbox) -> None:
    headers, body = payment(sandbox)
    for index in (0, len(body) // 2, len(body) - 1):
        altered = bytearray(body)
        altered[index] ^= 0x01
        rejected(keys, headers, bytes(altered), "bad_signature")
    rejected(keys, headers, body + b" ", "bad_signature")
    rejected(keys, headers, json.dumps(json.loads(body)).encode(), "bad_signature")  # re-serialised


def test_changed_nonce_or_timestamp_header_is_rejected(keys: Keys, sandbox: PaySandbox) -> None:
    headers, body = payment(sandbox)
    rejected(keys, {**headers, "Wechatpay-Nonce": headers["Wechatpay-Nonce"] + "0"}, body, "bad_signature")
    rejected(keys, {**headers, "Wechatpay-Timestamp": str(EPOCH - 1)}, body, "bad_signature")


def test_unknown_serial_is_rejected_without_fetching(keys: Keys, sandbox: PaySandbox) -> None:
    headers, body = payment(sandbox, serial_override="PUB_KEY_ID_0114999999999999")
    rejected(keys, headers, body, "unknown_serial")
    headers, body = payment(sandbox, serial_override="5157F09EFDC096DE15EBE81A47057A7232F1B8E1")
    rejected(keys, headers, body, "unknown_serial")


@pytest.mark.parametrize("offset", [300, -300, 301, -301, 86_400, -86_400])
def test_timestamps_300_s_or_more_away_are_rejected(keys: Keys, sandbox: PaySandbox, offset: int) -> None:
    headers, body = payment(sandbox, timestamp_override=str(EPOCH + offset))
    rejected(keys, headers, body, "stale_timestamp")


@pytest.mark.parametrize("offset", [299, -299, 0])
def test_timestamps_within_299_s_are_accepted(keys: Keys, sandbox: PaySandbox, offset: int) -> None:
    headers, body = payment(sandbox, timestamp_override=str(EPOCH + offset))
    assert verify(keys, headers, body).timestamp == EPOCH + offset


def test_replay_window_is_configurable(keys: Keys, sandbox: PaySandbox) -> None:
    headers, body = payment(sandbox, timestamp_override=str(EPOCH - 120))
    with pytest.raises(NotificationRejected, match="stale_timestamp"):
        verify_and_decrypt(headers, body, public_keys=keys.public_keys, apiv3_key=keys.apiv3_key, now=START,
                           replay_window_seconds=60)


@pytest.mark.parametrize("value", ["-5", "1.5e9", "abc", " 1740801600", "１７４０８０１６００", "9" * 13])
def test_non_numeric_timestamps_are_rejected(keys: Keys, sandbox: PaySandbox, value: str) -> None:
    headers, body = payment(sandbox, timestamp_override=value)
    rejected(keys, headers, body, "bad_timestamp")


def test_naive_now_is_a_programming_error(keys: Keys, sandbox: PaySandbox) -> None:
    headers, body = payment(sandbox)
    with pytest.raises(ValueError, match="timezone-aware"):
        verify_and_decrypt(headers, body, public_keys=keys.public_keys, apiv3_key=keys.apiv3_key,
                           now=START.replace(tzinfo=None))


def signed(keys: Keys, envelope: object, *, raw: bytes | None = None) -> tuple[dict[str, str], bytes]:
    """Sign an arbitrary body with the genuine platform key (valid signature, bad content)."""
    headers, _ = hand_rolled_notification(
        private_key=keys.platform_private, serial=keys.public_key_id, apiv3_key=keys.apiv3_key,
        resource={}, timestamp=EPOCH,
    )
    body = raw if raw is not None else json.dumps(envelope).encode()
    from mall.integrations.wechatpay.crypto import rsa_sign
    from mall.integrations.wechatpay.verifier import signed_message

    headers["Wechatpay-Signature"] = rsa_sign(
        keys.platform_private, signed_message(headers["Wechatpay-Timestamp"], headers["Wechatpay-Nonce"], body)
    )
    return headers, body


def test_malformed_json_after_a_valid_signature_is_rejected(keys: Keys) -> None:
    for raw in (b"{not json", b"\xff\xfe", b"[1, 2]", b"", b"null"):
        rejected(keys, *signed(keys, None, raw=raw), "malformed_body")


def genuine_envelope(keys: Keys, sandbox: PaySandbox) -> dict[str, Any]:
    envelope: dict[str, Any] = json.loads(payment(sandbox)[1])
    return envelope


def test_envelope_shape_problems_after_a_valid_signature(keys: Keys, sandbox: PaySandbox) -> None:
    env = genuine_envelope(keys, sandbox)
    assert verify(keys, *signed(keys, env)).event_type == "TRANSACTION.SUCCESS"  # re-signed: still fine
    cases: list[tuple[dict[str, Any], str]] = [
        ({**env, "resource": "x"}, "malformed_body"),
        ({k: v for k, v in env.items() if k != "resource"}, "malformed_body"),
        ({**env, "event_type": 7}, "malformed_body"),
        ({**env, "resource_type": "plain-resource"}, "unsupported_resource_type"),
        ({**env, "resource": {**env["resource"], "algorithm": "AEAD_SM4_GCM"}}, "unsupported_algorithm"),
        ({**env, "resource": {**env["resource"], "nonce": None}}, "malformed_body"),
    ]
    for envelope, reason in cases:
        rejected(keys, *signed(keys, envelope), reason)


def test_tampered_ciphertext_or_wrong_aad_fails_decryption(keys: Keys, sandbox: PaySandbox) -> None:
    env = genuine_envelope(keys, sandbox)
    ct = bytearray(base64.b64decode(env["resource"]["ciphertext"]))
    ct[3] ^= 0x80
    tampered = {**env["resource"], "ciphertext": base64.b64encode(bytes(ct)).decode()}
    for resource in (
        tampered,
        {**env["resource"], "associated_data": "refund"},
        {**env["resource"], "associated_data": ""},
        {**env["resource"], "nonce": "AAAAAAAAAAAA"},
        {**env["resource"], "nonce": ""},
        {**env["resource"], "ciphertext": "%%% not base64"},
        {**env["resource"], "ciphertext": env["resource"]["ciphertext"][:16]},
    ):
        rejected(keys, *signed(keys, {**env, "resource": resource}), "decrypt_failed")


def test_wrong_apiv3_key_fails_decryption(keys: Keys, sandbox: PaySandbox) -> None:
    headers, body = payment(sandbox)
    with pytest.raises(NotificationRejected, match="decrypt_failed"):
        verify_and_decrypt(headers, body, public_keys=keys.public_keys, apiv3_key=b"0" * 32, now=START)


def test_decrypted_non_object_is_malformed_resource(keys: Keys) -> None:
    _, body = hand_rolled_notification(
        private_key=keys.platform_private, serial=keys.public_key_id, apiv3_key=keys.apiv3_key,
        resource={}, timestamp=EPOCH,
    )
    env = json.loads(body)
    from mall.integrations.wechatpay.crypto import aes_gcm_encrypt

    env["resource"]["ciphertext"] = aes_gcm_encrypt(keys.apiv3_key, env["resource"]["nonce"], "transaction", b"[1]")
    rejected(keys, *signed(keys, env), "malformed_resource")


# ---- typed resources -------------------------------------------------------------------------

def test_resource_parsers_reject_wrong_types_and_tolerate_extras(sandbox: PaySandbox) -> None:
    tx = sandbox.transaction_resource("T2025030100001", 100, "o1")
    assert parse_transaction({**tx, "promotion_detail": [], "new_field": {"x": 1}}).amount is not None
    for bad in (
        {**tx, "amount": {**tx["amount"], "total": "100"}},
        {**tx, "amount": {**tx["amount"], "total": 100.0}},
        {**tx, "amount": {**tx["amount"], "total": True}},
        {**tx, "amount": {**tx["amount"], "total": -1}},
        {**tx, "out_trade_no": 123},
        {**tx, "payer": {"openid": 5}},
        {**tx, "success_time": "yesterday"},
        {**tx, "success_time": "2025-03-01T12:00:00"},  # no offset
        {**tx, "success_time": 1740801600},  # not RFC 3339 text
        {k: v for k, v in tx.items() if k != "trade_state"},
    ):
        with pytest.raises(NotificationRejected) as info:
            parse_transaction(bad)
        assert info.value.reason_code == "malformed_resource"
        assert "o1" not in info.value.message  # values (personal data) never echo
    refund = sandbox.refund_resource("R1", "T1", 1, 2)
    with pytest.raises(NotificationRejected, match="malformed_resource"):
        parse_refund({**refund, "amount": {**refund["amount"], "refund": "1"}})
    bill = sandbox.transfer_bill_resource("B1", 10, "o1")
    with pytest.raises(NotificationRejected, match="malformed_resource"):
        parse_transfer_bill({**bill, "transfer_amount": 1.5})
    assert parse_transfer_bill({**bill, "fail_reason": ""}).fail_reason == ""


# ---- webhook replies -------------------------------------------------------------------------

def test_webhook_replies() -> None:
    assert success_reply() == (204, b"")
    status, body = failure_reply("busy")
    assert status == 500 and json.loads(body) == {"code": "FAIL", "message": "busy"}
    status, body = rejection_reply(NotificationRejected("bad_signature", "x"))
    assert status == 401 and json.loads(body) == {"code": "FAIL", "message": "bad_signature"}
    assert rejection_reply(NotificationRejected("decrypt_failed", "x"))[0] == 400
    with pytest.raises(ValueError, match="4xx or 5xx"):
        failure_reply("x", 200)


# ---- property: build → verify → decrypt round-trips exactly ---------------------------------

def texts(max_size: int, min_size: int = 0) -> st.SearchStrategy[str]:
    return st.text(st.characters(exclude_categories=["Cs"]), min_size=min_size, max_size=max_size)  # UTF-8-able


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**53), max_value=2**53) | texts(40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(texts(10), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    resource=st.dictionaries(texts(12), json_values, max_size=6),
    event_type=texts(30, min_size=1),
    aad=texts(20),
    skew=st.integers(min_value=-299, max_value=299),
)
def test_property_round_trip(
    keys: Keys, sandbox: PaySandbox, *, resource: dict[str, Any], event_type: str, aad: str, skew: int
) -> None:
    headers, body = sandbox.build_notification(
        event_type, resource, original_type="transaction", associated_data=aad,
        timestamp_override=str(EPOCH + skew),
    )
    note = verify(keys, headers, body)
    assert note.resource == resource
    assert note.event_type == event_type
    assert note.associated_data == aad
    hand_headers, hand_body = hand_rolled_notification(
        private_key=keys.platform_private, serial=keys.public_key_id, apiv3_key=keys.apiv3_key,
        resource=resource, timestamp=EPOCH - skew, event_type=event_type, associated_data=aad,
    )
    assert verify(keys, hand_headers, hand_body).resource == resource
