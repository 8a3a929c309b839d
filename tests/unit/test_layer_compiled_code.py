"""What the layer's build compiles ahead is what would be compiled at run time.

The dataclass methods (mall/runtime/dataclass_code.py): same code, object by object, for every dataclass
that importing the whole layer creates (``mall`` and its dependencies). The regular expressions
(mall/runtime/pattern_code.py): the same engine pattern for every one recorded. At a cold start from a
layer so built no dataclass method is compiled and nearly no pattern; whatever the build did not see is
compiled as before."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from importlib.util import MAGIC_NUMBER
from pathlib import Path

import pytest

from tests.conftest import ROOT

LAYER = ROOT / "layers" / "shared"

# Every dataclass created by importing every module of the layer, as {module.Class: {method: its code}}:
# the functions @dataclass generates are the ones whose code comes from the text it compiled ("<string>").
_CHILD = """
import dataclasses, importlib, json, pkgutil, sys
sys.path.insert(0, sys.argv[1])
import mall
from mall.runtime import dataclass_code
counts = {"text": 0, "code": 0}
real = dataclass_code._real_exec
def counting(source, globals=None, locals=None, /):
    module = (globals or {}).get("__name__", "")
    if module.startswith("mall."):
        counts["text" if isinstance(source, str) else "code"] += 1
    return real(source, globals, locals)
dataclass_code._real_exec = counting
for info in pkgutil.walk_packages(mall.__path__, "mall."):
    importlib.import_module(info.name)
def canonical(code):
    # Code objects compared by what they hold (marshal's bytes also carry reference flags, which depend
    # on how many references an object had when it was written).
    fields = ("co_argcount", "co_posonlyargcount", "co_kwonlyargcount", "co_nlocals", "co_stacksize", "co_flags",
              "co_code", "co_names", "co_varnames", "co_freevars", "co_cellvars", "co_filename", "co_name",
              "co_qualname", "co_firstlineno", "co_linetable", "co_exceptiontable")
    return repr([getattr(code, f) for f in fields] + [constant(c) for c in code.co_consts])
def constant(value):
    if hasattr(value, "co_code"):
        return canonical(value)
    if isinstance(value, frozenset):  # its order varies with each process's string hashing
        return repr(sorted(map(repr, value)))
    return repr(value)
methods = {}
for name, module in list(sys.modules.items()):
    for value in list(vars(module).values()) if module else ():
        if isinstance(value, type) and dataclasses.is_dataclass(value) and value.__module__ == name:
            found = {attr: canonical(fn.__code__) + repr(getattr(fn, "__annotations__", None))
                     for attr, fn in vars(value).items()
                     if getattr(getattr(fn, "__code__", None), "co_filename", None) == "<string>"}
            methods[f"{name}.{value.__qualname__}"] = found
print(json.dumps({"installed": dataclass_code.installed(), "counts": counts, "methods": methods}))
"""


def _site(tmp_path: Path, name: str) -> Path:
    site = tmp_path / name
    shutil.copytree(LAYER / "mall", site / "mall", ignore=shutil.ignore_patterns("__pycache__", "__dataclass_code__"))
    return site


def _build(site: Path) -> None:
    done = subprocess.run(["make", "--no-print-directory", "-C", str(LAYER), "layer-dataclass-code",
                           f"ARTIFACTS_DIR={site.parent}", f"PYTHON={sys.executable}",
                           f"DATACLASS_PYTHON={sys.executable}", f"SITE={site}"],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


def _import_everything(site: Path) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-I", "-B", "-c", _CHILD, str(site)], capture_output=True, text=True,
                          timeout=300, check=False, cwd=site)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = _site(tmp_path_factory.mktemp("layer"), "python")
    _build(site)
    return site


def test_the_build_writes_the_code_of_the_layers_dataclasses_and_their_dependencies(built: Path) -> None:
    assert (built / "mall" / "__pattern_code__.marshal").stat().st_size > 10_000
    files = {p.name.removesuffix(".marshal") for p in (built / "mall" / "__dataclass_code__").iterdir()}
    assert {"mall.domain.orders", "mall.dal.audit", "mall.errors"} <= files
    assert {"pydantic.types", "annotated_types"} <= files  # what every function's first model loads


def test_classes_get_the_same_methods_from_the_build_as_from_dataclasses(built: Path, tmp_path: Path) -> None:
    cached = _import_everything(built)
    plain = _import_everything(_site(tmp_path, "plain"))
    assert cached["installed"] is True and plain["installed"] is False
    # Every mall class found its text: nothing compiled at import.
    counts = cached["counts"]
    assert isinstance(counts, dict) and counts["text"] == 0 and counts["code"] > 250, counts
    assert isinstance(cached["methods"], dict) and len(cached["methods"]) > 300
    assert cached["methods"] == plain["methods"]


def test_a_class_the_build_did_not_see_is_compiled_as_before(built: Path) -> None:
    """Also the case of a future flag: a text compiled through the stand-in must not inherit one, so a
    class of a module without ``from __future__ import annotations`` keeps real annotations."""
    child = """
import sys
sys.path.insert(0, sys.argv[1])
import mall
from mall.runtime import dataclass_code
assert dataclass_code.installed()
namespace = {"__name__": "not_in_the_build"}
exec("from dataclasses import dataclass\\n@dataclass(frozen=True, slots=True)\\n"
     "class Thing:\\n    size: int\\n", namespace)
Thing = namespace["Thing"]
print(Thing.__init__.__annotations__ == {"size": int, "return": None}, Thing(3) == Thing(3), repr(Thing(3)))
"""
    done = subprocess.run([sys.executable, "-I", "-B", "-c", child, str(built)], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["True", "True", "Thing(size=3)"]


def test_another_pythons_file_is_ignored(built: Path, tmp_path: Path) -> None:
    site = _site(tmp_path, "python")
    shutil.copytree(built / "mall" / "__dataclass_code__", site / "mall" / "__dataclass_code__")
    target = site / "mall" / "__dataclass_code__" / "mall.errors.marshal"
    assert target.read_bytes().startswith(MAGIC_NUMBER)
    target.write_bytes(b"\x00\x00\r\n" + target.read_bytes()[len(MAGIC_NUMBER):])
    child = """
import sys
sys.path.insert(0, sys.argv[1])
from mall.runtime import dataclass_code
print(dataclass_code._read("mall.errors") == {}, len(dataclass_code._read("mall.dal.audit")) > 0)
import mall.errors
print(mall.errors.FieldProblem("a", "b"))
"""
    done = subprocess.run([sys.executable, "-I", "-B", "-c", child, str(site)], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines() == ["True True", "FieldProblem(field='a', reason='b')"]


def test_a_source_tree_leaves_dataclasses_and_re_alone() -> None:
    done = subprocess.run([sys.executable, "-I", "-B", "-c", "import sys; sys.path.insert(0, sys.argv[1]); "
                           "import re._compiler; compile = re._compiler.compile; import dataclasses, mall; "
                           "print('exec' in vars(dataclasses), re._compiler.compile is not compile)", str(LAYER)],
                          capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "False False"


def test_every_recorded_pattern_is_the_pattern_re_compiles(built: Path) -> None:
    child = """
import sys
sys.path.insert(0, sys.argv[1])
from mall.runtime import pattern_code
assert pattern_code.installed()
known = pattern_code._read()
different = [key for key in known
             if (lambda a, b: not (a == b and a.groupindex == b.groupindex and a.groups == b.groups
                                   and a.flags == b.flags and a.pattern == b.pattern))(
                 pattern_code._compile(*key), pattern_code._real_compile(*key))]
print(len(known), len(different))
"""
    done = subprocess.run([sys.executable, "-I", "-B", "-c", child, str(built)], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    recorded, different = map(int, done.stdout.split())
    # CPython's Pattern.__eq__ compares the pattern, the flags and the engine's code.
    assert recorded > 100 and different == 0


def test_the_shared_layers_build_runs_it() -> None:
    makefile = (LAYER / "Makefile").read_text(encoding="utf-8")
    assert "layer-bytecode layer-dataclass-code" in makefile
    assert "DATACLASS_PYTHON=$(abspath $(PY))" in (ROOT / "Makefile").read_text(encoding="utf-8")


_COUNT_COMPILED = """
import importlib.util, json, sys
code_dir, path, attr, *layers = sys.argv[1:]
sys.path[:0] = [code_dir, *layers]
import mall
from mall.runtime import dataclass_code, pattern_code
compiled, found, patterns = [], [], []
real = dataclass_code._real_exec
def counting(source, globals=None, locals=None, /):
    (compiled if isinstance(source, str) else found).append((globals or {}).get("__name__"))
    return real(source, globals, locals)
dataclass_code._real_exec = counting
real_compile = pattern_code._real_compile
def compiling(pattern, flags=0):
    patterns.append(str(pattern))
    return real_compile(pattern, flags)
pattern_code._real_compile = compiling
spec = importlib.util.spec_from_file_location("app", path)
module = importlib.util.module_from_spec(spec)
sys.modules["app"] = module
spec.loader.exec_module(module)
print(json.dumps({"compiled": compiled, "found": len(found), "patterns": patterns}))
"""


def test_a_cold_start_from_the_built_layer_compiles_no_dataclass_method(tmp_path: Path) -> None:
    """As the bench loads a function (bench/coldstart.py): an HTTP function, a traced one, a worker
    (which loads Powertools' event classes in full)."""
    from bench import coldstart

    subjects = {s.name: s for s in coldstart._subjects(tmp_path)}
    for name in ("AuthLoginFunction", "PlaceOrderFunction", "NotificationWorkerFunction"):
        subject = subjects[name]
        done = subprocess.run([sys.executable, "-I", "-B", "-c", _COUNT_COMPILED, *subject.argv[2:]],
                              env=subject.env, cwd=subject.env["HOME"], capture_output=True, text=True,
                              timeout=120, check=False)
        assert done.returncode == 0, done.stderr[-2000:]
        counts = json.loads(done.stdout.strip().splitlines()[-1])
        assert counts["compiled"] == [] and counts["found"] > 50, (name, counts)
        # Left to compile: the routes' own patterns (the build registers no route) and one of
        # ``platform``'s, compiled on first use.
        assert len(counts["patterns"]) <= 6, (name, counts["patterns"])


def test_a_pattern_that_warns_is_not_recorded_and_still_warns() -> None:
    child = """
import sys, re, warnings
sys.path.insert(0, sys.argv[1])
from mall.runtime import pattern_code
re.purge()
recorded, stop = pattern_code.recording()
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    re.compile("[[a]")  # FutureWarning: possible nested set
    re.compile("ab+c")
stop()
print(sorted(p for p, _ in recorded), [w.category.__name__ for w in caught])
"""
    done = subprocess.run([sys.executable, "-I", "-B", "-c", child, str(LAYER)], capture_output=True, text=True,
                          timeout=60, check=True)
    assert done.stdout.strip() == "['ab+c'] ['FutureWarning']"


def test_another_engines_patterns_are_ignored(built: Path, tmp_path: Path) -> None:
    # The engine's code words mean something only to the engine that wrote them: a file whose header names
    # another engine (another opcode version) is not read, and every pattern compiles as usual.
    site = _site(tmp_path, "python")
    target = site / "mall" / "__pattern_code__.marshal"
    target.parent.mkdir(parents=True, exist_ok=True)
    data = (built / "mall" / "__pattern_code__.marshal").read_bytes()
    assert data.startswith(MAGIC_NUMBER + b"sre")
    target.write_bytes(data.replace(b"sre", b"sre9", 1))
    child = """
import sys
sys.path.insert(0, sys.argv[1])
from mall.runtime import pattern_code
print(pattern_code._read() == {}, pattern_code.install())
"""
    done = subprocess.run([sys.executable, "-I", "-B", "-c", child, str(site)], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["True", "False"]
