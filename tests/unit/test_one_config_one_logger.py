"""One way to configure and to log in the shared layer and the functions.

- Environment variables are read in ``mall/config.py`` only, where each is declared and validated
  (Powertools reads its own ``POWERTOOLS_*`` variables itself; nothing here reads them);
- every variable those models declare is listed in docs/configuration.md;
- logs go through the Powertools Logger (JSON, with the Lambda context and correlation id): modules
  take a child logger, never the standard library's ``logging``; metrics go through the one
  ``Metrics`` instance of ``mall.observability``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from mall.config import ExportSettings, FunctionEnvironment, MediaSettings, Settings
from tests.conftest import ROOT

CONFIG = ROOT / "layers/shared/mall/config.py"
OBSERVABILITY = ROOT / "layers/shared/mall/observability.py"


def _code_files() -> list[Path]:
    return sorted(p for base in ("layers", "functions") for p in (ROOT / base).rglob("*.py")
                  if "__pycache__" not in p.parts)


def _where(path: Path, node: ast.AST) -> str:
    return f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', '?')}"


def environment_reads(path: Path) -> list[str]:
    """Every place ``path`` touches the process environment (``os.environ``, ``os.getenv``, ...)."""
    names = {"environ", "environb", "getenv", "getenvb"}
    return [_where(path, node) for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path)))
            if (isinstance(node, ast.Attribute) and node.attr in names)
            or (isinstance(node, ast.ImportFrom) and node.module == "os" and {a.name for a in node.names} & names)]


def test_the_code_runs_the_check_on_real_files() -> None:
    # The scan must see the layer and the functions, and recognise a read where there is one.
    files = _code_files()
    assert CONFIG in files and len(files) > 100
    assert environment_reads(CONFIG)


#: The one other reader: it runs at the layer's first import, before mall.config (and pydantic) may load,
#: and reads only whether the process is a Lambda runtime (docs/configuration.md, ``AWS_EXECUTION_ENV``).
INIT_GC = ROOT / "layers/shared/mall/runtime/init_gc.py"


def test_only_mall_config_reads_the_environment() -> None:
    reads = [where for path in _code_files() if path not in (CONFIG, INIT_GC) for where in environment_reads(path)]
    assert reads == []
    assert [where.split(":")[0] for where in environment_reads(INIT_GC)] == ["layers/shared/mall/runtime/init_gc.py"]


def test_every_declared_variable_is_documented() -> None:
    documented = (ROOT / "docs" / "configuration.md").read_text("utf-8")
    names = {str(field.alias) for model in (Settings, MediaSettings, ExportSettings, FunctionEnvironment)
             for field in model.model_fields.values()}
    assert {"TABLE_NAME", "SHARE_PAGE", "PAYOUT_QUEUE_URL", "PII_KMS_KEY_ID", "AWS_LAMBDA_FUNCTION_NAME"} <= names
    assert sorted(n for n in names if f"`{n}`" not in documented) == []


def _calls(path: Path, name: str) -> list[ast.Call]:
    tree = ast.parse(path.read_text("utf-8"), str(path))
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call)
            and ((isinstance(node.func, ast.Name) and node.func.id == name)
                 or (isinstance(node.func, ast.Attribute) and node.func.attr == name))]


def _is_child(call: ast.Call) -> bool:
    return any(k.arg == "child" and isinstance(k.value, ast.Constant) and k.value.value is True
               for k in call.keywords)


def test_no_standard_library_logging() -> None:
    found: list[str] = []
    for path in _code_files():
        for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
            if (isinstance(node, ast.Import) and any(a.name == "logging" for a in node.names)) or (
                    isinstance(node, ast.ImportFrom) and node.module == "logging"):
                found.append(_where(path, node))
    assert found == []


@pytest.mark.parametrize("name", ["Metrics", "Tracer"])
def test_one_metrics_and_one_tracer(name: str) -> None:
    made = [_where(path, call) for path in _code_files() for call in _calls(path, name)]
    assert made == [f"{OBSERVABILITY.relative_to(ROOT)}:{_calls(OBSERVABILITY, name)[0].lineno}"]


def test_modules_log_through_a_child_of_the_one_logger() -> None:
    roots = [_where(path, call) for path in _code_files() for call in _calls(path, "Logger")
             if not _is_child(call)]
    assert roots == [f"{OBSERVABILITY.relative_to(ROOT)}:{_calls(OBSERVABILITY, 'Logger')[0].lineno}"]
