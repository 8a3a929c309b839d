"""Configuration from environment variables, validated once at cold start.

A missing or malformed variable fails the cold start with a message naming the
variable, instead of failing the first request that happens to need it.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, HttpUrl, ValidationError


def _empty_is_unset(value: object) -> object:
    return None if isinstance(value, str) and not value.strip() else value


class Settings(BaseModel):
    """Every environment variable the shared code reads (names are the aliases)."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    table_name: Annotated[str, Field(alias="TABLE_NAME", min_length=3, max_length=255)]
    stage: Annotated[str, Field(alias="APP_STAGE", pattern=r"^[a-z0-9-]{1,32}$")] = "local"
    # Only set locally (DynamoDB Local); in AWS the SDK's regional endpoint is used.
    dynamodb_endpoint: Annotated[HttpUrl | None, Field(alias="DYNAMODB_ENDPOINT")] = None
    # Local stack: secrets come from this JSON file. In AWS: SSM SecureString parameters
    # under secrets_prefix, read through Powertools Parameters.
    secrets_file: Annotated[str | None, Field(alias="SECRETS_FILE")] = None
    secrets_prefix: Annotated[str, Field(alias="SECRETS_PREFIX", pattern=r"^/[A-Za-z0-9_./-]+$")] = "/mall/local"
    secrets_max_age_seconds: Annotated[int, Field(alias="SECRETS_MAX_AGE_SECONDS", ge=0, le=3600)] = 300

    wechat_app_id: Annotated[str, Field(alias="WECHAT_APP_ID", min_length=1)] = "wx_local_app"
    wechat_api_base: Annotated[HttpUrl, Field(alias="WECHAT_API_BASE")] = HttpUrl("https://api.weixin.qq.com")
    http_timeout_seconds: Annotated[float, Field(alias="HTTP_TIMEOUT_SECONDS", gt=0, le=10)] = 3.0

    customer_token_ttl_seconds: Annotated[int, Field(alias="CUSTOMER_TOKEN_TTL_SECONDS", ge=60, le=86400)] = 7200
    admin_token_ttl_seconds: Annotated[int, Field(alias="ADMIN_TOKEN_TTL_SECONDS", ge=60, le=86400)] = 28800
    admin_max_failed_logins: Annotated[int, Field(alias="ADMIN_MAX_FAILED_LOGINS", ge=1, le=100)] = 5
    admin_lockout_seconds: Annotated[int, Field(alias="ADMIN_LOCKOUT_SECONDS", ge=1, le=86400)] = 900
    # Attempts per username from sources it never logged in from (docs/security.md): well above the
    # per-source limit, so guessing from many addresses is bounded without locking the admin out.
    admin_max_logins_per_username: Annotated[int, Field(alias="ADMIN_MAX_LOGINS_PER_USERNAME", ge=1, le=10000)] = 50
    idempotency_ttl_seconds: Annotated[int, Field(alias="IDEMPOTENCY_TTL_SECONDS", ge=60)] = 86400
    # Share visits (POST /share/visits) one source IP may report per window; past it: 429 with Retry-After.
    share_visit_rate_limit: Annotated[int, Field(alias="SHARE_VISIT_RATE_LIMIT", ge=1, le=100_000)] = 30
    share_visit_rate_window_seconds: Annotated[
        int, Field(alias="SHARE_VISIT_RATE_WINDOW_SECONDS", ge=1, le=86400)] = 60

    # ---- WeChat Pay (orders and payment) ----
    wechatpay_api_base: Annotated[HttpUrl, Field(alias="WECHATPAY_API_BASE")] = HttpUrl("https://api.mch.weixin.qq.com")
    # Where WeChat Pay sends payment and refund notifications: the public URL of POST /webhooks/wechatpay.
    # Set for every function (template Globals); empty counts as unset, so only the functions that
    # call WeChat Pay refuse to run without it (mall.integrations.wechatpay.factory).
    wechatpay_notify_url: Annotated[HttpUrl | None, BeforeValidator(_empty_is_unset),
                                    Field(alias="WECHATPAY_NOTIFY_URL")] = None
    # Merchant identifiers. Unset → read from the secrets of the same name (wechatpay_mchid, ...), which is
    # how the local stack gets the generated test merchant; in AWS either way works.
    wechatpay_mchid: Annotated[str | None, Field(alias="WECHATPAY_MCHID", pattern=r"^[0-9]{8,12}$")] = None
    wechatpay_merchant_serial: Annotated[
        str | None, Field(alias="WECHATPAY_MERCHANT_SERIAL", pattern=r"^[0-9A-Fa-f]{8,64}$")] = None
    wechatpay_public_key_id: Annotated[
        str | None, Field(alias="WECHATPAY_PUBLIC_KEY_ID", pattern=r"^PUB_KEY_ID_[0-9A-Za-z]{1,64}$")] = None
    wechatpay_timeout_seconds: Annotated[float, Field(alias="WECHATPAY_TIMEOUT_SECONDS", gt=0, le=10)] = 4.0
    # Reconciliation asks WeChat Pay about unpaid orders at least this old (notifications may be lost).
    order_reconcile_min_age_seconds: Annotated[
        int, Field(alias="ORDER_RECONCILE_MIN_AGE_SECONDS", ge=60, le=86400)] = 300

    # How payouts (商家转账) are declared to WeChat Pay: must match what the merchant was granted.
    payout_transfer_scene_id: Annotated[str, Field(alias="PAYOUT_TRANSFER_SCENE_ID", pattern=r"^[0-9]{1,10}$")] = "1005"
    payout_user_recv_perception: Annotated[
        str, Field(alias="PAYOUT_USER_RECV_PERCEPTION", min_length=1, max_length=32)] = "劳务报酬"
    payout_transfer_remark: Annotated[str, Field(alias="PAYOUT_TRANSFER_REMARK", min_length=1, max_length=32)] = (
        "推广佣金提现")
    # ``type:content;type:content`` (转账场景报备信息).
    payout_report_infos: Annotated[str, Field(alias="PAYOUT_REPORT_INFOS", max_length=500)] = (
        "岗位类型:推广员;报酬说明:推广佣金提现")


class ConfigurationError(RuntimeError):
    """The environment does not describe a runnable function."""


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Validate ``environ`` (default: the process environment) into ``Settings``."""
    source = dict(os.environ if environ is None else environ)
    try:
        return Settings.model_validate(source)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigurationError(f"invalid configuration: {problems}") from exc


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process, validated on first use (cold start)."""
    return load_settings()
