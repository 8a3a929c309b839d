"""The settlement, commission and team bonus use cases have one shape: they take repositories (a
bundle built once per cold start in the handler's composition root), never a table they build
their own from; their modules stay small enough to read. Read from the source, like test_layers."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MALL = ROOT / "layers" / "shared" / "mall"
SERVICES = [MALL / "services" / f"{name}.py" for name in ("settlement", "commissions", "commission_views",
                                                          "team_bonus")]
MODULES = SERVICES + [MALL / path for path in (
    "dal/settlement.py", "dal/settlement_records.py", "dal/commissions.py", "dal/commission_sync.py",
    "dal/team_bonus.py", "domain/commission.py", "domain/commission_changes.py", "domain/commission_cap.py",
    "domain/commission_records.py", "domain/settlement.py", "domain/team_bonus.py")]
HANDLERS = [ROOT / "functions" / name / "app.py" for name in (
    "settlement_planner", "settlement_worker", "commission_sync", "promoter_commission_preview",
    "promoter_commissions", "admin_promoter_commissions", "team_bonus", "admin_bonuses", "promoter_bonuses")]
COMPOSITION_ROOT = "# Composition root: built once per cold start, shared by every invocation."
MAX_LINES = 400


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"))


def _runtime_imports(tree: ast.Module) -> set[str]:
    """Modules imported outside ``if TYPE_CHECKING:`` blocks."""
    skipped = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If)
               and isinstance(block.test, ast.Name) and block.test.id == "TYPE_CHECKING"
               for stmt in block.body for n in ast.walk(stmt)}
    return {node.module for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module and id(node) not in skipped}


def test_the_services_take_repositories_not_a_table() -> None:
    for path in SERVICES:
        tree = _tree(path)
        assert "mall.dal.table" not in _runtime_imports(tree), path.name
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name != "on":
                names = {a.arg for a in (*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs)}
                assert "table" not in names, f"{path.name}: {node.name} takes a table"


def test_the_handlers_build_their_dependencies_once_and_pass_no_table() -> None:
    for path in HANDLERS:
        source = path.read_text(encoding="utf-8")
        assert COMPOSITION_ROOT in source, path.parent.name
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Call):
                assert all(k.arg != "table" for k in node.keywords), f"{path.parent.name}: line {node.lineno}"


def test_no_module_of_the_area_is_over_the_size_a_reader_can_hold() -> None:
    for path in MODULES + HANDLERS:
        lines = len(path.read_text(encoding="utf-8").splitlines())
        assert lines <= MAX_LINES, f"{path.relative_to(ROOT)}: {lines} lines"
