"""The money loop's surroundings for the integration suites: a table on DynamoDB Local, the pay
sandbox and the WeChat Pay client on one simulated clock, and the webhook called exactly as the
deployed ``functions/wechatpay_webhook`` calls it (``mall.services.payments.handle_notification``
with the verified-and-decrypted path: every notification is genuinely signed by the sandbox).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from local.wechatpay_sandbox.sandbox import PaySandbox
from mall.dal.catalog import CategoryRepository, ProductRepository
from mall.dal.identity import CustomerRepository
from mall.dal.settings import SettingsRepository
from mall.dal.table import Table
from mall.domain.catalog import Category, Product
from mall.domain.settings import DistributionSettings
from mall.integrations.wechatpay.client import WeChatPayClient
from mall.integrations.wechatpay.crypto import load_private_key, load_public_key
from mall.integrations.wechatpay.factory import MerchantConfig
from mall.services.payments import PaymentRepositories, WebhookReply, handle_notification
from mall.services.payouts.gateway import TransferProfile
from tests.conftest import SECRETS_FILE
from tests.unit.wechatpay.helpers import sandbox_transport

APPID = "wx_test_app"  # tests/conftest.py's WECHAT_APP_ID
NOTIFY_URL = "https://mall.test/webhooks/wechatpay"
START = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)
PROFILE = TransferProfile()
ADDRESS = {"name": "王小二", "phone": "13700001111", "province": "广东省", "city": "深圳市", "detail": "南山区 1 号"}


class Clock:
    """The simulated time: read by the services (``now``), the sandbox and the client's signatures.
    Moved only between waves of operations, so every operation of a wave sees one time."""

    def __init__(self, start: datetime = START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> datetime:
        self.now += delta
        return self.now


def merchant_keys() -> dict[str, str]:
    """The test merchant the backend's secrets hold (tests/conftest.py writes them)."""
    keys: dict[str, str] = json.loads(SECRETS_FILE.read_text(encoding="utf-8"))
    return keys


@dataclass
class Notification:
    """A notification as WeChat Pay sends it, and what it needs to be sent again later (WeChat Pay
    re-signs every redelivery with a fresh timestamp, keeping the notification id)."""

    event_type: str
    resource: dict[str, Any]
    original_type: str
    notification_id: str
    headers: dict[str, str]
    body: bytes


@dataclass
class World:
    table: Table
    clock: Clock
    keys: dict[str, str]
    sandbox: PaySandbox
    client: WeChatPayClient
    merchant: MerchantConfig
    public_keys: dict[str, RSAPublicKey]
    apiv3_key: bytes
    delivered: list[tuple[str, int]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def build(cls, table: Table, *, start: datetime = START) -> World:
        keys = merchant_keys()
        clock = Clock(start)
        # The sandbox delivers nothing by itself: the simulator decides when (and how often) each
        # notification reaches the webhook.
        sandbox = PaySandbox(keys, appid=APPID, clock=clock, sender=lambda url, headers, body: (204, b""))
        public_keys = {keys["wechatpay_public_key_id"]: load_public_key(keys["wechatpay_public_key"])}
        client = WeChatPayClient("http://sandbox.test/wechatpay", mchid=keys["wechatpay_mchid"], appid=APPID,
                                 merchant_serial=keys["wechatpay_merchant_serial"],
                                 merchant_private_key=load_private_key(keys["wechatpay_merchant_private_key"]),
                                 public_keys=public_keys, transport=sandbox_transport(sandbox), clock=clock)
        merchant = MerchantConfig(mchid=keys["wechatpay_mchid"], appid=APPID,
                                  merchant_serial=keys["wechatpay_merchant_serial"],
                                  public_key_id=keys["wechatpay_public_key_id"], notify_url=NOTIFY_URL)
        return cls(table, clock, keys, sandbox, client, merchant, public_keys,
                   keys["wechatpay_apiv3_key"].encode("utf-8"))

    # ---- WeChat Pay -------------------------------------------------------------------------

    def pay_client(self) -> WeChatPayClient:
        return self.client

    def notification(self, event: Any) -> Notification:
        """A ``SandboxEvent`` (what the sandbox built when the customer paid, a refund or a
        transfer finished) as a ``Notification``."""
        envelope = json.loads(event.body)
        return Notification(event.event_type, dict(event.resource), envelope["resource"]["original_type"],
                            envelope["id"], dict(event.headers), bytes(event.body))

    def resend(self, note: Notification) -> Notification:
        """The same notification delivered again now: same id and resource, a fresh signature."""
        headers, body = self.sandbox.build_notification(note.event_type, note.resource,
                                                        original_type=note.original_type,
                                                        notification_id=note.notification_id)
        return Notification(note.event_type, note.resource, note.original_type, note.notification_id, headers, body)

    def deliver(self, note: Notification, *, now: datetime | None = None) -> WebhookReply:
        """POST /webhooks/wechatpay as the deployed function handles it (header names lower-case,
        as API Gateway hands them over)."""
        reply = handle_notification(
            headers={k.lower(): v for k, v in note.headers.items()}, raw_body=note.body,
            repos=PaymentRepositories.on(self.table), merchant=self.merchant, public_keys=self.public_keys,
            apiv3_key=self.apiv3_key, pay=self.pay_client, now=now or self.clock.now)
        with self._lock:
            self.delivered.append((note.event_type, reply.status))
        return reply

    # ---- set-up -----------------------------------------------------------------------------

    def save_settings(self, settings: DistributionSettings) -> int:
        repo = SettingsRepository(self.table)
        current = repo.current(consistent=True)
        return repo.save(settings, based_on=current.version, saved_by="admin:sim", now=self.clock.now).version

    def add_catalog(self, categories: Iterable[Category], products: Iterable[Product]) -> None:
        for category in categories:
            CategoryRepository(self.table).create(category)
        for product in products:
            ProductRepository(self.table).create(product)

    def customer(self, code: str) -> str:
        """Log in (get or create) the customer of WeChat login code ``code``; their user id."""
        customer, _ = CustomerRepository(self.table).get_or_create(app_id=APPID, openid=f"openid-{code}",
                                                                   unionid=None, now=self.clock.now)
        return customer.user_id

