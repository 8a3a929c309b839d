"""Configuration from environment variables: the only module of the layer and the functions that
reads ``os.environ`` (tests/unit/test_one_config_one_logger.py holds that).

A missing or malformed variable fails the cold start with a message naming the
variable, instead of failing the first request that happens to need it. Four models, each listed
in docs/configuration.md:

- ``Settings``: what every function reads, validated once per process (``get_settings``);
- ``MediaSettings``: the share page, QR codes and posters;
- ``ExportSettings``: the CSV exports;
- ``FunctionEnvironment``: what differs per function (queue URLs) or is set by the platform or the
  local stack; read again on every use, because the local stack runs every function in one process,
  each seeing its own variables (local/lambda_runtime.py), so a process-wide cache would hand one
  function's queue to another.
"""

# No ``from __future__ import annotations`` here, unlike the rest of the layer: every function validates
# ``Settings`` at cold start, and pydantic would compile and evaluate each of its fields' annotations
# from strings first (about a third of this module's import time).
import os
from functools import lru_cache
from typing import Annotated, Literal

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
    # The mini-program's message push (docs/shipping.md): its plain mode's signature covers no body, so
    # only the safe mode (安全模式) is accepted unless this says otherwise (the local stack, to try both).
    wechat_message_plain_allowed: Annotated[bool, Field(alias="WECHAT_MESSAGE_PLAIN_ALLOWED")] = False

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

    # ---- parcel tracking (物流轨迹) ----
    # The logistics provider: "kuaidi100" (its key, customer and salt are secrets), or "none" to track nothing.
    tracking_provider: Annotated[Literal["kuaidi100", "none"], Field(alias="TRACKING_PROVIDER")] = "kuaidi100"
    kuaidi100_api_base: Annotated[HttpUrl, Field(alias="KUAIDI100_API_BASE")] = HttpUrl("https://poll.kuaidi100.com")
    # The public URL of POST /webhooks/tracking, given to the provider with every subscription.
    tracking_callback_url: Annotated[HttpUrl | None, BeforeValidator(_empty_is_unset),
                                     Field(alias="TRACKING_CALLBACK_URL")] = None


class ConfigurationError(RuntimeError):
    """The environment does not describe a runnable function."""


def _checked_share_page(value: object) -> str:
    # Imported here: the domain's settings models are heavy, and most functions never read SHARE_PAGE.
    from mall.domain.referral import share_page_from

    return share_page_from(value if isinstance(value, str) else None)


#: S3's smallest multipart part (but the last): an export's part size may not go below it.
MIN_PART_BYTES = 5 * 1024 * 1024


class MediaSettings(BaseModel):
    """Environment of the share page, the QR and poster functions, and product photos."""

    # Built on first use (defer_build): most functions never read these variables, and building a
    # model's validator is paid at cold start. The same for ExportSettings and FunctionEnvironment.
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True, defer_build=True)

    # Required where used; optional here so other tooling can import this module without it.
    bucket: Annotated[str | None, Field(alias="MEDIA_BUCKET", min_length=3, max_length=63)] = None
    # Read and checked exactly as the referral profile reads it (one share page for link, QR, poster).
    # Blank → the default page (``mall.domain.referral.DEFAULT_SHARE_PAGE``).
    share_page: Annotated[str, BeforeValidator(_checked_share_page),
                          Field(alias="SHARE_PAGE", validate_default=True)] = ""
    qr_width: Annotated[int, Field(alias="QR_WIDTH", ge=280, le=1280)] = 430
    qr_env_version: Annotated[str, Field(alias="QR_ENV_VERSION", pattern=r"^(release|trial|develop)$")] = "release"
    qr_check_path: Annotated[bool, Field(alias="QR_CHECK_PATH")] = True
    url_ttl_seconds: Annotated[int, Field(alias="MEDIA_URL_TTL_SECONDS", ge=60, le=604800)] = 3600
    image_max_bytes: Annotated[int, Field(alias="PRODUCT_IMAGE_MAX_BYTES", ge=1024, le=20_000_000)] = 5_000_000
    merchant_logo_key: Annotated[str | None, Field(alias="MERCHANT_LOGO_KEY", min_length=1, max_length=512)] = None

    def require_bucket(self) -> str:
        if not self.bucket:
            raise ConfigurationError("invalid configuration: MEDIA_BUCKET is not set")
        return self.bucket


class ExportSettings(BaseModel):
    """Environment of the export functions."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True, defer_build=True)

    bucket: Annotated[str | None, Field(alias="EXPORTS_BUCKET", min_length=3, max_length=63)] = None
    url_ttl_seconds: Annotated[int, Field(alias="EXPORT_URL_TTL_SECONDS", ge=60, le=900)] = 900
    # ≥ the worker's timeout: a lease can only pass once the run holding it is over.
    lease_seconds: Annotated[int, Field(alias="EXPORT_LEASE_SECONDS", ge=60, le=7200)] = 960
    part_bytes: Annotated[int, Field(alias="EXPORT_PART_BYTES", ge=MIN_PART_BYTES, le=100 * 1024 * 1024)] = (
        MIN_PART_BYTES)

    def require_bucket(self) -> str:
        if not self.bucket:
            raise ConfigurationError("invalid configuration: EXPORTS_BUCKET is not set")
        return self.bucket


def _stripped_or_unset(value: object) -> object:
    return (value.strip() or None) if isinstance(value, str) else value


OptionalText = Annotated[str | None, BeforeValidator(_stripped_or_unset)]

#: The worker queues a function may be given (``!Ref <Queue>`` in template.yaml).
QueueVariable = Literal["COMMISSION_QUEUE_URL", "EXPORT_QUEUE_URL", "NOTIFICATION_QUEUE_URL", "PAYOUT_QUEUE_URL",
                        "SETTLEMENT_QUEUE_URL", "STATS_QUEUE_URL", "SHIPPING_UPLOAD_QUEUE_URL",
                        "TRACKING_QUEUE_URL"]


#: Where the admin's by-status order list (and the orders export) is read from, by deploy stage
#: (docs/runbook.md): the ``STATUS`` entries the order stream worker keeps, the order item's own
#: gsi3 entry while the worker still keeps the entries, or the gsi3 entry alone.
OrderStatusList = Literal["entries", "index-with-entries", "index"]


class FunctionEnvironment(BaseModel):
    """What differs per function or is set by the platform; every value is optional (empty = unset)."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True, defer_build=True)

    # Set by Lambda; names the function's idempotency partition.
    function_name: Annotated[OptionalText, Field(alias="AWS_LAMBDA_FUNCTION_NAME")] = None
    # Only locally: moto's endpoints (in AWS the SDK's regional endpoints).
    s3_endpoint: Annotated[OptionalText, Field(alias="AWS_ENDPOINT_URL_S3")] = None
    sqs_endpoint: Annotated[OptionalText, Field(alias="AWS_ENDPOINT_URL_SQS")] = None
    # The merchant's alerts topic (SNS): the catalog schedule's low-stock alerts; unset → logged only.
    alerts_topic_arn: Annotated[OptionalText, Field(alias="ALERTS_TOPIC_ARN")] = None
    # The KMS key of envelope encryption; unset → the local ``v1`` key (docs/personal-data.md).
    pii_kms_key_id: Annotated[OptionalText, Field(alias="PII_KMS_KEY_ID")] = None
    # Raw: ``mall.domain.referral.share_page_from`` checks it where it is used, as MediaSettings does.
    share_page: Annotated[str | None, Field(alias="SHARE_PAGE")] = None
    # Unset: nothing is sent (docs/configuration.md says what each function does without its queue).
    commission_queue_url: Annotated[OptionalText, Field(alias="COMMISSION_QUEUE_URL")] = None
    export_queue_url: Annotated[OptionalText, Field(alias="EXPORT_QUEUE_URL")] = None
    notification_queue_url: Annotated[OptionalText, Field(alias="NOTIFICATION_QUEUE_URL")] = None
    payout_queue_url: Annotated[OptionalText, Field(alias="PAYOUT_QUEUE_URL")] = None
    settlement_queue_url: Annotated[OptionalText, Field(alias="SETTLEMENT_QUEUE_URL")] = None
    stats_queue_url: Annotated[OptionalText, Field(alias="STATS_QUEUE_URL")] = None
    shipping_upload_queue_url: Annotated[OptionalText, Field(alias="SHIPPING_UPLOAD_QUEUE_URL")] = None
    tracking_queue_url: Annotated[OptionalText, Field(alias="TRACKING_QUEUE_URL")] = None
    # The stats worker: "1" only during the first deploy of per-order applied markers (docs/runbook.md).
    stats_part_markers_too: Annotated[bool, Field(alias="STATS_PART_MARKERS_TOO")] = False
    # The stats worker: "1" only during the first deploy of team orders counted in the order's marker item.
    stats_seen_marks_too: Annotated[bool, Field(alias="STATS_SEEN_MARKS_TOO")] = False
    # The stats worker: "1" while a part marker of the code before per-order markers may still be
    # delivered again (15 days after that code last ran; docs/runbook.md).
    stats_part_markers_read: Annotated[bool, Field(alias="STATS_PART_MARKERS_READ")] = False
    # The stats worker: "1" until the migration stats_seen_marks_folded has listed every team order counted
    # by a STATS_SEEN# item in its order's marker item (docs/runbook.md).
    stats_seen_items_read: Annotated[bool, Field(alias="STATS_SEEN_ITEMS_READ")] = False
    # The stats worker and the leaderboards: periods starting on or after this China day keep their sales
    # board on the commission entries (mall.dal.stats_boards); empty: every period (docs/runbook.md).
    sales_board_folded_from: Annotated[str, Field(alias="SALES_BOARD_FOLDED_FROM",
                                                  pattern=r"^(\d{4}-\d{2}-\d{2})?$")] = ""
    # The stats worker (and its fold), the dashboard and the weekly report: from this China day on, a day's
    # aggregates reach their month and the totals by the daily fold (mall.dal.stats_fold); empty: every
    # day of a new stack (docs/runbook.md).
    stats_folded_from: Annotated[str, Field(alias="STATS_FOLDED_FROM", pattern=r"^(\d{4}-\d{2}-\d{2})?$")] = ""
    # Every function: "1" only while the wallets' risk-hold flags are being written for the first time
    # (docs/runbook.md): the writers that must not credit a held promoter check the hold item itself.
    risk_hold_item_checks: Annotated[bool, Field(alias="RISK_HOLD_ITEM_CHECKS")] = False
    # Every function: "1" only while the wallets' promoter-blocked flags are being written for the first
    # time (docs/runbook.md): the settlement reads and checks the promoter item's status itself.
    promoter_status_item_checks: Annotated[bool, Field(alias="PROMOTER_STATUS_ITEM_CHECKS")] = False
    # The payment webhook: "1" only while buyers' profiles get the mirror of their binding's parent for the
    # first time (docs/runbook.md): the payment checks the binding item itself.
    binding_item_checks: Annotated[bool, Field(alias="BINDING_ITEM_CHECKS")] = False
    # The settlement planner: how many shards of the due index it reads. 16 on a stack whose records were
    # written over 16 shards, until the migration settle_due_shards has moved their entries into the 4
    # written now (docs/runbook.md); never fewer than the shards written.
    settlement_due_shards_read: Annotated[int, Field(alias="SETTLEMENT_DUE_SHARDS_READ", ge=1, le=16)] = 4
    # The order stream worker, the admin's order list and the orders export (docs/runbook.md).
    order_status_list: Annotated[OrderStatusList, Field(alias="ORDER_STATUS_LIST")] = "index"
    # Every function: "1" only during the first deploy of a release whose orders imply more of their history
    # entries (docs/runbook.md): every entry is still stored, for code that does not read them all.
    order_history_stored: Annotated[bool, Field(alias="ORDER_HISTORY_STORED")] = False
    # Every function: "1" only for the first deploy of placements that reserve a buyer's purchase counter
    # only for products with a per-customer limit (docs/runbook.md): every placement still reserves them all.
    purchase_reserved_for_all: Annotated[bool, Field(alias="PURCHASE_RESERVED_FOR_ALL")] = False
    # Every function: "1" only for the first deploy of placements that put an order's address item without
    # a gsi1 entry (docs/runbook.md): every address item is still indexed, for the erasure of the code before
    # (it reads one without in a round trip more).
    order_address_indexed: Annotated[bool, Field(alias="ORDER_ADDRESS_INDEXED")] = False

    def queue_url(self, variable: QueueVariable) -> str | None:
        """The URL in ``variable`` (None when unset)."""
        for name, field in type(self).model_fields.items():
            if field.alias == variable:
                value: str | None = getattr(self, name)
                return value
        raise KeyError(variable)


def _load[Model: BaseModel](model: type[Model], environ: dict[str, str] | None) -> Model:
    source = dict(os.environ if environ is None else environ)
    try:
        return model.model_validate(source)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigurationError(f"invalid configuration: {problems}") from exc


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Validate ``environ`` (default: the process environment) into ``Settings``."""
    return _load(Settings, environ)


def load_media_settings(environ: dict[str, str] | None = None) -> MediaSettings:
    """Validate ``environ`` (default: the process environment) into ``MediaSettings``."""
    return _load(MediaSettings, environ)


def load_export_settings(environ: dict[str, str] | None = None) -> ExportSettings:
    """Validate ``environ`` (default: the process environment) into ``ExportSettings``."""
    return _load(ExportSettings, environ)


def function_environment(environ: dict[str, str] | None = None) -> FunctionEnvironment:
    """The current function's own variables, read now (never cached: see the module docstring)."""
    return _load(FunctionEnvironment, environ)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process, validated on first use (cold start)."""
    return load_settings()
