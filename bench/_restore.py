"""The local analogue of a SnapStart restore, measured beside the cold start (``bench/coldstart.py``).

For each function template.yaml gives ``SnapStart``, a fresh interpreter does the function's init exactly as
the cold-start child does (not timed), runs the before-snapshot hooks (``mall.runtime.snapstart``: settings
and the DynamoDB client's parsed models, the client itself timed as ``cold_setup``: what a cold start's
first request pays to build its client), then forks: the child starts from the parent's memory, as a
restored environment starts from the snapshot's. In the child, timed: the after-restore hooks plus the
first request's setup (building its DynamoDB client again, with fresh credentials). That is the figure.

What it is not: Lambda's restore itself (resuming the microVM and loading the snapshot's pages, which AWS
reports as Restore Duration and does not bill) is not modelled; ``fork`` copies pages lazily on this
machine, a restore fetches them from Lambda's snapshot cache. So the figure is the part of a restore that
is this code's own, on this machine's CPU."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from local.cfn_yaml import load_yaml

#: A child's import of the handler module ``app`` from its arguments (code directory, path, handler, layers).
IMPORT_APP = """
code_dir, path, attr, *layers = sys.argv[1:]
sys.path[:0] = [code_dir, *layers]
spec = importlib.util.spec_from_file_location("app", path)
module = importlib.util.module_from_spec(spec)
sys.modules["app"] = module
spec.loader.exec_module(module)
"""

#: The child: init (not timed), before-snapshot hooks, fork, then after-restore hooks + first setup (timed).
CHILD_RESTORED = """
import importlib.util, json, os, random, sys, time
""" + IMPORT_APP + """
from mall.runtime import snapstart
t0, c0 = time.perf_counter(), time.process_time()
snapstart.run_before_snapshot()
t1, c1 = time.perf_counter(), time.process_time()
cold = {"cold_setup_ms": (t1 - t0) * 1000, "cold_setup_cpu_ms": (c1 - c0) * 1000}
state = random.getstate()
read, write = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(read)
    random.setstate(state)  # CPython reseeds random in a forked child; a restored snapshot does not
    t0, c0 = time.perf_counter(), time.process_time()
    snapstart.run_after_restore()
    t1, c1 = time.perf_counter(), time.process_time()
    table = sys.modules.get("mall.dal.table")
    if table is not None:
        table.main_table().client  # the first request's setup: its DynamoDB client
    t2, c2 = time.perf_counter(), time.process_time()
    os.write(write, json.dumps({"init_ms": (t2 - t0) * 1000, "cpu_ms": (c2 - c0) * 1000,
                                "hooks_ms": (t1 - t0) * 1000, "setup_ms": (t2 - t1) * 1000}).encode())
    os._exit(0)
os.close(write)
with os.fdopen(read) as pipe:
    figures = json.loads(pipe.read())
_, status = os.waitpid(pid, 0)
if status:
    raise SystemExit(f"the restored child exited with status {status}")
print(json.dumps({**figures, **cold}))
"""

SUFFIX = " (restored)"


def snapstart_functions(template: Path, *, possible: bool = False) -> set[str]:
    """The functions template.yaml gives ``SnapStart: ApplyOn: PublishedVersions`` (directly or by a
    parameter's default); ``possible``: also those a parameter's other allowed value turns it on for."""
    raw = load_yaml(template)
    globals_fn = raw.get("Globals", {}).get("Function", {})
    return {name for name, r in raw.get("Resources", {}).items()
            if r.get("Type") == "AWS::Serverless::Function"
            and "PublishedVersions" in apply_on_values(
                ((r.get("Properties") or {}).get("SnapStart") or globals_fn.get("SnapStart") or {}).get("ApplyOn"),
                raw, possible=possible)}


def apply_on(value: Any, raw: dict[str, Any]) -> Any:
    """A SnapStart ``ApplyOn`` as deployed by default: a ``!Ref`` names a parameter, read its default."""
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return raw.get("Parameters", {}).get(value["Ref"], {}).get("Default")
    return value


def apply_on_values(value: Any, raw: dict[str, Any], *, possible: bool = False) -> list[Any]:
    """``apply_on``'s value, or with ``possible`` every value a referenced parameter allows."""
    if possible and isinstance(value, dict) and set(value) == {"Ref"}:
        parameter = raw.get("Parameters", {}).get(value["Ref"], {})
        return list(parameter.get("AllowedValues") or [parameter.get("Default")])
    return [apply_on(value, raw)]


def restored_argv(function_argv: list[str]) -> list[str]:
    """The restored child's arguments from a function subject's (``-c <child> code_dir path attr layers...``)."""
    return ["-c", CHILD_RESTORED, *function_argv[2:]]


def parse(stdout: str) -> dict[str, float]:
    figures: dict[str, float] = json.loads(stdout.strip().splitlines()[-1])
    return figures


def summary(samples: list[dict[str, float]], baseline: dict[str, Any], cold: dict[str, Any]) -> dict[str, Any]:
    """The restored figure beside the function's cold one, both against the baseline of the same run."""
    def median(key: str) -> float:
        return statistics.median(s[key] for s in samples)

    wall, cpu = median("init_ms"), median("cpu_ms")
    cold_setup, cold_setup_cpu = median("cold_setup_ms"), median("cold_setup_cpu_ms")
    return {
        "median_ms": round(wall, 1), "min_ms": round(min(s["init_ms"] for s in samples), 1),
        "cpu_median_ms": round(cpu, 1),
        "hooks_median_ms": round(median("hooks_ms"), 1), "setup_median_ms": round(median("setup_ms"), 1),
        "ratio": round(wall / baseline["median_ms"], 2),
        "cpu_ratio": round(cpu / baseline["cpu_median_ms"], 2),
        # The cold side with the same first-request setup (its DynamoDB client built from nothing).
        "cold_setup_median_ms": round(cold_setup, 1),
        "cold_with_setup_ratio": round((cold["median_ms"] + cold_setup) / baseline["median_ms"], 2),
        "cold_with_setup_cpu_ratio": round((cold["cpu_median_ms"] + cold_setup_cpu) / baseline["cpu_median_ms"], 2),
    }


def table_rows(result: dict[str, Any]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = [("function (SnapStart)", "cold ratio", "cold+client ratio", "restored ratio",
                                    "cold+client cpu", "restored cpu", "restored ms (hooks + client)")]
    for name, r in result["restored"].items():
        cold = result["functions"][name]
        rows.append((name, f"{cold['ratio']:.2f}", f"{r['cold_with_setup_ratio']:.2f}", f"{r['ratio']:.2f}",
                     f"{r['cold_with_setup_cpu_ratio']:.2f}", f"{r['cpu_ratio']:.2f}",
                     f"{r['median_ms']:.1f} ({r['hooks_median_ms']:.1f} + {r['setup_median_ms']:.1f})"))
    return rows
