"""Secrets: SSM SecureString parameters through Powertools Parameters in AWS, a local
JSON file in the local stack. Names are the same in both places."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Literal

from mall.config import ConfigurationError, get_settings

# Every secret any function reads; docs/configuration.md and the README's deployment section list
# the same names (tests/unit/test_config.py checks both).
SecretName = Literal[
    "token_signing_key",
    "pii_encryption_key",
    "wechat_app_secret",
    "wechat_message_token",
    "wechat_message_aes_key",
    "wechatpay_apiv3_key",
    "wechatpay_merchant_private_key",
    "wechatpay_public_key",
    # Optional as secrets: the WECHATPAY_* variables of the same names take precedence.
    "wechatpay_mchid",
    "wechatpay_merchant_serial",
    "wechatpay_public_key_id",
    # Parcel tracking through Kuaidi100 (授权key, customer 编号, the salt its pushes are signed with).
    "kuaidi100_key",
    "kuaidi100_customer",
    "kuaidi100_salt",
]


@lru_cache(maxsize=4)
def _load_file(path: str) -> dict[str, str]:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ConfigurationError(f"secrets file {path} must hold a JSON object")
    return {str(k): str(v) for k, v in data.items()}


def get_secret(name: SecretName) -> str:
    """The secret's current value. In AWS it is cached for ``SECRETS_MAX_AGE_SECONDS``
    so a rotated value is picked up without a redeploy."""
    settings = get_settings()
    if settings.secrets_file:
        values = _load_file(settings.secrets_file)
        if name not in values:
            raise ConfigurationError(f"secret {name!r} missing from {settings.secrets_file}")
        return values[name]
    # Imported here: only functions that need a secret pay for the SSM client.
    from aws_lambda_powertools.utilities import parameters

    value = parameters.get_parameter(
        f"{settings.secrets_prefix}/{name}", decrypt=True, max_age=settings.secrets_max_age_seconds
    )
    if not isinstance(value, str) or not value:
        raise ConfigurationError(f"secret {settings.secrets_prefix}/{name} is empty")
    return value
