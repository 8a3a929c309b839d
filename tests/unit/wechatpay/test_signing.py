"""Merchant-side signatures, checked with ``cryptography`` directly and against ``wechatpayv3``
(RSA PKCS#1 v1.5 is deterministic: the same key and message give byte-identical signatures)."""

from __future__ import annotations

import base64
import re
from types import SimpleNamespace

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from wechatpayv3 import utils as sdk_utils

from mall.integrations.wechatpay.crypto import (
    AeadError,
    aes_gcm_decrypt,
    aes_gcm_encrypt,
    load_private_key,
    load_public_key,
    public_key_from_certificate,
    rsa_oaep_decrypt,
    rsa_oaep_encrypt,
)
from mall.integrations.wechatpay.signing import build_authorization, canonical_url, jsapi_pay_params

from .helpers import APPID, START, Keys

EPOCH = int(START.timestamp())


def parse_authorization(value: str) -> dict[str, str]:
    scheme, _, rest = value.partition(" ")
    assert scheme == "WECHATPAY2-SHA256-RSA2048"
    params = dict(re.findall(r'(\w+)="([^"]*)"', rest))
    assert set(params) == {"mchid", "nonce_str", "signature", "timestamp", "serial_no"}
    return params


def test_jsapi_pay_sign_verifies_with_the_merchant_public_key(keys: Keys) -> None:
    params = jsapi_pay_params(appid=APPID, prepay_id="wx201410272009395522657a690389285100",
                              private_key=keys.merchant_private, now=START)
    assert set(params) == {"appId", "timeStamp", "nonceStr", "package", "signType", "paySign"}
    assert params["appId"] == APPID and params["timeStamp"] == str(EPOCH)
    assert params["package"] == "prepay_id=wx201410272009395522657a690389285100"
    assert params["signType"] == "RSA" and len(params["nonceStr"]) == 32
    message = f"{APPID}\n{EPOCH}\n{params['nonceStr']}\n{params['package']}\n".encode()
    keys.merchant_public.verify(base64.b64decode(params["paySign"]), message, padding.PKCS1v15(), hashes.SHA256())
    # The independent SDK computes the very same signature.
    sdk_key = sdk_utils.load_private_key(keys.raw["wechatpay_merchant_private_key"])
    sdk_sign = sdk_utils.rsa_sign(sdk_key, "\n".join([APPID, str(EPOCH), params["nonceStr"], params["package"]]) + "\n")
    assert params["paySign"] == sdk_sign


def test_authorization_header_verifies_and_matches_the_sdk(keys: Keys, monkeypatch: pytest.MonkeyPatch) -> None:
    body = b'{"mchid":"1900000109","out_trade_no":"T123456","amount":{"total":1,"currency":"CNY"}}'
    url = "https://api.mch.weixin.qq.com/v3/pay/transactions/out-trade-no/T123456?mchid=1900000109"
    header = build_authorization(
        method="post", url=url, body=body, mchid="1900000109", serial_no=keys.raw["wechatpay_merchant_serial"],
        private_key=keys.merchant_private, now=START, nonce="N0NCE",
    )
    params = parse_authorization(header)
    assert params["mchid"] == "1900000109" and params["timestamp"] == str(EPOCH)
    assert params["serial_no"] == keys.raw["wechatpay_merchant_serial"] and params["nonce_str"] == "N0NCE"
    signed_url = "/v3/pay/transactions/out-trade-no/T123456?mchid=1900000109"
    message = f"POST\n{signed_url}\n{EPOCH}\nN0NCE\n".encode() + body + b"\n"
    keys.merchant_public.verify(base64.b64decode(params["signature"]), message, padding.PKCS1v15(), hashes.SHA256())

    monkeypatch.setattr(sdk_utils, "time", SimpleNamespace(time=lambda: float(EPOCH)))
    sdk_header = sdk_utils.build_authorization(
        signed_url, "POST", "1900000109", keys.raw["wechatpay_merchant_serial"],
        sdk_utils.load_private_key(keys.raw["wechatpay_merchant_private_key"]), data=body.decode(), nonce_str="N0NCE",
    )
    assert header == sdk_header


def test_get_requests_sign_an_empty_body(keys: Keys) -> None:
    header = build_authorization(method="GET", url="/v3/refund/domestic/refunds/R1", body=b"", mchid="1",
                                 serial_no="S", private_key=keys.merchant_private, now=START, nonce="X")
    signature = base64.b64decode(parse_authorization(header)["signature"])
    message = f"GET\n/v3/refund/domestic/refunds/R1\n{EPOCH}\nX\n\n".encode()
    keys.merchant_public.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())


def test_canonical_url() -> None:
    assert canonical_url("https://api.mch.weixin.qq.com/v3/certificates") == "/v3/certificates"
    local = "http://127.0.0.1:3000/wechatpay/v3/x?mchid=1&a=b%20c#frag"
    assert canonical_url(local) == "/wechatpay/v3/x?mchid=1&a=b%20c"
    assert canonical_url("/v3/x?y=1") == "/v3/x?y=1"


def test_authorization_refuses_header_injection(keys: Keys) -> None:
    with pytest.raises(ValueError, match="quotes"):
        build_authorization(method="GET", url="/v3/x", body=b"", mchid='1",x="', serial_no="S",
                            private_key=keys.merchant_private)
    with pytest.raises(ValueError, match="timezone-aware"):
        build_authorization(method="GET", url="/v3/x", body=b"", mchid="1", serial_no="S",
                            private_key=keys.merchant_private, now=START.replace(tzinfo=None))


def test_sensitive_fields_use_rsa_oaep_sha1_like_the_sdk(keys: Keys) -> None:
    ciphertext = rsa_oaep_encrypt(keys.platform_public, "张三")
    assert rsa_oaep_decrypt(keys.platform_private, ciphertext) == "张三"
    sdk_key = sdk_utils.load_private_key(keys.raw["wechatpay_platform_private_key"])
    assert sdk_utils.rsa_decrypt(ciphertext, sdk_key) == "张三"
    sdk_cipher = sdk_utils.rsa_encrypt("李四", sdk_utils.load_public_key(keys.raw["wechatpay_public_key"]))
    assert rsa_oaep_decrypt(keys.platform_private, sdk_cipher) == "李四"


def test_aes_gcm_matches_the_sdk(keys: Keys) -> None:
    ciphertext = aes_gcm_encrypt(keys.apiv3_key, "0123456789ab", "transaction", '{"a":"分"}'.encode())
    assert sdk_utils.aes_decrypt("0123456789ab", ciphertext, "transaction", keys.raw["wechatpay_apiv3_key"]) == (
        '{"a":"分"}'
    )
    assert aes_gcm_decrypt(keys.apiv3_key, "0123456789ab", "transaction", ciphertext) == '{"a":"分"}'.encode()
    with pytest.raises(AeadError):
        aes_gcm_decrypt(keys.apiv3_key, "0123456789ab", "refund", ciphertext)
    with pytest.raises(ValueError, match="32 bytes"):
        aes_gcm_decrypt(b"short", "0123456789ab", "", ciphertext)


def test_key_loading(keys: Keys) -> None:
    pem = keys.raw["wechatpay_public_key"]
    bare = "".join(line for line in pem.splitlines() if "-----" not in line)
    assert load_public_key(bare).public_numbers() == keys.platform_public.public_numbers()
    assert load_public_key(pem.encode()).public_numbers() == keys.platform_public.public_numbers()
    private = load_private_key(keys.raw["wechatpay_merchant_private_key"])
    assert private.public_key().public_numbers() == keys.merchant_public.public_numbers()
    with pytest.raises(ValueError):
        load_public_key("not a key")


def test_platform_certificate_loading(keys: Keys) -> None:
    from datetime import timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.x509.oid import NameOID

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Tenpay.com Root CA")])
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(keys.platform_public)
        .serial_number(0x5157F09EFDC096DE15EBE81A47057A7232F1B8E1)
        .not_valid_before(START).not_valid_after(START + timedelta(days=1))
        .sign(keys.platform_private, hashes.SHA256())
    )
    serial, key = public_key_from_certificate(cert.public_bytes(serialization.Encoding.PEM).decode())
    assert serial == "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
    assert key.public_numbers() == keys.platform_public.public_numbers()
