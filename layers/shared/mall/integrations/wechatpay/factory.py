"""Build the WeChat Pay client and the notification keys from configuration and secrets.

Merchant identifiers (``mchid``, the merchant certificate serial, the WeChat Pay public key id)
come from ``WECHATPAY_*`` environment variables when set, else from the secrets of the same names
(``wechatpay_mchid`` ...), which is how the local stack receives its generated test merchant.
Keys are secrets: ``wechatpay_merchant_private_key`` (PEM), ``wechatpay_public_key`` (the WeChat
Pay public key, PEM; public, but kept beside the others so a rotation needs no redeploy) and
``wechatpay_apiv3_key`` (32 characters). Parsed keys are cached per secret value, so a rotated
secret (Powertools re-reads it every ``SECRETS_MAX_AGE_SECONDS``) takes effect without a restart.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from mall.config import ConfigurationError, get_settings
from mall.integrations.wechatpay.crypto import load_private_key, load_public_key
from mall.secrets import get_secret

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

    from mall.integrations.wechatpay.client import WeChatPayClient

__all__ = ["MerchantConfig", "merchant_config", "notification_keys", "pay_client"]


@dataclass(frozen=True, slots=True)
class MerchantConfig:
    """Who we are at WeChat Pay: checked against every notification and sent with every request."""

    mchid: str
    appid: str
    merchant_serial: str
    public_key_id: str
    notify_url: str


def merchant_config() -> MerchantConfig:
    settings = get_settings()
    if settings.wechatpay_notify_url is None:
        raise ConfigurationError("WECHATPAY_NOTIFY_URL is not set (the public URL of POST /webhooks/wechatpay)")
    return MerchantConfig(
        mchid=settings.wechatpay_mchid or get_secret("wechatpay_mchid"),
        appid=settings.wechat_app_id,
        merchant_serial=settings.wechatpay_merchant_serial or get_secret("wechatpay_merchant_serial"),
        public_key_id=settings.wechatpay_public_key_id or get_secret("wechatpay_public_key_id"),
        notify_url=str(settings.wechatpay_notify_url),
    )


@lru_cache(maxsize=2)
def _private_key(pem: str) -> RSAPrivateKey:
    return load_private_key(pem)


@lru_cache(maxsize=2)
def _public_key(pem: str) -> RSAPublicKey:
    return load_public_key(pem)


def notification_keys() -> tuple[dict[str, RSAPublicKey], bytes]:
    """(the known WeChat Pay public keys by serial, the APIv3 key) for ``verify_and_decrypt``."""
    merchant = merchant_config()
    apiv3_key = get_secret("wechatpay_apiv3_key").encode("utf-8")
    return {merchant.public_key_id: _public_key(get_secret("wechatpay_public_key"))}, apiv3_key


def pay_client() -> WeChatPayClient:
    """A client for the configured merchant and base URL (locally: the pay sandbox)."""
    # Imported here: functions that call WeChat Pay on some requests only (an order to close, a refund
    # to send) load the client when they first need one, not at cold start.
    from mall.integrations.wechatpay.client import WeChatPayClient

    settings = get_settings()
    merchant = merchant_config()
    keys, _ = notification_keys()
    return WeChatPayClient(
        str(settings.wechatpay_api_base),
        mchid=merchant.mchid,
        appid=merchant.appid,
        merchant_serial=merchant.merchant_serial,
        merchant_private_key=_private_key(get_secret("wechatpay_merchant_private_key")),
        public_keys=keys,
        timeout=settings.wechatpay_timeout_seconds,
    )
