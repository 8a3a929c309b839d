"""SnapStart: nothing unique is shared by the execution environments restored from one snapshot.

With ``SnapStart: ApplyOn: PublishedVersions`` (template.yaml gives it to a few hot customer-facing
functions; docs/performance.md says which and why), Lambda runs a published version's init once,
snapshots the memory of the initialised environment, and resumes every new environment of that version
from the same snapshot. Whatever init left in memory is then the same in all of them. The hooks below
run in Lambda's two moments (``snapshot_restore_py``, shipped only in Lambda's Python runtimes, so it is
imported guarded and the local stack and tests run without it):

- before the snapshot: warm what is the same in every environment (the parsed settings, the parsed AWS
  service models of the DynamoDB client: the first request then builds its client in a few ms);
- after each restore: make unique again what must be, and drop what holds credentials or connections.

Every process-wide cache in ``mall`` (and what it builds of boto3 and Powertools), decided:

reset after restore (``AFTER_RESTORE``):
- ``random``'s state, seeded once when the interpreter started: every restored environment would draw
  the same sequence (retry jitter, the visit and risk sampling). Reseeded from the kernel's CSPRNG.
- boto3's default session (its resolved credentials) and every client it built, with their pooled
  connections: ``dynamodb_client``, ``s3_client``, ``sqs_client``, the idempotency layer's persistence,
  the alert publisher, the media store, the KMS client of ``pii_crypto``, Powertools' parameter
  providers (SSM client and the secrets they cached). A new session resolves credentials again; only
  botocore's loader (parsed service-model JSON, the same files everywhere) is carried over.
- the personal-data keys (``mall.integrations.pii_crypto``): a container makes its own data key (that is
  the rotation) and keeps unwrapped keys; restored environments must not seal under one shared key.
- the WeChat access token, the admin session versions, the carrier list: stamped with a clock whose
  value across a restore AWS does not document, and the token is a credential.

shared (safe, kept):
- settings parsed from the environment (``get_settings``): the same variables in every environment;
  pydantic models, the resolver, its routes and every import: code and constants.
- ``mall.ids.new_id`` and the AES-GCM nonces keep no generator state: each call reads the kernel's
  CSPRNG (``secrets``, ``os.urandom``), which stays unique across restores (AWS lists
  ``random.SystemRandom`` among the SnapStart-resilient generators); so do the X-Ray SDK's ids.
- parsed WeChat Pay keys, the v1 personal-data cipher and the fingerprint key: derived from secrets that
  are the same in every environment, and used deterministically (RSA PKCS#1 v1.5 signing, AES-GCM with a
  fresh nonce, HMAC); nothing in them is unique. None is built at init today.
- the distribution settings by version that the commission service keeps: a stored version never changes.
- the local secrets file's cache (``mall.secrets``): the local stack only.

A hook that fails fails the restore (Lambda retries with another environment): sharing silently
would be worse. Hooks only touch modules already imported: a module init did not load holds nothing."""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable
from functools import cache
from typing import Any

Hook = Callable[[], None]


def _loaded(name: str) -> Any | None:
    return sys.modules.get(name)


def _clear_cached(module_name: str, *functions: str) -> None:
    """``cache_clear()`` on the ``lru_cache`` functions of an imported module."""
    module = _loaded(module_name)
    if module is None:
        return
    for name in functions:
        getattr(module, name).cache_clear()


def _clear_locked(module_name: str, cache: str, lock: str) -> None:
    module = _loaded(module_name)
    if module is None:
        return
    with getattr(module, lock):
        getattr(module, cache).clear()


# ---- before the snapshot: what every environment may share -------------------------------------


def warm_settings() -> None:
    """The settings parsed from the environment: the same in every environment of a version."""
    config = _loaded("mall.config")
    if config is not None:
        config.get_settings()


def warm_aws_models() -> None:
    """Build the DynamoDB client once, so botocore's loader holds its parsed service model and endpoint
    rules (about 70 ms of the first request's client creation); the client itself is dropped after the
    restore and rebuilt from that loader in a few ms, with fresh credentials and connections."""
    table = _loaded("mall.dal.table")
    if table is not None:
        table.dynamodb_client()


# ---- after each restore: what must be unique, or fresh ------------------------------------------


def reseed_random() -> None:
    random.seed()  # from os.urandom


def fresh_aws_session() -> None:
    """A new boto3 default session (credentials resolved again on first use), keeping only botocore's
    loader of parsed service models."""
    boto3 = _loaded("boto3")
    if boto3 is None:
        return
    import botocore.session

    core = botocore.session.get_session()
    old = boto3.DEFAULT_SESSION
    if old is not None:
        core.register_component("data_loader", old._session.get_component("data_loader"))
    boto3.DEFAULT_SESSION = boto3.Session(botocore_session=core)


def drop_aws_clients() -> None:
    """Every client built from the old session. ``Table``, ``ObjectStore`` and ``MessageQueue`` ask their
    factory for the shared client on each call, so clearing the factory reaches the ones built at init."""
    _clear_cached("mall.dal.table", "dynamodb_client")
    _clear_cached("mall.dal.objects", "s3_client")
    _clear_cached("mall.dal.queues", "sqs_client")
    _clear_cached("mall.api.idempotency", "_persistence")
    _clear_cached("mall.integrations.alerts", "alert_publisher")
    _clear_cached("mall.services.media_bucket", "media_store")
    constants = _loaded("aws_lambda_powertools.utilities.parameters.constants")
    if constants is not None:
        constants.DEFAULT_PROVIDERS.clear()  # the SSM provider: its client and the secrets it cached


def forget_personal_data_keys() -> None:
    pii = _loaded("mall.integrations.pii_crypto")
    if pii is not None:
        pii.reset_caches()  # data keys, unwrapped keys, the KMS client


def forget_tokens_and_sessions() -> None:
    _clear_locked("mall.integrations.wechat", "_token_cache", "_token_lock")
    _clear_locked("mall.api.auth", "_sessions", "_sessions_lock")
    shipping = _loaded("mall.services.shipping")
    if shipping is not None:
        shipping._carrier_memory.clear()


BEFORE_SNAPSHOT: list[Hook] = [warm_settings, warm_aws_models]
AFTER_RESTORE: list[Hook] = [reseed_random, fresh_aws_session, drop_aws_clients, forget_personal_data_keys,
                             forget_tokens_and_sessions]


def run_before_snapshot() -> list[str]:
    """Run ``BEFORE_SNAPSHOT`` in order; the names of the hooks run."""
    for hook in BEFORE_SNAPSHOT:
        hook()
    return [hook.__name__ for hook in BEFORE_SNAPSHOT]


def run_after_restore() -> list[str]:
    """Run ``AFTER_RESTORE`` in order and log one line saying so (docs/runbook.md looks for it)."""
    start = time.perf_counter()
    for hook in AFTER_RESTORE:
        hook()
    names = [hook.__name__ for hook in AFTER_RESTORE]
    observability = _loaded("mall.observability")
    if observability is not None:
        observability.logger.info("snapstart: restored", extra={
            "snapstart_hooks": names, "snapstart_hooks_ms": round((time.perf_counter() - start) * 1000, 1)})
    return names


@cache
def install() -> bool:
    """Register the two runners with Lambda's runtime hooks; False where there are none (not on Lambda:
    ``snapshot_restore_py`` ships with Lambda's Python 3.12+ runtimes). In a function without SnapStart
    Lambda never calls them. Once per process (cached): each handler module's entrypoint calls it."""
    try:
        from snapshot_restore_py import (  # type: ignore[import-not-found]
            register_after_restore,
            register_before_snapshot,
        )
    except ImportError:
        return False
    register_before_snapshot(run_before_snapshot)
    register_after_restore(run_after_restore)
    return True
