"""Cold start: how long each function of template.yaml takes to import and initialise.

For every function, a fresh interpreter does what the Lambda runtime does before the first
invocation: put the function's code directory (``/var/task``) and its layers
(``/opt/python``) on ``sys.path``, then import the handler module by file path, which runs
its module-level code (settings, repositories, the resolver and its routes). The time from
just before that import to just after it is the function's *init* figure. Nothing is
invoked and no network is touched (AWS clients are created lazily, on the first request).

The yardstick, measured in the same run and the same way: a fresh interpreter doing
``import boto3; boto3.client("dynamodb", region_name="us-east-1")`` — the least any Python
function that talks to DynamoDB pays. The target is a median of at most
``TARGET_RATIO`` times the baseline's median.

Both sides run from what Lambda would load: the layer as ``sam build`` makes it
(layers/shared/Makefile: ``mall`` and the dependencies' sources, every module compiled to
unchecked hash-based bytecode), here with the dependencies' files copied from this
environment's installed distributions (the versions the layer pins) instead of downloaded
for arm64; each function's code directory copied without bytecode, as SAM ships it. The
baseline imports boto3 from that same compiled layer. Children run with ``-B``: nothing is
written at run time, as on Lambda's read-only /opt and /var/task.

Every subject (the baseline and each function) is run once unmeasured, so that the OS page
cache is warm, then ``repeat`` times, round-robin so that a slow moment of the machine is
shared by all. One more run per function with
``python -X importtime`` lists the slowest imports (``--detail``).
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from bench import RESULTS_DIR, ROOT, _restore
from bench._png import GREEN, GREY, RED, Bar, bar_chart
from bench._report import print_table
from local.template import load_template

DEFAULT_REPEAT = 7
TARGET_RATIO = 1.25
TOP_IMPORTS = 10
TIMEOUT_S = 60
BASELINE = "baseline"
LAYER_DIR = ROOT / "layers" / "shared"

# Where the measured part starts in the child's stderr, so -X importtime lines of the
# child's own set-up (json, importlib.util) are left out of the list.
_MARK = "--bench-start--"

# The child's set-up (json, importlib.util) is paid before the clock starts, as the Lambda
# runtime's bootstrap has loaded those before it imports the handler.
_CHILD_FUNCTION = f"""
import importlib.util, json, sys, time
code_dir, path, attr, *layers = sys.argv[1:]
sys.path[:0] = [code_dir, *layers]
sys.stderr.write({_MARK!r} + "\\n"); sys.stderr.flush()
t0, c0 = time.perf_counter(), time.process_time()
spec = importlib.util.spec_from_file_location("app", path)
module = importlib.util.module_from_spec(spec)
sys.modules["app"] = module
spec.loader.exec_module(module)
t1, c1 = time.perf_counter(), time.process_time()
if not callable(getattr(module, attr, None)):
    raise SystemExit(f"{{path}} has no callable {{attr!r}}")
print(json.dumps({{"init_ms": (t1 - t0) * 1000, "cpu_ms": (c1 - c0) * 1000}}))
"""

# The same import, then the names of every module it loaded (tests/unit/test_cold_start_imports.py); a
# stand-in that loads its module on first use (mall.runtime.lazy_modules) and was not used is not loaded.
_CHILD_MODULES = """
import importlib.util, json, sys
""" + _restore.IMPORT_APP + """
from mall.runtime.lazy_modules import is_loaded
print(json.dumps(sorted(name for name in list(sys.modules) if is_loaded(name))))
"""

# The same import, then every pydantic model of the layer's own code that exists, each with whether its
# validator and serializer are built (a model created with ``defer_build`` is built on first use)
# (tests/unit/test_cold_start_models.py).
_CHILD_MODELS = """
import importlib.util, json, sys
""" + _restore.IMPORT_APP + """
from pydantic import BaseModel
seen, todo = {}, [BaseModel]
while todo:
    for model in todo.pop().__subclasses__():
        if model.__module__.startswith("mall.") and f"{model.__module__}.{model.__qualname__}" not in seen:
            seen[f"{model.__module__}.{model.__qualname__}"] = bool(model.__pydantic_complete__)
        todo.append(model)
print(json.dumps(seen))
"""

# The same import with every cyclic collection counted, then the collector's state after init
# (tests/unit/test_cold_start_imports.py).
_CHILD_GC = """
import gc, importlib.util, json, sys
collections = []
def count(phase, info):
    if phase == "start":
        collections.append("mall.runtime.init_gc" in sys.modules)
gc.callbacks.append(count)
""" + _restore.IMPORT_APP + """
print(json.dumps({"collections": len(collections), "after_the_layer": sum(collections),
                  "enabled": gc.isenabled(), "frozen": gc.get_freeze_count()}))
"""

_CHILD_BASELINE = f"""
import importlib.util, json, sys, time
sys.path[:0] = sys.argv[1:]
sys.stderr.write({_MARK!r} + "\\n"); sys.stderr.flush()
t0, c0 = time.perf_counter(), time.process_time()
import boto3
boto3.client("dynamodb", region_name="us-east-1")
t1, c1 = time.perf_counter(), time.process_time()
print(json.dumps({{"init_ms": (t1 - t0) * 1000, "cpu_ms": (c1 - c0) * 1000}}))
"""

_IMPORTTIME = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)\s*$")


class BenchError(RuntimeError):
    """A subject could not be measured (it failed to import, or timed out)."""


@dataclass(frozen=True)
class Subject:
    name: str
    argv: list[str]  # after the interpreter
    env: dict[str, str]


def _environment(workdir: Path, function_env: dict[str, str], name: str, task_root: Path) -> dict[str, str]:
    """The child's whole environment: what the Lambda runtime sets, the template's variables,
    then the bench's fixed values.

    The runtime's own variables matter: libraries behave differently inside Lambda (the X-Ray
    SDK, for one, uses a local sampler there instead of creating two botocore clients for
    centralised sampling, ~190 ms), so measuring outside that environment would mislead.

    Built from scratch rather than inherited, so a developer's AWS_PROFILE or PYTHONPATH does
    not change the figures; the AWS config files point at nothing and the instance metadata
    service is off, so botocore never waits on the network for credentials or a region."""
    secrets = workdir / "secrets.json"
    if not secrets.exists():
        secrets.write_text(json.dumps({"token_signing_key": "x" * 64, "wechat_app_secret": "s"}), encoding="utf-8")
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(workdir),
        "LANG": "C.UTF-8",
        "LAMBDA_TASK_ROOT": str(task_root),
        "LAMBDA_RUNTIME_DIR": "/var/runtime",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        **function_env,
        "TABLE_NAME": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_CONFIG_FILE": str(workdir / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(workdir / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "Mall",
        "POWERTOOLS_SERVICE_NAME": "mall",
        "SECRETS_FILE": str(secrets),
    }


def _layer_distributions() -> list[importlib.metadata.Distribution]:
    """The installed distributions the layer's requirements resolve to, with their dependencies
    (extras and environment markers applied, as pip applies them)."""
    lines = [line.split("#")[0].strip() for line in (LAYER_DIR / "requirements.txt").read_text("utf-8").splitlines()]
    wanted = [Requirement(line) for line in lines if line]
    found: dict[str, importlib.metadata.Distribution] = {}
    while wanted:
        requirement = wanted.pop()
        name = canonicalize_name(requirement.name)
        if name in found:
            continue
        found[name] = dist = importlib.metadata.distribution(name)
        for text in dist.requires or []:
            nested = Requirement(text)
            extras = requirement.extras or {""}
            if nested.marker is None or any(nested.marker.evaluate({"extra": extra}) for extra in extras):
                wanted.append(nested)
    return sorted(found.values(), key=lambda d: canonicalize_name(d.metadata["Name"]))


def build_layer(artifacts: Path) -> Path:
    """The layer under ``artifacts/python`` as ``sam build`` makes it: the layer's Makefile copies
    ``mall``, compiles everything and the dataclass methods (with this interpreter standing in for the
    build machine's, ``DATACLASS_PYTHON``); the dependencies' files are copied from the installed
    distributions first, without their bytecode, where the Makefile would have pip unpack them."""
    site = artifacts / "python"
    for dist in _layer_distributions():
        for file in dist.files or []:
            source = Path(str(dist.locate_file(file)))
            if ".." in file.parts or "__pycache__" in file.parts or file.suffix == ".pyc" or not source.is_file():
                continue
            (site / file).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, site / file)
    subprocess.run(["make", "--no-print-directory", "-C", str(LAYER_DIR), "layer-code", "layer-bytecode",
                    "layer-dataclass-code", f"ARTIFACTS_DIR={artifacts}", f"PYTHON={sys.executable}",
                    f"DATACLASS_PYTHON={sys.executable}"], check=True, capture_output=True)
    return site


def _subjects(workdir: Path, *, as_deployed: bool = True) -> list[Subject]:
    """The baseline and every function; ``as_deployed``: from a built layer and copied code
    directories (the benchmark), else from the working tree (which modules load is the same)."""
    template = load_template(ROOT / "template.yaml")
    layer = build_layer(workdir / "opt") if as_deployed else None
    baseline_path = [str(layer)] if layer else []
    subjects = [Subject(BASELINE, ["-c", _CHILD_BASELINE, *baseline_path],
                        _environment(workdir, {}, BASELINE, workdir))]
    for logical_id, spec in template.functions.items():
        module, _, attr = spec.handler.rpartition(".")
        code_dir, layer_dirs = spec.code_dir, [str(d) for d in spec.layer_dirs]
        if layer is not None:
            if any(Path(d) != LAYER_DIR for d in layer_dirs):
                raise BenchError(f"{logical_id}: a layer other than {LAYER_DIR.relative_to(ROOT)}")
            code_dir = workdir / "task" / logical_id
            shutil.copytree(spec.code_dir, code_dir, ignore=shutil.ignore_patterns("__pycache__"))
            layer_dirs = [str(layer)]
        path = code_dir / (module.replace(".", "/") + ".py")
        argv = ["-c", _CHILD_FUNCTION, str(code_dir), str(path), attr, *layer_dirs]
        env = _environment(workdir, dict(spec.environment), logical_id, code_dir)
        subjects.append(Subject(logical_id, argv, env))
    return subjects


def modules_loaded_by(logical_id: str) -> frozenset[str]:
    """Every module in ``sys.modules`` after the function's cold start, measured as the benchmark
    measures it (a fresh interpreter, the same environment and ``sys.path``)."""
    with tempfile.TemporaryDirectory(prefix="bench-coldstart-") as tmp:
        subject = next((s for s in _subjects(Path(tmp), as_deployed=False) if s.name == logical_id), None)
        if subject is None:
            raise KeyError(f"no function {logical_id} in template.yaml")
        done = _child(Subject(subject.name, ["-c", _CHILD_MODULES, *subject.argv[2:]], subject.env))
    return frozenset(json.loads(done.stdout.strip().splitlines()[-1]))


def gc_during_init(logical_id: str, *, lambda_environment: bool = True) -> dict[str, Any]:
    """How many cyclic collections the function's cold start ran (in all, and once the layer could pause
    the collector: ``mall.runtime.init_gc``), whether the collector is enabled after it and how many
    objects it froze, measured as ``modules_loaded_by`` measures (``lambda_environment`` False: without
    the variable by which Lambda names its runtime)."""
    with tempfile.TemporaryDirectory(prefix="bench-coldstart-") as tmp:
        subject = next((s for s in _subjects(Path(tmp), as_deployed=False) if s.name == logical_id), None)
        if subject is None:
            raise KeyError(f"no function {logical_id} in template.yaml")
        env = dict(subject.env)
        if not lambda_environment:
            env.pop("AWS_EXECUTION_ENV", None)
        done = _child(Subject(subject.name, ["-c", _CHILD_GC, *subject.argv[2:]], env))
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def models_built_by(logical_id: str) -> dict[str, bool]:
    """Every pydantic model of ``mall`` that exists after the function's cold start (``module.Class``), with
    whether pydantic built it (False: created with ``defer_build`` and not used yet), measured as
    ``modules_loaded_by`` measures."""
    with tempfile.TemporaryDirectory(prefix="bench-coldstart-") as tmp:
        subject = next((s for s in _subjects(Path(tmp), as_deployed=False) if s.name == logical_id), None)
        if subject is None:
            raise KeyError(f"no function {logical_id} in template.yaml")
        done = _child(Subject(subject.name, ["-c", _CHILD_MODELS, *subject.argv[2:]], subject.env))
    built: dict[str, bool] = json.loads(done.stdout.strip().splitlines()[-1])
    return built


def after_cold_start(logical_id: str, code: str, env: dict[str, str] | None = None) -> Any:
    """Run ``code`` in the function's interpreter right after its cold start, measured as ``modules_loaded_by``
    measures it (``env`` added to the function's environment); the JSON its last printed line holds. The
    handler module is ``app`` in ``sys.modules``."""
    with tempfile.TemporaryDirectory(prefix="bench-coldstart-") as tmp:
        subject = next((s for s in _subjects(Path(tmp), as_deployed=False) if s.name == logical_id), None)
        if subject is None:
            raise KeyError(f"no function {logical_id} in template.yaml")
        child = "import importlib.util, json, sys\n" + _restore.IMPORT_APP + "\n" + code
        done = _child(Subject(subject.name, ["-c", child, *subject.argv[2:]], {**subject.env, **(env or {})}))
    return json.loads(done.stdout.strip().splitlines()[-1])


def _child(subject: Subject, *flags: str) -> subprocess.CompletedProcess[str]:
    # -I: isolated (no PYTHON* variables, no user site, no cwd on sys.path): the child's
    # sys.path is the interpreter's plus exactly what the subject adds (first). -B: no bytecode
    # written, as on Lambda's read-only file systems.
    cmd = [sys.executable, "-I", "-B", *flags, *subject.argv]
    try:
        done = subprocess.run(cmd, env=subject.env, cwd=subject.env["HOME"], capture_output=True, text=True,
                              timeout=TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"{subject.name}: no answer within {TIMEOUT_S} s") from exc
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        raise BenchError(f"{subject.name}: the child exited with {done.returncode}:\n{tail}")
    return done


def _measure(subject: Subject) -> tuple[float, float]:
    """Wall-clock and CPU milliseconds of the subject's init."""
    done = _child(subject)
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    return float(figures["init_ms"]), float(figures["cpu_ms"])


def analyse_importtime(stderr: str, top: int = TOP_IMPORTS) -> dict[str, list[dict[str, Any]]]:
    """Two views of ``-X importtime`` output.

    ``slowest``: the ``top`` imports with the most self time, each with its cumulative time
    and ``via``: the first-party module (``mall.*`` or the handler ``app``) that pulled it
    in, and the module that first-party code imported (or triggered) directly.

    ``first_party_edges``: the ``top`` third-party modules imported directly by first-party
    code, by cumulative time — the imports a handler could defer. A module shared by two
    of them is counted under whichever imported it first."""
    _, _, measured = stderr.partition(_MARK + "\n")
    rows: list[tuple[int, int, int, str]] = []  # self us, cumulative us, depth, module
    for line in measured.splitlines():
        match = _IMPORTTIME.match(line)
        if match:
            rows.append((int(match[1]), int(match[2]), len(match[3]) // 2, match[4]))

    # -X importtime prints a module after its own imports, indented one level more than its
    # importer: a row's parent is the next row with a smaller depth.
    parents: list[int | None] = [None] * len(rows)
    open_rows: list[int] = []  # rows still waiting for their parent, deepest last
    for i, (_, _, depth, _) in enumerate(rows):
        while open_rows and rows[open_rows[-1]][2] > depth:
            parents[open_rows.pop()] = i
        open_rows.append(i)

    def first_party(module: str) -> bool:
        return module in {"app", "mall"} or module.startswith("mall.")

    def via(i: int) -> str:
        if first_party(rows[i][3]):
            return "(first-party)"
        chain = [i]
        parent = parents[i]
        while parent is not None and not first_party(rows[parent][3]):
            chain.append(parent)
            parent = parents[parent]
        # Top-level rows were imported by the handler module itself, which was executed
        # from its file rather than imported, so has no row of its own.
        importer = "app" if parent is None else rows[parent][3]
        return f"{importer} -> {rows[chain[-1]][3]}"

    def row(i: int) -> dict[str, Any]:
        return {"module": rows[i][3], "self_ms": round(rows[i][0] / 1000, 1),
                "cumulative_ms": round(rows[i][1] / 1000, 1), "via": via(i)}

    slowest = sorted(range(len(rows)), key=lambda i: rows[i][0], reverse=True)[:top]
    edges = [i for i, p in enumerate(parents)
             if (p is None or first_party(rows[p][3])) and not first_party(rows[i][3])]
    edges.sort(key=lambda i: rows[i][1], reverse=True)
    return {"slowest": [row(i) for i in slowest], "first_party_edges": [row(i) for i in edges[:top]]}


def _summary(samples: list[tuple[float, float]], baseline: dict[str, Any] | None) -> dict[str, Any]:
    wall = [w for w, _ in samples]
    cpu = [c for _, c in samples]
    median = statistics.median(wall)
    figures: dict[str, Any] = {
        "median_ms": round(median, 1),
        "min_ms": round(min(wall), 1),
        "samples_ms": [round(s, 1) for s in wall],
        # CPU time of the child over the same span: what a busy machine (other processes on the same
        # cores) inflates least, so it compares runs made under different loads best.
        "cpu_median_ms": round(statistics.median(cpu), 1),
        "cpu_min_ms": round(min(cpu), 1),
    }
    if baseline:
        ratio = median / baseline["median_ms"]
        figures["ratio"] = round(ratio, 2)
        # The fastest run against the baseline's fastest: the machine's load shows less in minima, so
        # on a busy machine this reads steadier than the medians (the status stays on the medians).
        figures["ratio_min"] = round(min(wall) / baseline["min_ms"], 2)
        figures["cpu_ratio"] = round(statistics.median(cpu) / baseline["cpu_median_ms"], 2)
        figures["status"] = "PASS" if ratio <= TARGET_RATIO else "OVER"
    return figures


def run(repeat: int = DEFAULT_REPEAT, detail: bool = False) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-coldstart-") as tmp:
        subjects = _subjects(Path(tmp))
        # Functions SnapStart is on for, or a parameter can turn it on for, are also measured restored
        # (bench/_restore.py), in the same rounds.
        snapstart = _restore.snapstart_functions(ROOT / "template.yaml", possible=True)
        restored = [Subject(s.name, _restore.restored_argv(s.argv), s.env) for s in subjects if s.name in snapstart]
        for subject in [*subjects, *restored]:  # warm-up, not measured: the OS page cache
            _child(subject)
        samples: dict[str, list[tuple[float, float]]] = {s.name: [] for s in subjects}
        restored_samples: dict[str, list[dict[str, float]]] = {s.name: [] for s in restored}
        for _ in range(repeat):
            for subject in subjects:
                samples[subject.name].append(_measure(subject))
            for subject in restored:
                restored_samples[subject.name].append(_restore.parse(_child(subject).stdout))
        imports = {s.name: analyse_importtime(_child(s, "-X", "importtime").stderr) for s in subjects[1:]}

    base = _summary(samples[BASELINE], None)
    functions = {
        s.name: {**_summary(samples[s.name], base), "slowest_imports": imports[s.name]["slowest"],
                 "first_party_imports": imports[s.name]["first_party_edges"]}
        for s in subjects[1:]
    }
    result: dict[str, Any] = {
        "what": "import + module-level init of the handler in a fresh interpreter, from the layer as built "
                "(bytecode compiled, unchecked hash), ms",
        "repeat": repeat,
        "target_ratio": TARGET_RATIO,
        "baseline": {"what": 'import boto3; boto3.client("dynamodb", region_name="us-east-1")', **base},
        "functions": functions,
        "over_target": sorted(name for name, f in functions.items() if f["status"] == "OVER"),
        # The target over all functions: the median of their ratios.
        "median_ratio": round(statistics.median(f["ratio"] for f in functions.values()), 2),
        "median_ratio_min": round(statistics.median(f["ratio_min"] for f in functions.values()), 2),
        "median_cpu_ratio": round(statistics.median(f["cpu_ratio"] for f in functions.values()), 2),
        "restored": {name: _restore.summary(s, base, functions[name]) for name, s in restored_samples.items()},
    }
    _print_table(result)
    if result["restored"]:
        print("\nSnapStart functions restored: the local analogue (init, before-snapshot hooks, fork; timed in the "
              "child: after-restore hooks + the first request's DynamoDB client). Lambda's own restore is not "
              "modelled. cold+client: the cold figure plus building that client from nothing.")
        print_table(_restore.table_rows(result))
    if detail:
        _print_detail(functions)
    result["chart"] = _chart(result)
    return result


def _print_table(result: dict[str, Any]) -> None:
    base = result["baseline"]
    rows = [("function", "median ms", "min ms", "ratio", "min ratio", "cpu ms", "cpu ratio",
             f"target <={result['target_ratio']}")]
    rows.append(("baseline (boto3 + dynamodb client)", f"{base['median_ms']:.1f}", f"{base['min_ms']:.1f}", "1.00",
                 "1.00", f"{base['cpu_median_ms']:.1f}", "1.00", ""))
    for name, f in result["functions"].items():
        rows.append((name, f"{f['median_ms']:.1f}", f"{f['min_ms']:.1f}", f"{f['ratio']:.2f}", f"{f['ratio_min']:.2f}",
                     f"{f['cpu_median_ms']:.1f}", f"{f['cpu_ratio']:.2f}", f["status"]))
    print_table(rows)
    over = result["over_target"]
    print(f"\n{result['repeat']} run(s) each after one warm-up; ratio = median / baseline median, min ratio = "
          f"fastest / baseline's fastest, cpu = the child's CPU time (median). Median over the functions: "
          f"{result['median_ratio']:.2f} (min ratios: {result['median_ratio_min']:.2f}, cpu ratios: "
          f"{result['median_cpu_ratio']:.2f}). "
          + (f"{len(over)} of {len(result['functions'])} over the target: {', '.join(over)}." if over
             else "All functions within the target."))


def _print_detail(functions: dict[str, Any]) -> None:
    print("\nimports per function, from one run under -X importtime (which inflates times: compare them, "
          "don't add them up)")
    for name, f in functions.items():
        print(f"\n{name}: top {TOP_IMPORTS} by self time")
        print(f"  {'self ms':>8} {'cum ms':>8}  module  [first-party importer -> what it imported]")
        for imp in f["slowest_imports"]:
            print(f"  {imp['self_ms']:>8.1f} {imp['cumulative_ms']:>8.1f}  {imp['module']}  [{imp['via']}]")
        print(f"{name}: third-party imports made directly by first-party code, by cumulative time")
        for imp in f["first_party_imports"]:
            print(f"  {imp['self_ms']:>8.1f} {imp['cumulative_ms']:>8.1f}  {imp['module']}  [{imp['via']}]")


def _chart(result: dict[str, Any]) -> str | None:
    """bench/results/coldstart.png, drawn by bench/_png.py (matplotlib and Pillow are not installed)."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / "coldstart.png"
    base = result["baseline"]
    target_ms = base["median_ms"] * result["target_ratio"]
    bars = [Bar("BASELINE BOTO3", base["median_ms"], f"{base['median_ms']:.0f} MS", GREY)]
    for name, f in result["functions"].items():
        colour = GREEN if f["status"] == "PASS" else RED
        bars.append(Bar(name, f["median_ms"], f"{f['median_ms']:.0f} MS {f['ratio']:.2f}X {f['status']}", colour))
    try:
        bar_chart(
            path,
            title=f"COLD START: IMPORT + INIT, MEDIAN OF {result['repeat']} (MS)",
            bars=bars,
            markers=[(target_ms, f"TARGET {result['target_ratio']}X BASELINE = {target_ms:.0f} MS", RED)],
            footer="GREEN: WITHIN TARGET, RED: OVER. BENCH/RESULTS/COLDSTART.JSON HAS THE FIGURES.",
        )
    except OSError as exc:
        print(f"chart not written: {exc}", file=sys.stderr)
        return None
    print(f"wrote {path.relative_to(ROOT)}")
    return str(path.relative_to(ROOT))
