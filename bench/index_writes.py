"""Index entry writes of one order's lifecycle: how each unit spent on a GSI was spent, and what a
narrower projection of gsi1 and gsi2 could save at most.

**How.** The order lifecycle of ``dynamo_work`` (place → pay → ship → confirm → settle, every worker
each step sets off) runs once on a fresh local stack under the bench's meter. The meter hands over
every item a write changed, with its images before and after (``Meter.write_observers``); each
change is priced again here with ``bench._meter.entry_writes``:

- under the table's indexes as template.yaml defines them: each entry write is an ``enter``,
  ``leave``, ``move`` (a key change: a delete and a put) or ``rewrite`` (same key, the entry rewritten
  in place, with the attributes that changed);
- with gsi1 and gsi2 projecting their keys only (``KEYS_ONLY``): no projection can store less, so
  what that saves is the most a narrower projection of those two could save. Only rewrites can be
  saved: an entry that enters, leaves or moves is written under any projection.

It also counts the distinct non-key attribute names the lifecycle's items carry in each index:
DynamoDB allows 100 projected non-key attributes over all the indexes of a table (INCLUDE).
What each rewrite's attributes are read for is a question of the code reading the index
(docs/performance.md, "Index projections of gsi1 and gsi2").
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench._local import DEMO_PROMOTER_SHARE_CODE, LOG_DIR, eprint, quiet, tail
from bench._meter import Index, SeenWrite, entry_writes
from bench._report import print_table
from bench.dynamo_work import Bench, Network, configured_batching_windows, lifecycle, metered_stack

#: The indexes whose projection is in question (gsi3 already projects what its list reads).
NARROWED = ("gsi1", "gsi2")
LIFECYCLE = "lifecycle: "


def keys_only(indexes: Sequence[Index], names: Iterable[str] = NARROWED) -> list[Index]:
    """``indexes`` with those named projecting their keys only."""
    chosen = set(names)
    return [replace(ix, projected=()) if ix.name in chosen else ix for ix in indexes]


def key_attributes(indexes: Sequence[Index]) -> frozenset[str]:
    """The table's and every index's key attributes (never counted as projected)."""
    names = {name for ix in indexes for name in (*ix.table_keys, ix.hash_key, ix.range_key) if name}
    return frozenset(names)


def summarise(seen: Sequence[SeenWrite], indexes: Sequence[Index]) -> dict[str, Any]:
    """Per lifecycle step, the index units by index and by how the entry was written, the same under
    ``KEYS_ONLY`` gsi1 / gsi2, every rewrite with its changed attributes, and the attribute names the
    lifecycle's items carry in each index."""
    narrowed = keys_only(indexes)
    keys = key_attributes(indexes)
    steps: dict[str, dict[str, Any]] = {}
    rewrites: list[dict[str, Any]] = []
    carried: dict[str, dict[str, set[str]]] = {ix.name: {} for ix in indexes}
    for write in seen:
        if not (write.window or "").startswith(LIFECYCLE):
            continue
        step = str(write.window).removeprefix(LIFECYCLE)
        mine = steps.setdefault(step, {"index_units": {}, "by_how": {}, "keys_only_units": {}})
        for entry in entry_writes(write.before, write.after, indexes):
            _add(mine["index_units"], entry.index, entry.units)
            _add(mine["by_how"], f"{entry.index} {entry.how}", entry.units)
            if entry.how == "rewrite":
                rewrites.append({"step": step, "entity": write.entity, "function": write.function,
                                 "index": entry.index, "units": entry.units, "changed": list(entry.changed)})
        for entry in entry_writes(write.before, write.after, narrowed):
            _add(mine["keys_only_units"], entry.index, entry.units)
        for ix in indexes:
            for image in (write.before, write.after):
                if ix.key_of(image) is not None and image is not None:
                    carried[ix.name].setdefault(write.entity, set()).update(set(image) - keys)
    total_now = sum(sum(s["index_units"].get(n, 0) for n in NARROWED) for s in steps.values())
    total_keys_only = sum(sum(s["keys_only_units"].get(n, 0) for n in NARROWED) for s in steps.values())
    return {
        "steps": steps,
        "rewrites": rewrites,
        "narrowed": list(NARROWED),
        "index_units": total_now,
        "index_units_keys_only": total_keys_only,
        "most_a_projection_saves": total_now - total_keys_only,
        "attributes": {name: {"distinct": len(set().union(*kinds.values())) if kinds else 0,
                              "by_kind": {kind: len(names) for kind, names in sorted(kinds.items())}}
                       for name, kinds in carried.items()},
    }


def _add(into: dict[str, int], name: str, units: int) -> None:
    into[name] = into.get(name, 0) + units


def run() -> dict[str, Any]:
    started = time.perf_counter()
    log_path = LOG_DIR / "index_writes.log"
    seen: list[SeenWrite] = []
    with tempfile.TemporaryDirectory(prefix="bench-index-") as tmp:
        try:
            with quiet(log_path), metered_stack(Path(tmp)) as (stack, meter):
                meter.write_observers.append(seen.append)
                bench = Bench(stack, meter)
                admin = bench.api.admin()
                product_id = bench.product(admin)
                l1, l1_code = bench.make_promoter(admin, "l1", parent_code=DEMO_PROMOTER_SHARE_CODE)
                with configured_batching_windows():
                    steps = lifecycle(bench, Network(admin, l1, l1_code, product_id), 1)
                indexes = list(meter.indexes)
        except Exception:
            eprint(tail(log_path))
            raise
    result = summarise(seen, indexes)
    result["lifecycle_wcu"] = {s["step"]: s["wcu"] for s in steps["steps"]}
    result["seconds"] = round(time.perf_counter() - started, 1)
    _print(result)
    return result


def _print(result: dict[str, Any]) -> None:
    print(f"\nindex units of one order lifecycle ({', '.join(result['narrowed'])}: as projected now, and keys only):")
    rows: list[tuple[str, ...]] = [("step", "gsi1", "gsi2", "gsi3", "gsi1+gsi2 keys only", "how")]
    for step, s in result["steps"].items():
        units = s["index_units"]
        rows.append((step, *(str(units.get(n, 0)) for n in ("gsi1", "gsi2", "gsi3")),
                     str(sum(s["keys_only_units"].get(n, 0) for n in result["narrowed"])),
                     ", ".join(f"{k} {v}" for k, v in sorted(s["by_how"].items()))))
    print_table(rows)
    print(f"\ngsi1 + gsi2: {result['index_units']} units; keys only: {result['index_units_keys_only']} "
          f"(at most {result['most_a_projection_saves']} saved by any projection)")
    print("\nrewrites (same key, entry rewritten):")
    rows = [("step", "item", "index", "units", "changed")]
    for r in result["rewrites"]:
        rows.append((r["step"], r["entity"], r["index"], str(r["units"]), ", ".join(r["changed"])))
    print_table(rows)
    print("\nnon-key attribute names the lifecycle's items carry, per index (INCLUDE allows 100 over all indexes):")
    for name, a in result["attributes"].items():
        print(f"  {name}: {a['distinct']} ({', '.join(f'{k} {v}' for k, v in a['by_kind'].items())})")
