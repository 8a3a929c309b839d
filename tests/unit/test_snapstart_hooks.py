"""SnapStart's runtime hooks (``mall.runtime.snapstart``): two environments restored from one snapshot share
nothing unique.

A snapshot is simulated by ``os.fork`` after init, in a fresh interpreter: both children start from the
parent's memory, as two environments restored from one snapshot start from its memory. One difference is
undone: CPython reseeds ``random`` in a forked child by itself (an at-fork hook), a restored snapshot does
not, so each child first puts back the parent's ``random`` state. Each child then runs the after-restore
hooks (or, in the control, not) and reports what it holds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from typing import Any

import pytest

from mall.runtime import snapstart
from tests.conftest import BASE_ENV, ROOT

# The init of a function (a composition root's table, settings, the before-snapshot warm-up), then what
# init may leave behind that must not be shared: a personal-data key, a WeChat token. Then two restores.
_PROGRAM = r"""
import json, os, random, sys
import boto3
from mall.runtime import snapstart
from mall.dal.table import dynamodb_client, main_table
from mall.integrations import pii_crypto, wechat
from mall.ids import new_id

run_hooks = sys.argv[1] == "hooks"
table = main_table()
snapstart.run_before_snapshot()
parent_client = table.client
parent_session = boto3.DEFAULT_SESSION
parent_loader = parent_session._session.get_component("data_loader")
parent_credentials = parent_session.get_credentials().access_key
pii_crypto._cache.keys["kinit"] = b"k" * 32
pii_crypto._cache.sealing[(table.name, "pii-key")] = "kinit"
wechat._token_cache[("wx", "secret")] = ("token-made-at-init", 0.0)
snapshot_random = random.getstate()


def restore(out):
    random.setstate(snapshot_random)
    os.environ["AWS_ACCESS_KEY_ID"] = f"restored-{os.getpid()}"  # what the new environment is given
    if run_hooks:
        snapstart.run_after_restore()
    client = table.client
    report = {
        "random": random.random(),
        "id": new_id("o"),
        "nonce": os.urandom(12).hex(),
        "same_client": client is parent_client,
        "same_session": boto3.DEFAULT_SESSION is parent_session,
        "same_loader": boto3.DEFAULT_SESSION._session.get_component("data_loader") is parent_loader,
        "session_credentials": boto3.DEFAULT_SESSION.get_credentials().access_key,
        "client_credentials": client._request_signer._credentials.access_key,
        "parent_credentials": parent_credentials,
        "data_keys": len(pii_crypto._cache.keys) + len(pii_crypto._cache.sealing),
        "wechat_tokens": len(wechat._token_cache),
    }
    os.write(out, json.dumps(report).encode())
    os._exit(0)


reports = []
for _ in range(2):
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        restore(write)
    os.close(write)
    with os.fdopen(read) as pipe:
        reports.append(json.loads(pipe.read()))
    os.waitpid(pid, 0)
print(json.dumps(reports))
"""


def _restored_twice(*, hooks: bool) -> list[dict[str, Any]]:
    env = {**os.environ, **BASE_ENV, "PYTHONPATH": os.pathsep.join([str(ROOT / "layers" / "shared"), str(ROOT)])}
    done = subprocess.run([sys.executable, "-c", _PROGRAM, "hooks" if hooks else "none"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    reports: list[dict[str, Any]] = json.loads(done.stdout.strip().splitlines()[-1])
    return reports


@pytest.fixture(scope="module")
def restored() -> list[dict[str, Any]]:
    return _restored_twice(hooks=True)


def test_the_simulation_shares_what_a_snapshot_shares_without_the_hooks() -> None:
    """The control: without the hooks the two restores draw the same numbers, keep the client, session and
    credentials made before the snapshot and the data key init made, so the tests below can fail."""
    first, second = _restored_twice(hooks=False)
    assert first["random"] == second["random"]
    assert first["same_client"] and first["same_session"]
    assert first["client_credentials"] == first["parent_credentials"]
    assert first["data_keys"] == 2 and first["wechat_tokens"] == 1


def test_two_restored_environments_draw_different_random_numbers(restored: list[dict[str, Any]]) -> None:
    first, second = restored
    assert first["random"] != second["random"]


def test_two_restored_environments_make_different_ids_and_nonces(restored: list[dict[str, Any]]) -> None:
    # No generator state: ids and nonces read the kernel's CSPRNG on every call (with or without the hooks).
    first, second = restored
    assert first["id"] != second["id"]
    assert first["nonce"] != second["nonce"]


def test_a_restored_environment_has_fresh_clients_and_credentials(restored: list[dict[str, Any]]) -> None:
    for report in restored:
        assert not report["same_client"], "the table's DynamoDB client is the one built before the snapshot"
        assert not report["same_session"]
        assert report["same_loader"], "the parsed service models are what the snapshot may share"
        assert report["session_credentials"] == report["client_credentials"] != report["parent_credentials"]
        assert report["client_credentials"].startswith("restored-")
    assert restored[0]["client_credentials"] != restored[1]["client_credentials"]


def test_a_restored_environment_holds_no_data_key_or_token_from_init(restored: list[dict[str, Any]]) -> None:
    for report in restored:
        assert report["data_keys"] == 0
        assert report["wechat_tokens"] == 0


def test_hooks_are_registered_with_lambdas_runtime_only_where_it_has_them(monkeypatch: pytest.MonkeyPatch) -> None:
    snapstart.install.cache_clear()
    monkeypatch.delitem(sys.modules, "snapshot_restore_py", raising=False)
    assert snapstart.install() is False  # not on Lambda: nothing to register with, nothing fails
    registered: dict[str, Any] = {}
    fake = types.ModuleType("snapshot_restore_py")
    fake.register_before_snapshot = lambda fn: registered.setdefault("before", fn)  # type: ignore[attr-defined]
    fake.register_after_restore = lambda fn: registered.setdefault("after", fn)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", fake)
    snapstart.install.cache_clear()
    try:
        assert snapstart.install() is True
        assert snapstart.install() is True  # once per process
    finally:
        snapstart.install.cache_clear()
    assert registered == {"before": snapstart.run_before_snapshot, "after": snapstart.run_after_restore}


def test_every_http_function_installs_the_hooks_through_its_entrypoint() -> None:
    source = (ROOT / "layers/shared/mall/api/http.py").read_text(encoding="utf-8")
    body = source.split("def entrypoint(", 1)[1]
    assert "install_snapstart_hooks()" in body
