"""Orders, payments, fulfilment and refunds keep one shape: one order model and one order
repository; use cases take repositories (never a table) and a command object when they have many
inputs; each handler builds its objects once in a composition root; no module grows past what a
reader can hold."""

from __future__ import annotations

import ast
import inspect
import re

from tests.conftest import ROOT

MALL = ROOT / "layers" / "shared" / "mall"

#: The order area's services: use cases that take repositories.
SERVICES = ("orders", "payments", "payment_jobs", "fulfilment", "refunds")
#: The order area's handlers.
HANDLERS = ("place_order", "order_payment", "orders_read", "admin_orders", "order_auto_confirm",
            "order_confirm_receipt", "order_expiry", "order_refund_request", "order_status_stream",
            "wechatpay_webhook", "payment_reconcile", "admin_refunds")
COMPOSITION_ROOT = "# Composition root: built once per cold start, shared by every invocation."
MAX_MODULE_LINES = 400


def _classes(pattern: str) -> list[str]:
    found = re.compile(pattern)
    return sorted(f"{path.relative_to(MALL).as_posix()}:{node.name}" for path in MALL.rglob("*.py")
                  for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
                  if isinstance(node, ast.ClassDef) and found.fullmatch(node.name))


def test_one_order_model_and_one_order_repository() -> None:
    assert _classes(r"Order") == ["domain/orders.py:Order"]
    assert _classes(r"\w*(Order|Fulfilment)\w*Repository") == ["dal/orders.py:OrderRepository"]


def test_the_order_area_services_take_repositories_not_a_table() -> None:
    for name in SERVICES:
        path = MALL / "services" / f"{name}.py"
        tree = ast.parse(path.read_text(encoding="utf-8"))
        runtime_imports = [node for node in tree.body if isinstance(node, ast.ImportFrom)]
        assert "mall.dal.table" not in {node.module for node in runtime_imports}, name
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and not node.name.startswith("_") and node.name != "on":
                parameters = {a.arg for a in (*node.args.args, *node.args.kwonlyargs)}
                assert "table" not in parameters, f"{name}.{node.name}"


def test_placing_an_order_takes_one_command() -> None:
    from mall.services.orders import PlaceOrder, place_order

    parameters = inspect.signature(place_order).parameters
    assert next(iter(parameters)) == "command" and len(parameters) <= 7
    assert {"request", "buyer_id", "now", "device_id", "source_ip"} <= set(PlaceOrder.__dataclass_fields__)


def test_each_handler_builds_its_objects_once_in_a_composition_root() -> None:
    for name in HANDLERS:
        source = (ROOT / "functions" / name / "app.py").read_text(encoding="utf-8")
        tree = ast.parse(source)
        last_import = max(node.end_lineno or 0 for node in tree.body
                          if isinstance(node, ast.Import | ast.ImportFrom))
        after = [line for line in source.splitlines()[last_import:] if line.strip()]
        assert after[:2] == [COMPOSITION_ROOT, "table = main_table()"], name
        assert source.count("main_table()") == 1, name
        assert "table=" not in source, name


def test_the_order_area_modules_stay_readable() -> None:
    modules = [*(MALL / "services" / f"{name}.py" for name in (*SERVICES, "payment_snapshot")),
               *(MALL / "dal" / f"{name}.py" for name in ("orders", "order_items", "fulfilment", "refunds",
                                                         "payment_snapshot", "history")),
               MALL / "domain" / "orders.py", MALL / "domain" / "fulfilment.py",
               *(ROOT / "functions" / name / "app.py" for name in HANDLERS)]
    too_long = {path.relative_to(ROOT).as_posix(): n for path in modules if path.exists()
                and (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES}
    assert too_long == {}
