"""What the local stack does that is specific to this mall: local secrets and demo data.

The runner calls ``prepare`` before loading any function and ``seed`` once the tables
exist; both are idempotent, so every start is safe."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
from pathlib import Path

DEMO_ADMIN = "admin"
DEMO_ADMIN_PASSWORD = "mall-local-admin"  # local stack only; printed at start
DEMO_BUYER_CODE = "demo-buyer"  # a sandbox login code (local/sandbox.py)
DEMO_PROMOTER_CODE = "demo-promoter"  # sandbox login code of the seeded active promoter
DEMO_PROMOTER_SHARE_CODE = "DEMO2026"  # that promoter's share code (QR scene)


def local_secrets() -> dict[str, str]:
    values = {
        "token_signing_key": secrets.token_hex(32),
        "wechat_app_secret": "sandbox-app-secret",
        "pii_encryption_key": secrets.token_hex(32),
        # The mini-program's message push: the token (令牌) and the EncodingAESKey (43 characters).
        "wechat_message_token": secrets.token_hex(16),
        "wechat_message_aes_key": base64.b64encode(secrets.token_bytes(32)).decode("ascii")[:43],
        # The logistics sandbox (local/logistics_sandbox.py) signs its pushes with the same salt.
        "kuaidi100_key": "sandbox-kuaidi100-key",
        "kuaidi100_customer": "SANDBOXCUSTOMER",
        "kuaidi100_salt": secrets.token_hex(16),
    }
    try:
        from local.wechatpay_keys import generate_local_keys
    except ImportError:  # pragma: no cover - the pay sandbox is optional for the foundation
        return values
    return {**values, **generate_local_keys()}


def prepare(data_dir: Path) -> None:
    """Create the local secrets file once; later starts keep it so tokens stay valid."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "secrets.json"
    if path.exists():
        current = json.loads(path.read_text(encoding="utf-8"))
        missing = {k: v for k, v in local_secrets().items() if k not in current}
        if not missing:
            return
        current.update(missing)
    else:
        current = local_secrets()
    path.write_text(json.dumps(current, indent=2), encoding="utf-8")
    path.chmod(0o600)


def seed(env: dict[str, str]) -> list[str]:
    """Seed the demo merchant (idempotent) and return what to try next."""
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        from mall.config import get_settings
        from tools.create_admin import ensure_admin

        get_settings.cache_clear()
        created = ensure_admin(DEMO_ADMIN, DEMO_ADMIN_PASSWORD, display_name="Demo merchant admin")
        _ensure_demo_settings()
        _ensure_demo_catalog()
        _ensure_demo_buyer()
        _ensure_demo_promoter()
        _run_deploy_migrations()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    api = os.environ.get("LOCAL_API_URL", "http://127.0.0.1:3000")
    state = "created" if created else "already there"
    return [
        f"Demo admin ({state}): username {DEMO_ADMIN!r}, password {DEMO_ADMIN_PASSWORD!r}",
        f"Merchant console: {api}/console/",
        "Try:",
        f"  curl -s -X POST {api}/auth/login -H 'content-type: application/json' "
        f"-d '{{\"code\":\"{DEMO_BUYER_CODE}\"}}'",
        f"  curl -s {api}/me -H 'authorization: Bearer <access_token from above>'",
        f"  curl -s -X POST {api}/admin/auth/login -H 'content-type: application/json' "
        f"-d '{{\"username\":\"{DEMO_ADMIN}\",\"password\":\"{DEMO_ADMIN_PASSWORD}\"}}'",
        f"  API docs: {api}/docs   OpenAPI: {api}/openapi.json",
    ]



def _run_deploy_migrations() -> None:
    """The migrations a deploy runs at once (docs/runbook.md), so the local stack serves as a
    deployed one does: the commission rate index is complete and ready."""
    from mall.dal.table import main_table
    from tools.migrations import run
    from tools.migrations.commission_rate_index import MIGRATION

    run(main_table(), MIGRATION)


def _ensure_demo_buyer() -> None:
    """The customer the sandbox code ``demo-buyer`` logs in as, so sample events work at once."""
    from local.sandbox import sandbox_openid
    from mall.clock import utc_now
    from mall.config import get_settings
    from mall.dal.identity import CustomerRepository
    from mall.dal.table import main_table

    CustomerRepository(main_table()).get_or_create(
        app_id=get_settings().wechat_app_id, openid=sandbox_openid(DEMO_BUYER_CODE), unionid=None, now=utc_now()
    )


def _ensure_demo_settings() -> None:
    """Version 1 of the distribution settings, so the demo shows a saved rules version
    (automatic promoter review, so trying the apply flow needs no admin step)."""
    from mall.clock import utc_now
    from mall.dal.settings import SettingsRepository
    from mall.dal.table import main_table
    from mall.domain.settings import DistributionSettings
    from mall.errors import Conflict

    repository = SettingsRepository(main_table())
    if repository.current(consistent=True).version > 0:
        return
    with contextlib.suppress(Conflict):  # seeded by a concurrent start
        repository.save(DistributionSettings(promoter_review="auto"), based_on=0, saved_by="seed", now=utc_now(),
                        note="demo settings seeded by the local stack")


def _ensure_demo_catalog() -> None:
    from mall.dal.table import main_table
    from tools.seed_catalog import seed_catalog

    seed_catalog(main_table())


def _ensure_demo_promoter() -> None:
    """An active promoter (login code ``demo-promoter``, share code ``DEMO2026``) for sample events."""
    from local.sandbox import sandbox_openid
    from mall.clock import utc_now
    from mall.config import get_settings
    from mall.dal.identity import CustomerRepository
    from mall.dal.referral import PromoterRepository
    from mall.dal.table import TransactionCancelled, main_table
    from mall.domain.referral import Promoter

    now = utc_now()
    customer, _ = CustomerRepository(main_table()).get_or_create(
        app_id=get_settings().wechat_app_id, openid=sandbox_openid(DEMO_PROMOTER_CODE), unionid=None, now=now)
    promoters = PromoterRepository(main_table())
    if promoters.get(customer.user_id) is not None:
        return
    promoter = Promoter(user_id=customer.user_id, code=DEMO_PROMOTER_SHARE_CODE, status="active", level_id="basic",
                        nickname="演示推广员", applied_at=now, activated_at=now, accepted_rules_at=now)
    try:
        promoters.create(promoter, grant_role=True, replaces_rejected=False, now=now, reserve_code=True)
    except TransactionCancelled:
        return  # seeded by a concurrent start


def expand_event(text: str, env: dict[str, str]) -> str:
    """Fill ``{{customer_token}}`` / ``{{admin_token}}`` in a sample event with fresh tokens
    signed by the local key (the demo buyer's and the demo admin's), so events/ never
    holds a token that has expired."""
    if "{{" not in text:
        return text
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        from local.sandbox import sandbox_openid
        from mall.clock import utc_now
        from mall.config import get_settings
        from mall.dal.identity import AdminRepository, customer_id_for
        from mall.dal.table import main_table
        from mall.domain.tokens import Role, issue_token
        from mall.secrets import get_secret

        get_settings.cache_clear()
        settings = get_settings()
        key = get_secret("token_signing_key").encode()
        customer = customer_id_for(settings.wechat_app_id, sandbox_openid(DEMO_BUYER_CODE))
        main_table.cache_clear()
        # The demo admin's current session version: a token without it stops working once the
        # account was disabled or given a new password (mall.api.auth).
        admin_session = AdminRepository(main_table()).session_state(DEMO_ADMIN)
        tokens = {
            "customer_token": issue_token(customer, frozenset({Role.CUSTOMER}), key=key, now=utc_now(),
                                          ttl_seconds=3600),
            "admin_token": issue_token(f"admin:{DEMO_ADMIN}", frozenset({Role.OWNER}), key=key, now=utc_now(),
                                       ttl_seconds=3600, session_version=admin_session[0] if admin_session else 0),
            "promoter_token": issue_token(customer_id_for(settings.wechat_app_id, sandbox_openid(DEMO_PROMOTER_CODE)),
                                          frozenset({Role.CUSTOMER, Role.PROMOTER}), key=key, now=utc_now(),
                                          ttl_seconds=3600),
        }
    finally:
        for k, value in saved.items():
            if value is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = value
    for name, token in tokens.items():
        text = text.replace("{{" + name + "}}", token)
    return text
