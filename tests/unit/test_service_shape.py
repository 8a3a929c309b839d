"""Every service has one shape (docs/architecture.md): use cases take repositories, never a table;
each function builds its repositories and clients once, in a composition root right after its
imports; no module grows past what a reader can hold. Read from the source, so a new function or
service that breaks the shape fails here before review."""

from __future__ import annotations

import ast
import inspect
import re
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import ROOT

MALL = ROOT / "layers" / "shared" / "mall"
COMPOSITION_ROOT = "# Composition root: built once per cold start, shared by every invocation."
#: Code a newcomer reads end to end; tests and the local stack may be longer.
MAX_LINES = {"layers": 400, "functions": 400, "local": 600, "tests": 600}


def _python(folder: Path) -> Iterator[Path]:
    yield from sorted(p for p in folder.rglob("*.py") if ".venv" not in p.parts and "node_modules" not in p.parts)


def _runtime_imports(tree: ast.Module) -> set[str]:
    """Modules imported when the module loads (``if TYPE_CHECKING:`` blocks left out)."""
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_services_take_repositories_never_a_table() -> None:
    offenders: list[str] = []
    for path in _python(MALL / "services"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        name = path.relative_to(MALL).as_posix()
        if "mall.dal.table" in _runtime_imports(tree):
            offenders.append(f"{name} imports mall.dal.table")
        for node in ast.walk(tree):
            # ``on(cls, table)`` is the one place a repository bundle is built from the table.
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name != "on":
                parameters = {a.arg for a in (*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs)}
                if "table" in parameters:
                    offenders.append(f"{name}: {node.name}(table=...)")
    assert offenders == []


def _handlers() -> Iterator[Path]:
    yield from sorted((ROOT / "functions").glob("*/app.py"))


def test_each_function_builds_its_objects_once_in_a_composition_root() -> None:
    offenders: list[str] = []
    for path in _handlers():
        source = path.read_text(encoding="utf-8")
        if "main_table()" not in source:
            continue  # a function that does not touch the table (the API's own documents)
        tree = ast.parse(source)
        # The imports, with those for the type checker only (``if TYPE_CHECKING:``).
        last_import = max(node.end_lineno or 0 for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)
                          or (isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"))
        after = [line for line in source.splitlines()[last_import:] if line.strip()]
        function = path.parent.name
        if not after or after[0] != COMPOSITION_ROOT or "table = main_table()" not in after:
            offenders.append(f"{function}: no composition root right after the imports")
        if source.count("main_table()") != 1:
            offenders.append(f"{function}: builds the table more than once")
        if "table=table" in source:
            offenders.append(f"{function}: hands a service the table")
    assert offenders == []


def test_modules_stay_a_size_a_reader_can_hold() -> None:
    too_long: dict[str, int] = {}
    for top, limit in MAX_LINES.items():
        for path in _python(ROOT / top):
            lines = len(path.read_text(encoding="utf-8").splitlines())
            if lines > limit:
                too_long[path.relative_to(ROOT).as_posix()] = lines
    assert too_long == {}


def _classes(pattern: str) -> list[str]:
    found = re.compile(pattern)
    return sorted(f"{path.relative_to(MALL).as_posix()}:{node.name}" for path in _python(MALL)
                  for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
                  if isinstance(node, ast.ClassDef) and found.fullmatch(node.name))


def test_one_order_model_and_one_order_repository() -> None:
    assert _classes(r"Order") == ["domain/orders.py:Order"]
    assert _classes(r"\w*(Order|Fulfilment)\w*Repository") == ["dal/orders.py:OrderRepository"]


def test_use_cases_with_many_inputs_take_one_command() -> None:
    from mall.services.audit import QueryAudit, query_audit
    from mall.services.identity import LogInCustomer, login_customer
    from mall.services.orders import PlaceOrder, place_order
    from mall.services.referral.binding import BindWithCode, bind_with_code

    for use_case, command, fields in (
        (place_order, PlaceOrder, {"request", "buyer_id", "now", "device_id", "source_ip"}),
        (bind_with_code, BindWithCode, {"customer_id", "code", "now"}),
        (query_audit, QueryAudit, {"actor", "entity_type", "entity_id", "action", "start", "end", "limit", "cursor"}),
        (login_customer, LogInCustomer, {"js_code", "app_id", "device_id", "source_ip"}),
    ):
        parameters = inspect.signature(use_case).parameters
        assert len(parameters) <= 6, use_case.__name__
        assert fields <= set(command.__dataclass_fields__), command.__name__
