"""The layers hold (docs/architecture.md): the domain is pure and never reads storage keys; services
never build raw keys (a key dict, a "#"-joined key prefix) nor reach through a repository to its
table. Read from the source, so a new line that breaks a layer fails here before review."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

MALL = Path(__file__).resolve().parents[2] / "layers" / "shared" / "mall"
DOMAIN = MALL / "domain"
SERVICES = MALL / "services"

#: Modules the domain must not import: it does no I/O and knows nothing of storage or use cases.
_FORBIDDEN_IN_DOMAIN = ("boto3", "botocore", "mall.dal", "mall.integrations", "mall.services")
#: The attribute names of the single table's keys.
_KEY_ATTRIBUTE = re.compile(r"^(pk|sk|gsi\dpk|gsi\dsk)$")
#: A "#"-joined key prefix (ORDER#, USER#, TEAM_ORDER#...).
_KEY_PREFIX = re.compile(r"[A-Z][A-Z0-9_]*#")
#: A raw key dict (``{"pk": ...}``) and a reach through a repository to its table.
_RAW_KEY = re.compile(r"[\"']pk[\"']\s*:")
_TABLE_REACH = re.compile(r"\._table\b|\.table\.")

#: Leftovers still to move into the dal: (module, offending text). To move; never add to it.
DOMAIN_ALLOWED: set[tuple[str, str]] = set()
SERVICES_ALLOWED: set[tuple[str, str]] = set()


def _modules(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py"))


def _docstrings(tree: ast.AST) -> set[int]:
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def _strings(tree: ast.AST) -> Iterator[str]:
    """Every string constant of the code (f-string parts included), docstrings left out."""
    skip = _docstrings(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            yield node.value


def _imports(tree: ast.AST) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def _code_lines(path: Path) -> Iterator[str]:
    for line in path.read_text(encoding="utf-8").splitlines():
        code = line.split("#", 1)[0] if line.lstrip().startswith("#") else line
        if code.strip():
            yield code.strip()


def domain_violations() -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for path in _modules(DOMAIN):
        name = path.relative_to(MALL).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for module in _imports(tree):
            if any(module == bad or module.startswith(bad + ".") for bad in _FORBIDDEN_IN_DOMAIN):
                found.add((name, f"import {module}"))
        for text in _strings(tree):
            if _KEY_ATTRIBUTE.match(text) or _KEY_PREFIX.search(text):
                found.add((name, text))
    return found


def service_violations() -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for path in _modules(SERVICES):
        name = path.relative_to(MALL).as_posix()
        for line in _code_lines(path):
            if _RAW_KEY.search(line) or _TABLE_REACH.search(line):
                found.add((name, line))
        for text in _strings(ast.parse(path.read_text(encoding="utf-8"))):
            prefix = _KEY_PREFIX.search(text)
            if prefix:
                found.add((name, prefix.group()))
    return found


def test_the_domain_imports_no_storage_and_reads_no_keys() -> None:
    assert domain_violations() - DOMAIN_ALLOWED == set()


def test_services_build_no_raw_keys_and_do_not_reach_through_repositories() -> None:
    assert service_violations() - SERVICES_ALLOWED == set()


def test_the_allowlists_hold_only_what_is_still_there() -> None:
    # A leftover moved into the dal leaves the list with it: the list only ever shrinks.
    assert DOMAIN_ALLOWED - domain_violations() == set()
    assert SERVICES_ALLOWED - service_violations() == set()


def test_the_checks_catch_what_they_are_for(tmp_path: Path) -> None:
    tree = ast.parse('"""ORDER#<id> in a docstring is prose."""\nimport boto3\n'
                     'def f(item):\n    return item.get("sk") == "ORDER" and f"USER#{item}"\n')
    assert {"sk", "USER#"} <= set(_strings(tree)) and "ORDER#<id> in a docstring is prose." not in set(_strings(tree))
    assert "boto3" in set(_imports(tree))
    assert _RAW_KEY.search('repo.get({"pk": f"ORDER#{order_id}", "sk": "ORDER"})')
    assert _TABLE_REACH.search("orders.table.get(key)") and _TABLE_REACH.search("repo._table.query()")
