"""Run the benchmarks: ``python -m bench [NAME ...] [--repeat N] [--detail]``.

The registry is ``BENCHMARKS``: to add one, write ``bench/<name>.py`` with a
``run(...) -> dict`` function and add ``<name>`` here. ``run`` may accept the keyword
arguments ``repeat`` and ``detail``; only those it declares are passed. It prints its own
figures and returns them; this runner adds the machine's description and writes
``bench/results/<name>.json``.

Exit status: 0 when every benchmark ran, whatever its figures (a target that is not met is
a result, not a failure); 1 when a benchmark could not run at all.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import inspect
import json
import os
import platform
import subprocess
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from bench import RESULTS_DIR, ROOT

# name -> one-line description. The module is bench.<name>.
BENCHMARKS: dict[str, str] = {
    "coldstart": "import + init time of every function of template.yaml in a fresh interpreter, against boto3",
    "settlement": "commissions settled per second: batched slices vs one per transaction; the hot promoter",
    "dynamo_work": "DynamoDB round trips and capacity units per endpoint and per order lifecycle (local stack)",
    "index_writes": "index entry writes of one order lifecycle: enter, leave, move or rewrite, and the most a "
                    "narrower gsi1/gsi2 projection could save (local stack)",
    "cost": "AWS cost of 10k orders a month from dynamo_work's units and bench/prices.json (run after dynamo_work)",
    "latency": "local end-to-end HTTP latency p50/p99 with concurrent clients over read and write routes",
    "hot_partition": "one promoter's wallet under a stream of commission credits: current path, conflicts, batching",
    "console": "the merchant console: initial JavaScript gzipped, and the dashboard drawn after navigation (Chromium)",
}


def machine_info() -> dict[str, Any]:
    """What the figures were measured on: they mean little without it."""
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "executable": sys.executable,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "date": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
    }
    try:
        info["load_average"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:  # not every platform has it
        info["load_average"] = None
    info["git_commit"] = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no")
    info["git_dirty"] = None if status is None else bool(status)
    return info


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _runner(name: str) -> Callable[..., dict[str, Any]]:
    module = importlib.import_module(f"bench.{name}")
    run = getattr(module, "run", None)
    if not callable(run):
        raise TypeError(f"bench/{name}.py has no run() function")
    return run  # type: ignore[no-any-return]


def _options_for(run: Callable[..., dict[str, Any]], options: dict[str, Any]) -> dict[str, Any]:
    params = inspect.signature(run).parameters
    return {k: v for k, v in options.items() if k in params and v is not None}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description="Run the benchmarks and print their figures.")
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"benchmarks to run (default: all of {list(BENCHMARKS)})")
    parser.add_argument("--repeat", type=int, default=None, help="measurements per subject (default: each benchmark's)")
    parser.add_argument("--detail", action="store_true",
                        help="also print each benchmark's detail (e.g. the slowest imports)")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args(argv)

    if args.list:
        for name, what in BENCHMARKS.items():
            print(f"{name:<12} {what}")
        return 0
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; known: {list(BENCHMARKS)}")
    if args.repeat is not None and args.repeat < 1:
        parser.error("--repeat must be at least 1")

    options = {"repeat": args.repeat, "detail": args.detail}
    machine = machine_info()
    print(f"machine: Python {machine['python']} on {machine['platform']}, {machine['cpu_count']} CPUs, "
          f"load {machine['load_average']}, {machine['date']}")
    failed: list[str] = []
    for name in args.names or list(BENCHMARKS):
        print(f"\n== {name}: {BENCHMARKS[name]}")
        try:
            run = _runner(name)
            figures = run(**_options_for(run, options))
        except Exception:  # one broken benchmark must not hide the others' figures
            traceback.print_exc()
            print(f"{name}: could not run (see above)", file=sys.stderr)
            failed.append(name)
            continue
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        out = RESULTS_DIR / f"{name}.json"
        out.write_text(json.dumps({"benchmark": name, "machine": machine, **figures}, indent=2, ensure_ascii=False)
                       + "\n", encoding="utf-8")
        print(f"wrote {out.relative_to(ROOT)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
