"""The shared layer ships bytecode: `sam build` runs layers/shared/Makefile (template.yaml's
``BuildMethod: makefile``), which compiles everything in the layer with unchecked hash-based
``.pyc`` files, since Lambda's /opt is read-only and a module without bytecode is compiled from
source at every cold start.

The build is run here as SAM runs it, minus the download: ``layer-code`` and ``layer-bytecode`` in
a scratch directory, with one dependency unpacked as pip's ``--no-compile`` leaves it (sources only).
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import jmespath

from local.cfn_yaml import load_yaml
from tests.conftest import ROOT

LAYER = ROOT / "layers" / "shared"


def _pyc_of(source: Path) -> Path:
    return Path(importlib.util.cache_from_source(str(source)))


def _flags(pyc: Path) -> int:
    # PEP 552: the header's second word; bit 0 = hash-based, bit 1 = check the source.
    return int.from_bytes(pyc.read_bytes()[4:8], "little")


def test_the_template_builds_the_layer_with_its_makefile() -> None:
    layer = load_yaml(ROOT / "template.yaml")["Resources"]["SharedLayer"]
    assert layer["Metadata"]["BuildMethod"] == "makefile"
    assert layer["Properties"]["ContentUri"].rstrip("/") == "layers/shared"
    assert "build-SharedLayer:" in (LAYER / "Makefile").read_text(encoding="utf-8")


def test_the_layer_build_ships_unchecked_bytecode_for_every_module(tmp_path: Path) -> None:
    source = tmp_path / "source"
    shutil.copytree(LAYER, source, ignore=shutil.ignore_patterns("__pycache__"))
    artifacts = tmp_path / "artifacts"
    dependency = artifacts / "python" / "jmespath"  # as pip --no-compile unpacks a wheel
    shutil.copytree(Path(jmespath.__file__).parent, dependency, ignore=shutil.ignore_patterns("__pycache__"))

    done = subprocess.run(["make", "--no-print-directory", "layer-code", "layer-bytecode",
                           f"ARTIFACTS_DIR={artifacts}", f"PYTHON={sys.executable}"],
                          cwd=source, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]

    site = artifacts / "python"
    sources = sorted(site.rglob("*.py"))
    assert site / "mall" / "api" / "http.py" in sources and dependency / "functions.py" in sources
    missing = [str(p.relative_to(site)) for p in sources if not _pyc_of(p).is_file()]
    assert missing == []
    checked = [str(p.relative_to(site)) for p in sources if _flags(_pyc_of(p)) != 0b01]
    assert checked == [], "not unchecked hash-based bytecode"
    assert not list((site / "mall").rglob("*.cpython-*.pyc.*")), "a stray file next to the bytecode"


def test_the_shipped_bytecode_is_what_python_runs(tmp_path: Path) -> None:
    """Unchecked bytecode is used even when the source looks newer, as on a read-only /opt where
    nothing could be rewritten: the proof is a source changed after the build that is not run."""
    site = tmp_path / "python"
    (site / "probe").mkdir(parents=True)
    module = site / "probe" / "__init__.py"
    module.write_text("ANSWER = 'bytecode'\n", encoding="utf-8")
    shutil.copy(LAYER / "Makefile", tmp_path / "Makefile")
    done = subprocess.run(["make", "--no-print-directory", "layer-bytecode", f"ARTIFACTS_DIR={tmp_path}",
                           f"PYTHON={sys.executable}"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    module.write_text("ANSWER = 'source'\n", encoding="utf-8")
    ran = subprocess.run([sys.executable, "-I", "-B", "-c", "import sys; sys.path.insert(0, sys.argv[1]); "
                          "import probe; print(probe.ANSWER)", str(site)], capture_output=True, text=True,
                         timeout=60, check=True)
    assert ran.stdout.strip() == "bytecode"
