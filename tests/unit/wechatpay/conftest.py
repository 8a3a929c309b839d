"""Fixtures of the WeChat Pay protocol tests: one set of RSA keys per session (keygen is slow)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

_ROOT = Path(__file__).resolve().parents[3]
for _p in (_ROOT / "layers" / "shared", _ROOT):  # in case pytest runs without the project's pythonpath
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

from local.wechatpay_keys import generate_local_keys  # noqa: E402
from local.wechatpay_sandbox.sandbox import PaySandbox  # noqa: E402
from mall.integrations.wechatpay.client import WeChatPayClient  # noqa: E402
from mall.integrations.wechatpay.crypto import load_private_key, load_public_key  # noqa: E402

from .helpers import APPID, FakeClock, Keys, RecordingSender, sandbox_transport  # noqa: E402


@pytest.fixture(scope="session")
def keys() -> Keys:
    raw = generate_local_keys()
    return Keys(
        raw=raw,
        merchant_private=load_private_key(raw["wechatpay_merchant_private_key"]),
        merchant_public=load_public_key(raw["wechatpay_merchant_public_key"]),
        platform_private=load_private_key(raw["wechatpay_platform_private_key"]),
        platform_public=load_public_key(raw["wechatpay_public_key"]),
        public_key_id=raw["wechatpay_public_key_id"],
        apiv3_key=raw["wechatpay_apiv3_key"].encode(),
    )


@pytest.fixture(scope="session")
def other_private_key() -> RSAPrivateKey:
    """A key that is neither the merchant's nor WeChat Pay's (for forgeries)."""
    return load_private_key(generate_local_keys()["wechatpay_platform_private_key"])


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sender() -> RecordingSender:
    return RecordingSender()


@pytest.fixture
def sandbox(keys: Keys, clock: FakeClock, sender: RecordingSender) -> PaySandbox:
    return PaySandbox(keys.raw, appid=APPID, clock=clock, sender=sender)


@pytest.fixture
def client(keys: Keys, sandbox: PaySandbox, clock: FakeClock) -> WeChatPayClient:
    return WeChatPayClient(
        "http://sandbox.test/wechatpay",
        mchid=keys.raw["wechatpay_mchid"],
        appid=APPID,
        merchant_serial=keys.raw["wechatpay_merchant_serial"],
        merchant_private_key=keys.merchant_private,
        public_keys=keys.public_keys,
        transport=sandbox_transport(sandbox),
        clock=clock,
    )
