"""What the modules shared by many functions (admin routes, promoter routes, workers) load at cold
start, each checked in a fresh interpreter: a repository or a use case many functions import must
not bring in what only some of them use (docs/performance.md, "Cold start: what many functions
loaded and did not use, cut"). ``tests/unit/test_cold_start_imports.py`` pins the customer-facing
functions as a whole.
"""

from __future__ import annotations

import ast
import importlib
import json
import os
import subprocess
import sys
import textwrap

import pytest

from bench.coldstart import modules_loaded_by
from tests.conftest import ROOT

_CHILD = textwrap.dedent("""
    import importlib, json, sys
    sys.path[:0] = [sys.argv[1] + "/layers/shared"]
    importlib.import_module(sys.argv[2])
    print(json.dumps(sorted(sys.modules)))
""")

#: module imported → modules it must not load, with where they are loaded instead
NOT_LOADED: dict[str, dict[str, str]] = {
    "mall.dal.referral.promoters": {
        "mall.domain.settlement": "the statuses that block settlement are in mall.domain.referral.model",
        "mall.domain.team_bonus": "with the settlement rules",
        "mall.dal.referral.bindings": "mall.dal.referral imports a repository when its name is asked for",
        "mall.dal.referral.visits": "mall.dal.referral imports a repository when its name is asked for",
        "mall.dal.referral.counters": "mall.dal.referral imports a repository when its name is asked for",
        "mall.dal.referral.reads": "mall.dal.referral imports a repository when its name is asked for",
    },
    "mall.dal.withdrawals": {
        "mall.domain.settings": "the withdrawal rules take their terms from mall.domain.settings_terms",
        "mall.domain.catalog": "the commission arithmetic imports the product only to rebuild an order line's",
    },
    "mall.dal.commissions": {
        "mall.domain.catalog": "the commission arithmetic imports the product only to rebuild an order line's",
    },
    "mall.services.payment_jobs": {
        "mall.services.orders": "placing an order's use cases; the expiry and reconciliation jobs name its catalog "
                                "protocol in annotations only",
        "mall.services.order_coupons": "by placing an order (a coupon an expired order held is released by "
                                       "mall.dal.coupons)",
    },
    "mall.services.identity": {
        "mall.services.audit": "the audited admin login is in mall.services.identity",
        "mall.dal.withdrawals": "by the audit trail's queries, not by a login",
    },
}


def _loaded_by(module: str) -> set[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    done = subprocess.run([sys.executable, "-I", "-B", "-c", _CHILD, str(ROOT), module], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("module", sorted(NOT_LOADED))
def test_a_shared_module_loads_only_what_its_importers_share(module: str) -> None:
    loaded = _loaded_by(module)
    assert module in loaded
    unexpected = sorted(set(NOT_LOADED[module]) & loaded)
    assert unexpected == [], {name: NOT_LOADED[module][name] for name in unexpected}


def test_the_admin_login_loads_what_a_customer_login_loads() -> None:
    """Logging in as an admin audits the attempt; it reads no commission, withdrawal or order."""
    admin = {m for m in modules_loaded_by("AdminLoginFunction") if m.startswith("mall.")}
    customer = {m for m in modules_loaded_by("AuthLoginFunction") if m.startswith("mall.")}
    assert sorted(admin - customer) == []


def test_the_referral_package_resolves_every_name_from_the_module_that_defines_it() -> None:
    """``mall.dal.referral`` names its exports twice: in the imports the type checker reads and in its
    ``__getattr__``, which imports them when asked for. Both must agree with ``__all__``: each name is
    the object of the module the type checker was told."""
    package = importlib.import_module("mall.dal.referral")
    source = (ROOT / "layers/shared/mall/dal/referral/__init__.py").read_text(encoding="utf-8")
    checked: dict[str, str] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for imported in node.body:
                assert isinstance(imported, ast.ImportFrom) and imported.module
                checked.update({alias.name: imported.module for alias in imported.names})
    assert sorted(package.__all__) == sorted(checked)
    for name, home in checked.items():
        assert getattr(package, name) is getattr(importlib.import_module(home), name), name
    with pytest.raises(AttributeError):
        package.NoSuchName  # noqa: B018
