"""Risk, fraud, audit, exports, erasure, settings and identity keep one shape: use cases take
repositories (never a table) and a command object when they have many inputs; each handler builds
its objects once in a composition root; no module grows past what a reader can hold."""

from __future__ import annotations

import ast
import inspect

from tests.conftest import ROOT

MALL = ROOT / "layers" / "shared" / "mall"

SERVICES = ("risk", "fraud", "audit", "exports", "erasure", "settings", "identity")
HANDLERS = ("admin_risk_cases", "fraud_scan", "admin_audit", "admin_login", "promoter_history", "admin_exports",
            "export_worker", "me_erasure", "admin_settings", "auth_login", "me")
DAL = ("risk", "risk_feed", "fraud", "audit", "exports", "erasure", "settings", "identity", "pii_keys",
       "wechat_tokens")
DOMAIN = ("risk", "risk_rules", "fraud", "audit", "exports", "erasure", "settings", "identity")
COMPOSITION_ROOT = "# Composition root: built once per cold start, shared by every invocation."
MAX_MODULE_LINES = 400


def test_the_services_take_repositories_not_a_table() -> None:
    for name in SERVICES:
        tree = ast.parse((MALL / "services" / f"{name}.py").read_text(encoding="utf-8"))
        runtime_imports = {node.module for node in tree.body if isinstance(node, ast.ImportFrom)}
        assert "mall.dal.table" not in runtime_imports, name
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and node.name != "on":
                parameters = {a.arg for a in (*node.args.args, *node.args.kwonlyargs)}
                assert "table" not in parameters, f"{name}.{node.name}"


def test_use_cases_with_many_inputs_take_one_command() -> None:
    from mall.services.audit import QueryAudit, query_audit
    from mall.services.identity import LogInCustomer, login_customer

    assert list(inspect.signature(query_audit).parameters) == ["log", "query", "now"]
    assert {"actor", "entity_type", "entity_id", "action", "start", "end", "limit", "cursor"} == set(
        QueryAudit.__dataclass_fields__)
    assert next(iter(inspect.signature(login_customer).parameters)) == "command"
    assert {"js_code", "app_id", "device_id", "source_ip"} == set(LogInCustomer.__dataclass_fields__)


def test_each_handler_builds_its_objects_once_in_a_composition_root() -> None:
    for name in HANDLERS:
        source = (ROOT / "functions" / name / "app.py").read_text(encoding="utf-8")
        tree = ast.parse(source)
        last_import = max(node.end_lineno or 0 for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom))
        after = [line for line in source.splitlines()[last_import:] if line.strip()]
        assert after[:2] == [COMPOSITION_ROOT, "table = main_table()"], name
        assert source.count("main_table()") == 1, name
        assert "table=" not in source, name


def test_the_modules_stay_readable() -> None:
    modules = [*(MALL / "services" / f"{name}.py" for name in SERVICES),
               *(MALL / "dal" / f"{name}.py" for name in DAL),
               *(MALL / "domain" / f"{name}.py" for name in DOMAIN),
               *(ROOT / "functions" / name / "app.py" for name in HANDLERS)]
    too_long = {path.relative_to(ROOT).as_posix(): n for path in modules
                if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES}
    assert too_long == {}
