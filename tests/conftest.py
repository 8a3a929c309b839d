"""Shared test setup: a base environment every function can cold-start with, fresh caches
per test, a real HTTP sandbox for WeChat, and helpers to load handlers and build events."""

from __future__ import annotations

import functools
import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import settings as hypothesis_settings

if TYPE_CHECKING:
    from mall.domain.tokens import Role

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"
_SECRETS_DIR = Path(os.environ.get("PYTEST_SECRETS_DIR", "/tmp")) / f"mall-test-{os.getpid()}"
_SECRETS_DIR.mkdir(parents=True, exist_ok=True)
SECRETS_FILE = _SECRETS_DIR / "secrets.json"
# The WeChat Pay test merchant (local/wechatpay_keys.py): what the backend and the pay sandbox share.
from local.wechatpay_keys import generate_local_keys  # noqa: E402

SECRETS_FILE.write_text(json.dumps({"token_signing_key": secrets.token_hex(32),
                                    "wechat_app_secret": "test-app-secret",
                                    "pii_encryption_key": secrets.token_hex(32),
                                    "kuaidi100_key": "test-kuaidi100-key",
                                    "kuaidi100_customer": "TESTCUSTOMER",
                                    "kuaidi100_salt": "test-kuaidi100-salt",
                                    **generate_local_keys()}), encoding="utf-8")

# Set before any handler is imported: configuration is validated at cold start.
BASE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "TABLE_NAME": "MallTable",
    "SECRETS_FILE": str(SECRETS_FILE),
    "WECHAT_APP_ID": "wx_test_app",
    "WECHAT_API_BASE": "http://127.0.0.1:9/unreachable",
    "POWERTOOLS_SERVICE_NAME": "mall",
    "POWERTOOLS_METRICS_NAMESPACE": "MallTest",
    "POWERTOOLS_TRACE_DISABLED": "true",
}
os.environ.update(BASE_ENV)

# No deadline per generated example: a deadline is a timing assertion, and on a shared two-core CI
# machine a slow moment fails a property that holds. Speed is measured by bench/, not by tests; a
# test that sets its own deadline keeps it.
hypothesis_settings.register_profile("mall", deadline=None)
hypothesis_settings.load_profile("mall")
for _var in ("AWS_PROFILE", "DYNAMODB_ENDPOINT"):
    os.environ.pop(_var, None)


def clear_caches() -> None:
    """Forget cached settings, clients and secrets so the next use reads the current env, and the
    metrics a test added without flushing them (the process's one ``Metrics`` would otherwise publish
    them in whichever test flushes next)."""
    from mall import observability
    from mall import secrets as mall_secrets
    from mall.api import idempotency
    from mall.config import get_settings
    from mall.dal import settings, table
    from mall.services import media_bucket

    get_settings.cache_clear()
    media_bucket.media_settings.cache_clear()
    media_bucket.media_store.cache_clear()
    settings._SAVED_VERSIONS.clear()
    table.dynamodb_client.cache_clear()
    table.main_table.cache_clear()
    mall_secrets._load_file.cache_clear()
    idempotency._persistence.cache_clear()
    idempotency._config.cache_clear()
    observability.metrics.clear_metrics()


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    clear_caches()
    yield
    clear_caches()


@pytest.fixture(scope="session")
def sandbox_url() -> Iterator[str]:
    """The WeChat sandbox (local/sandbox.py) over real HTTP on a free loopback port."""
    from local.sandbox_server import SandboxServer

    server = SandboxServer()
    server.start()
    yield server.url
    server.stop()


@functools.cache
def _table_request_json() -> str:
    # Parsing the template takes ~0.2 s and nearly every test creates a table: once per session.
    from local.dynamodb import create_table_request
    from local.template import load_template

    return json.dumps(create_table_request(load_template(TEMPLATE).tables["MallTable"]))


def table_request(name: str = "MallTable") -> dict[str, object]:
    """CreateTable parameters taken from template.yaml's own table definition (a fresh copy)."""
    request: dict[str, object] = json.loads(_table_request_json())
    request["TableName"] = name
    return request


# A day, not the production lifetime: helpers are called at collection for module constants
# (ADMIN = ...), and on a clean clone the suite takes longer than ten minutes to reach them.
TEST_TOKEN_TTL_SECONDS = 86_400


def bearer(subject: str, *roles: Role) -> dict[str, str]:
    """An Authorization header for `subject` holding exactly `roles`, signed with the test key."""
    from datetime import UTC, datetime

    from mall.api.auth import signing_key
    from mall.domain.tokens import issue_token

    token = issue_token(subject, frozenset(roles), key=signing_key(),
                        now=datetime.now(UTC), ttl_seconds=TEST_TOKEN_TTL_SECONDS)
    return {"authorization": f"Bearer {token}"}
