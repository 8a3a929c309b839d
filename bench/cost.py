"""AWS cost of 10k orders a month, from the units bench/dynamo_work.py measured.

Inputs, all read at run time:

- ``bench/results/dynamo_work.json``: per order lifecycle and per route, every Lambda
  invocation (function, trigger, wall and CPU ms, WeChat and SQS calls) and the DynamoDB
  read / write units (run ``python -m bench dynamo_work`` first; ``make bench`` runs it before);
- ``template.yaml``: each function's MemorySize, the schedules and the SQS-triggered queues, and
  what observing the stack costs (bench/_observability.py): each function's tracing mode, the log
  levels and retention, the customer managed keys, the roles that may use the personal-data key;
- ``bench/prices.json``: the prices (with their source and date) and the workload assumptions:
  the API requests per order besides the lifecycle's own, how local milliseconds become
  Lambda's billed milliseconds, SQS requests per message and idle polling.

Per order: the order lifecycle as measured (place, pay notification, commission, ship,
confirm, the settlement workers) plus the browsing mix of ``requests_per_order``, each
route at its measured cost; for every invocation also its X-Ray trace (where the function is
traced, at Lambda's sampling), its log bytes (what the function printed in the bench, measured,
plus Lambda's platform lines) ingested and stored for the retention, and the KMS data-key calls of
a new container of a function that seals or opens personal data. Per month, whatever the number of
orders: every schedule's runs (EventBridge Scheduler, Lambda, its reads, traces and logs; the
settlement planner at its measured cost), the idle long polling of each queue's event source
mapping, the KMS key-months and the table key's requests, and the custom metrics (EMF) billed per
metric-month: only the counts ``mall.observability.PUBLISHED_METRICS`` turns into metrics (the others
are log fields), from the order flow's counts and the schedules' every-run counts. The target
(≤ USD 1.00 per 10k orders) is all-in: the variable cost of 10k orders plus the fixed cost of a
month of ``orders_per_month`` orders, scaled to 10k; it is also given at each of ``VOLUMES`` orders
a month (the model run again at that volume), where the fixed month is spread over more orders.
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from typing import Any

from bench import RESULTS_DIR, ROOT
from bench._observability import (
    GB,
    Observability,
    hours_active,
    key_months,
    platform_log_bytes,
    sampled_share,
    stored_gb,
)
from local.cfn_yaml import load_yaml
from local.template import load_template
from local.template_model import Template
from mall.observability import PUBLISHED_METRICS

PRICES = ROOT / "bench" / "prices.json"
TARGET_USD = 1.00  # all-in: variable + fixed, per 10k orders
PER = 10_000  # orders
#: The monthly volumes the all-in figure is also given at: the fixed month spread over more orders.
VOLUMES = (10_000, 100_000, 1_000_000)


def run() -> dict[str, Any]:
    source = RESULTS_DIR / "dynamo_work.json"
    if not source.is_file():
        raise FileNotFoundError(f"{source.relative_to(ROOT)} is missing: run `python -m bench dynamo_work` first")
    work = json.loads(source.read_text(encoding="utf-8"))
    inputs = json.loads(PRICES.read_text(encoding="utf-8"))
    # Parameters without a default only matter to a deployment (URLs); quiet the loader about them.
    parameters = {"WeChatPayNotifyUrl": "https://example.invalid/"}
    template = load_template(ROOT / "template.yaml", parameters=parameters)
    facts = Observability.read(load_yaml(ROOT / "template.yaml"), parameters, ROOT)
    model = CostModel(inputs, template, facts)
    result = model.estimate(work)
    result["all_in_by_volume"] = model.at_volumes(work, VOLUMES)
    _print(result)
    return result


class CostModel:
    def __init__(self, inputs: dict[str, Any], template: Template, facts: Observability,
                 published: frozenset[str] = PUBLISHED_METRICS) -> None:
        """``published``: the counts that become CloudWatch metrics (the rest are log fields)."""
        self.inputs = inputs
        self.published = published
        self.facts = facts
        self.prices = inputs["prices"]
        self.assume = inputs["assumptions"]
        self.template = template
        self.memory = {fid: spec.memory_mb for fid, spec in template.functions.items()}
        self.http_functions = {route.function_id for route in template.routes}

    # -- unit prices --

    def _per_million(self, name: str) -> float:
        return float(self.prices[name]["usd_per_million"]) / 1_000_000

    def billed_ms(self, invocation: dict[str, Any]) -> float:
        rules = self.assume["lambda_duration"]
        memory = self.memory.get(invocation["function"], 256)
        scale = max(1.0, rules["full_vcpu_mb"] / memory)
        cpu = float(invocation["cpu_ms"])
        io = max(0.0, float(invocation["wall_ms"]) - cpu)
        ms = cpu * scale + io + invocation.get("wechat_calls", 0) * rules["wechat_call_ms"]
        ms += rules["cold_start_share"] * rules["cold_start_ms"]
        return float(max(1, math.ceil(ms)))

    def invocation_cost(self, invocation: dict[str, Any]) -> dict[str, float]:
        memory_gb = self.memory.get(invocation["function"], 256) / 1024
        seconds = self.billed_ms(invocation) / 1000
        sqs = invocation.get("sqs_calls", 0) * self.assume["sqs"]["requests_per_message"]
        return {
            "lambda_requests": self._per_million("lambda_request"),
            "lambda_gb_seconds": memory_gb * seconds * float(self.prices["lambda_arm64_gb_second"]["usd"]),
            "api_gateway": self._per_million("apigw_http_api_request") if invocation["trigger"] == "http" else 0.0,
            "sqs": sqs * self._per_million("sqs_request"),
        }

    def units_cost(self, rcu: float, wcu: float) -> dict[str, float]:
        return {"dynamodb_reads": rcu * self._per_million("dynamodb_read_request_unit"),
                "dynamodb_writes": wcu * self._per_million("dynamodb_write_request_unit")}

    # -- observability and keys --

    def batched(self) -> set[str]:
        """Functions whose event source waits long enough to take one lifecycle step's records in
        one batch (``merges_a_step_at_window_s``): the bench delivers each step's records within
        its window, so a step's several invocations of such a function become one."""
        window = float(self.assume["batching"]["merges_a_step_at_window_s"])
        triggers = [*self.template.queue_triggers, *self.template.stream_triggers]
        return {t.function_id for t in triggers if t.enabled and t.batching_window_s >= window}

    def _merged(self, invocations: list[dict[str, Any]]) -> list[dict[str, Any]]:
        batched = self.batched()
        kept: dict[str, dict[str, Any]] = {}
        out = []
        for inv in invocations:
            if inv["function"] not in batched or inv["trigger"] not in {"queue", "stream"}:
                out.append(inv)
                continue
            first = kept.get(inv["function"])
            if first is None:
                kept[inv["function"]] = dict(inv)
                out.append(kept[inv["function"]])
            else:  # one invocation takes both batches: the larger work, both logs
                first.update({k: max(first[k], inv[k]) for k in ("wall_ms", "cpu_ms")})
                if "log_bytes" in first or "log_bytes" in inv:
                    first["log_bytes"] = first.get("log_bytes", 0) + inv.get("log_bytes", 0)
        return out

    def log_bytes(self, invocation: dict[str, Any]) -> float:
        """Bytes one invocation sends to CloudWatch Logs: what it printed (measured by the bench,
        or the assumption where the file predates the measurement), Lambda's platform lines, and
        the HTTP API's access-log line."""
        logs = self.assume["logs"]
        printed = invocation.get("log_bytes")
        size = float(logs["app_bytes_when_not_measured"] if printed is None else printed)
        size += platform_log_bytes(self.facts, invocation["function"], self.assume)
        if invocation["trigger"] == "http":
            size += float(logs["access_log_bytes_per_request"])
        return size

    def observed(self, per_order: dict[str, float], counts: dict[str, float], log_bytes: float,
                 access_bytes: float) -> None:
        """Adds the per-order X-Ray, CloudWatch Logs and KMS items to ``per_order``."""
        orders = float(self.assume["orders_per_month"])
        seconds = float(self.assume["seconds_per_month"])
        xray = self.assume["xray"]
        traces = sum(n * sampled_share(n * orders / seconds, xray["reservoir_per_second"], xray["fixed_rate"])
                     for fn, n in counts.items() if fn in self.facts.traced)
        retrieved = xray["retrieved_per_recorded"] * self._per_million("xray_trace_retrieved")
        per_order["xray_traces"] = traces * (self._per_million("xray_trace_recorded") + retrieved)
        per_order["logs_ingestion"] = log_bytes / GB * float(self.prices["cloudwatch_logs_ingestion"]["usd_per_gb"])
        storage = float(self.prices["cloudwatch_logs_storage"]["usd_per_gb_month"])
        function_gb = (log_bytes - access_bytes) * orders / GB
        stored = stored_gb(function_gb, self.facts.function_log_retention_days, self.assume) + \
            stored_gb(access_bytes * orders / GB, self.facts.access_log_retention_days, self.assume)
        per_order["logs_storage"] = stored * storage / orders
        kms = self.assume["kms"]
        new_containers = sum(n for fn, n in counts.items() if fn in self.facts.pii_functions)
        new_containers *= self.assume["lambda_duration"]["cold_start_share"]
        requests = new_containers * kms["requests_per_new_container"]
        per_order["kms_requests"] = requests * self._per_million("kms_request")

    # -- the estimate --

    def estimate(self, work: dict[str, Any]) -> dict[str, Any]:
        lifecycles = work.get("lifecycles") or []
        if not lifecycles:
            raise ValueError("dynamo_work.json has no measured order lifecycle")
        lifecycle = max(lifecycles, key=lambda r: r["totals"]["wcu"] + r["totals"]["rcu"])
        per_order: dict[str, float] = defaultdict(float)
        fixed_runs: dict[str, dict[str, Any]] = {}
        lambda_ms: dict[str, list[float]] = defaultdict(list)
        counts: dict[str, float] = defaultdict(float)
        logged = {"all": 0.0, "access": 0.0, "measured": 0.0, "invocations": 0.0}

        def invoked(inv: dict[str, Any], times: float = 1.0) -> None:
            _add(per_order, self.invocation_cost(inv), times)
            lambda_ms[inv["function"]].append(self.billed_ms(inv))
            counts[inv["function"]] += times
            logged["all"] += self.log_bytes(inv) * times
            logged["invocations"] += times
            if inv.get("log_bytes") is not None:
                logged["measured"] += times
            if inv["trigger"] == "http":
                logged["access"] += float(self.assume["logs"]["access_log_bytes_per_request"]) * times

        # The lifecycle, minus the scheduled planner's own run (a fixed monthly cost, below).
        for step in lifecycle["steps"]:
            for inv in self._merged(step.get("invocations", [])):
                if inv["trigger"] == "schedule":
                    fixed_runs[inv["function"]] = {
                        "invocation": inv,
                        "rcu": sum(c["rcu"] for c in step["calls"] if c.get("trigger") == "schedule"),
                        "wcu": sum(c["wcu"] for c in step["calls"] if c.get("trigger") == "schedule")}
                    continue
                invoked(inv)
            own = [c for c in step.get("calls", []) if c.get("trigger") != "schedule"]
            _add(per_order, self.units_cost(sum(c["rcu"] for c in own), sum(c["wcu"] for c in own)))

        # The requests around an order.
        missing = []
        mix = {k: float(v) for k, v in self.assume["requests_per_order"].items() if k != "what"}
        for route, count in mix.items():
            measured = work["routes"].get(route)
            if not measured or not measured.get("exercised"):
                missing.append(route)
                continue
            for inv in measured["invocations"]:
                invoked(inv, count)
            _add(per_order, self.units_cost(measured["rcu"], measured["wcu"]), count)
        self.observed(per_order, counts, logged["all"], logged["access"])
        if self.facts.snapstart:
            per_order["snapstart_restores"] = self.snapstart_restores(counts)

        variable = {k: v * PER for k, v in per_order.items()}
        fixed = self.fixed_monthly(fixed_runs)
        fixed.update(self.fixed_observability(counts))
        variable_total = sum(variable.values())
        fixed_total = sum(v["usd"] for v in fixed.values())
        orders = int(self.assume["orders_per_month"])
        month = variable_total * orders / PER + fixed_total
        all_in = variable_total + fixed_total * PER / orders
        return {
            "what": f"AWS cost of {PER:,} orders (variable) and per month (fixed), USD, list prices, no free tier",
            "prices": {k: {kk: vv for kk, vv in v.items() if kk != "unit"} for k, v in self.prices.items()},
            "prices_recorded": self.inputs.get("recorded"),
            "prices_note": self.inputs.get("recorded_how"),
            "target_usd_per_10k_orders": TARGET_USD,
            "target_is": "all-in: variable cost of 10k orders + fixed monthly cost scaled to 10k orders",
            "lifecycle_measured": {"order_id": lifecycle["order_id"], **{k: lifecycle["totals"][k]
                                                                      for k in ("rcu", "wcu", "api_requests")}},
            "requests_per_order": mix,
            "routes_in_mix_not_measured": missing,
            "invocations_per_order": round(sum(counts.values()), 2),
            "traced_invocations_per_order": round(sum(n for f, n in counts.items() if f in self.facts.traced), 2),
            "log_bytes_per_order": round(logged["all"]),
            "log_bytes_measured_share": round(logged["measured"] / max(1.0, logged["invocations"]), 3),
            "batched_functions": sorted(self.batched()),
            "observability": {"traced_functions": len(self.facts.traced), "functions": len(self.facts.functions),
                              "system_log_level": self.facts.system_log_level,
                              "function_log_retention_days": self.facts.function_log_retention_days,
                              "access_log_retention_days": self.facts.access_log_retention_days,
                              "cold_start_metric": self.facts.cold_start_metric},
            "variable_usd_per_10k_orders": {k: round(v, 4) for k, v in variable.items()},
            "variable_total_usd": round(variable_total, 4),
            "fixed_usd_per_month": fixed,
            "fixed_total_usd": round(fixed_total, 4),
            "orders_per_month": orders,
            "month_total_usd": round(month, 4),
            "all_in_usd_per_10k_orders": round(all_in, 4),
            "target_met": all_in <= TARGET_USD,
            # SnapStart's price: the functions that have it (a cache line each in the fixed month, their
            # restores in the variable cost), and what one more would cost, for the decision.
            "snapstart": {"functions": sorted(self.facts.snapstart),
                          "cache_usd_per_month": round(sum(self.snapstart_cache_month(self.memory[f])
                                                           for f in self.facts.snapstart), 4),
                          "restores_per_10k_orders": round(PER * self.cold_starts(counts, self.facts.snapstart), 1),
                          "restores_usd_per_10k_orders": round(variable.get("snapstart_restores", 0.0), 4),
                          "cache_usd_per_function_month_at_256_mb": round(self.snapstart_cache_month(256), 4),
                          "restore_usd_at_256_mb": round(
                              0.25 * float(self.prices["lambda_snapstart_restore_gb"]["usd"]), 8),
                          "candidates": self.snapstart_candidates(counts)},
            "billed_ms_per_invocation": {f: round(sum(v) / len(v), 1) for f, v in sorted(lambda_ms.items())},
            "not_in_the_model": self.inputs.get("not_in_the_model", []),
        }

    def at_volumes(self, work: dict[str, Any], volumes: tuple[int, ...]) -> list[dict[str, Any]]:
        """The model again at each monthly volume: the variable part per 10k orders moves a little (X-Ray
        samples 5 % above one request a second, log storage), the fixed month is spread over the orders."""
        out = []
        for orders in volumes:
            inputs = json.loads(json.dumps(self.inputs))
            inputs["assumptions"]["orders_per_month"] = orders
            result = CostModel(inputs, self.template, self.facts, self.published).estimate(work)
            fixed_per_10k = result["fixed_total_usd"] * PER / orders
            out.append({"orders_per_month": orders, "variable_usd_per_10k_orders": result["variable_total_usd"],
                        "fixed_usd_per_month": result["fixed_total_usd"],
                        "fixed_usd_per_10k_orders": round(fixed_per_10k, 4),
                        "all_in_usd_per_10k_orders": result["all_in_usd_per_10k_orders"],
                        "target_met": result["target_met"]})
        return out

    def snapstart_cache_month(self, memory_mb: int) -> float:
        """A month of one published version's SnapStart cache: billed whatever the traffic (template.yaml's
        ``VersionDeletionPolicy: Delete`` keeps one version per function). Restores come on top."""
        seconds = float(self.assume["seconds_per_month"])
        return memory_mb / 1024 * seconds * float(self.prices["lambda_snapstart_cache_gb_second"]["usd"])

    def cold_starts(self, counts: dict[str, float], functions: frozenset[str] | set[str]) -> float:
        """New execution environments per order of ``functions``: with SnapStart each is a restore."""
        share = float(self.assume["lambda_duration"]["cold_start_share"])
        return sum(n for fn, n in counts.items() if fn in functions) * share

    def snapstart_restores(self, counts: dict[str, float]) -> float:
        """USD per order of restoring the SnapStart functions' snapshots (by the GB of their memory)."""
        price = float(self.prices["lambda_snapstart_restore_gb"]["usd"])
        return sum(self.cold_starts(counts, {fn}) * self.memory[fn] / 1024 * price for fn in self.facts.snapstart)

    def snapstart_candidates(self, counts: dict[str, float]) -> list[dict[str, Any]]:
        """The HTTP functions an order's requests reach, by invocations: what SnapStart would cost each a
        month at ``orders_per_month``, and per cold start it would turn into a restore."""
        orders = float(self.assume["orders_per_month"])
        http = {inv for inv in counts if inv in self.http_functions}
        out = []
        for fn in sorted(http, key=lambda f: -counts[f]):
            month = self.snapstart_cache_month(self.memory[fn])
            cold = self.cold_starts(counts, {fn}) * orders
            restores = cold * self.memory[fn] / 1024 * float(self.prices["lambda_snapstart_restore_gb"]["usd"])
            out.append({"function": fn, "snapstart": fn in self.facts.snapstart,
                        "invocations_per_order": round(counts[fn], 2), "cold_starts_per_month": round(cold, 1),
                        "usd_per_month": round(month + restores, 4),
                        "usd_per_cold_start_avoided": round((month + restores) / cold, 4) if cold else None})
        return out

    def fixed_observability(self, counts: dict[str, float]) -> dict[str, dict[str, Any]]:
        """KMS key-months and the table key's requests, and the custom metrics (EMF)."""
        out: dict[str, dict[str, Any]] = {}
        seconds = float(self.assume["seconds_per_month"])
        hours = seconds / 3600
        for key, rotation in self.facts.kms_keys:
            months = key_months(rotation, self.assume)
            out[f"KMS key {key} ({months} key-months{', rotated yearly' if rotation else ''})"] = {
                "key_months": months, "usd": round(months * float(self.prices["kms_key_month"]["usd"]), 4)}
        if self.facts.table_key_principals:
            kms = self.assume["kms"]
            requests = self.facts.table_key_principals * seconds / kms["table_key_cache_seconds"]
            out[f"KMS aws/dynamodb table key ({self.facts.table_key_principals} roles)"] = {
                "requests": round(requests), "usd": round(requests * self._per_million("kms_request"), 4)}
        metric = float(self.prices["cloudwatch_custom_metric"]["usd_per_metric_month"])
        metrics = self.assume["metrics"]
        orders_per_hour = float(self.assume["orders_per_month"]) / hours
        counts = {name: float(n) for name, n in metrics["business_per_order"].items() if name != "what"}
        shown = sorted(n for n in counts if n in self.published)
        business = sum(hours_active(counts[name] * orders_per_hour) for name in shown)
        out[f"custom metrics (EMF) of the order flow ({len(shown)} of {len(counts)} counts published)"] = {
            "metric_months": round(business, 2), "usd": round(business * metric, 4), "published": shown,
            "logged_only": sorted(set(counts) - set(shown))}
        runs = {s.function_id: runs_per_month(s.expression, seconds) for s in self.template.schedules if s.enabled}
        every_run = {fn: names for fn, names in metrics.get("every_run_of_schedule", {}).items()
                     if fn != "what" and fn in runs}
        made = sorted((n, fn) for fn, names in every_run.items() for n in names if n in self.published)
        scheduled = sum(hours_active(runs[fn] / hours) for _, fn in made)
        total = sum(len(names) for names in every_run.values())
        out[f"custom metrics (EMF) the schedules make every run ({len(made)} of {total} published)"] = {
            "metric_months": round(scheduled, 2), "usd": round(scheduled * metric, 4),
            "published": [n for n, _ in made],
            "logged_only": sorted({n for names in every_run.values() for n in names} - {n for n, _ in made})}
        for name in sorted(self.facts.snapstart):
            mb = self.memory[name]
            out[f"SnapStart cache of {name} ({mb} MB, one published version)"] = {
                "gb_seconds": round(mb / 1024 * seconds), "usd": round(self.snapstart_cache_month(mb), 4)}
        if self.facts.cold_start_metric:
            cold = len(self.facts.functions) * float(metrics["cold_start_metric_hours_share"])
            out[f"custom metric ColdStart per function ({len(self.facts.functions)} functions)"] = {
                "metric_months": round(cold, 2), "usd": round(cold * metric, 4)}
        return out

    def fixed_monthly(self, measured_runs: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        seconds = float(self.assume["seconds_per_month"])
        out: dict[str, dict[str, Any]] = {}
        default = self.assume["scheduled_run_without_measurement"]
        xray = self.assume["xray"]
        for schedule in self.template.schedules:
            if not schedule.enabled:
                continue
            runs = runs_per_month(schedule.expression, seconds)
            measured = measured_runs.get(schedule.function_id)
            if measured:
                inv, rcu, wcu = measured["invocation"], measured["rcu"], measured["wcu"]
            else:
                inv = {"function": schedule.function_id, "trigger": "schedule", "cpu_ms": 0.0,
                       "wall_ms": float(default["duration_ms"])}
                rcu, wcu = float(default["read_units"]), 0.0
            one = self.invocation_cost(inv)
            _add(one, self.units_cost(rcu, wcu))
            one["scheduler"] = self._per_million("eventbridge_scheduler_invocation")
            if schedule.function_id in self.facts.traced:
                share = sampled_share(runs / seconds, xray["reservoir_per_second"], xray["fixed_rate"])
                one["xray"] = share * self._per_million("xray_trace_recorded")
            one["logs"] = self.log_bytes(inv) / GB * float(self.prices["cloudwatch_logs_ingestion"]["usd_per_gb"])
            out[f"schedule {schedule.function_id} {schedule.expression}"] = {
                "runs": round(runs), "measured": bool(measured), "usd": round(sum(one.values()) * runs, 4)}
        sqs = self.assume["sqs"]
        polled = sorted({t.queue_id for t in self.template.queue_triggers if t.enabled})
        for queue in polled:
            capped = queue in self.facts.capped_queues
            pollers = sqs["idle_pollers_with_maximum_concurrency" if capped else "idle_pollers_per_queue"]
            polls = pollers * seconds / sqs["long_poll_seconds"]
            out[f"idle polling of {queue} ({pollers} pollers{', maximum concurrency' if capped else ''})"] = {
                "requests": round(polls), "pollers": pollers,
                "usd": round(polls * self._per_million("sqs_request"), 4)}
        return out


def _add(into: dict[str, float], more: dict[str, float], times: float = 1.0) -> None:
    for key, value in more.items():
        into[key] = into.get(key, 0.0) + value * times


_RATE = re.compile(r"^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$")


def runs_per_month(expression: str, seconds: float) -> float:
    """How often a ScheduleExpression fires in a month (cron: an estimate from its fields)."""
    text = expression.strip()
    rate = _RATE.match(text)
    if rate:
        unit = {"minute": 60, "hour": 3600, "day": 86400}[rate.group(2).rstrip("s")]
        return seconds / (int(rate.group(1)) * unit)
    if text.startswith("cron(") and text.endswith(")"):
        minute, hour, dom, _month, dow, *_ = text[5:-1].split()
        days = seconds / 86400
        if dom not in {"*", "?"}:
            days = _count(dom, 31)
        elif dow not in {"*", "?"}:
            days = days * _count(dow, 7) / 7
        return _count(minute, 60) * _count(hour, 24) * days
    if text.startswith("at("):
        return 0.0
    raise ValueError(f"cannot read the schedule expression {expression!r}")


def _count(field: str, span: int) -> int:
    """How many values a cron field takes (``*``, ``5``, ``1,2``, ``1-5``, ``*/10``, ``3/6``);
    a field this does not read (``MON-FRI``, ``L``, ``W``) counts as every value: an overestimate."""
    if field in {"*", "?"}:
        return span
    total = 0
    try:
        for part in field.split(","):
            base, _, step = part.partition("/")
            if base in {"*", ""}:
                low, high = 0, span - 1
            elif "-" in base:
                low, high = (int(x) for x in base.split("-", 1))
            else:
                low = int(base)
                high = span - 1 if step else low
            total += len(range(low, high + 1, int(step) if step else 1))
    except ValueError:
        return span
    return max(1, total)


LABELS = {"api_gateway": "API Gateway HTTP API requests", "lambda_requests": "Lambda requests",
          "lambda_gb_seconds": "Lambda GB-seconds (arm64)", "dynamodb_writes": "DynamoDB write request units",
          "dynamodb_reads": "DynamoDB read request units", "sqs": "SQS requests",
          "xray_traces": "X-Ray traces recorded + retrieved", "logs_ingestion": "CloudWatch Logs ingestion",
          "logs_storage": "CloudWatch Logs storage (steady state)", "kms_requests": "KMS data-key requests",
          "snapstart_restores": "Lambda SnapStart restores"}


def _print(result: dict[str, Any]) -> None:
    variable = result["variable_usd_per_10k_orders"]
    width = max(len(v) for v in LABELS.values())
    print(f"variable cost of {PER:,} orders (lifecycle {result['lifecycle_measured']['order_id']}: "
          f"{result['lifecycle_measured']['wcu']:g} WCU, {result['lifecycle_measured']['rcu']:g} RCU, "
          f"{result['lifecycle_measured']['api_requests']} API requests; plus the request mix in bench/prices.json; "
          f"{result['invocations_per_order']:g} invocations an order, {result['traced_invocations_per_order']:g} "
          f"traced, {result['log_bytes_per_order']:,} log bytes)")
    for key, value in sorted(variable.items(), key=lambda kv: -kv[1]):
        print(f"  {LABELS.get(key, key).ljust(width)}  ${value:8.4f}")
    print(f"  {'total'.ljust(width)}  ${result['variable_total_usd']:8.4f}")
    print("fixed cost per month, whatever the orders:")
    for name, item in sorted(result["fixed_usd_per_month"].items(), key=lambda kv: -kv[1]["usd"]):
        print(f"  {name.ljust(max(width, 60))}  ${item['usd']:8.4f}")
    print(f"  {'total'.ljust(max(width, 60))}  ${result['fixed_total_usd']:8.4f}")
    verdict = "met" if result["target_met"] else "NOT met"
    print(f"all-in per {PER:,} orders (variable + fixed at {result['orders_per_month']:,} orders a month): "
          f"${result['all_in_usd_per_10k_orders']:.4f}   target <= ${TARGET_USD:.2f}: {verdict}")
    if result.get("all_in_by_volume"):
        print(f"per {PER:,} orders at larger volumes (the fixed month spread over the month's orders):")
        for row in result["all_in_by_volume"]:
            verdict = "met" if row["target_met"] else "NOT met"
            print(f"  {row['orders_per_month']:>9,} orders a month: variable ${row['variable_usd_per_10k_orders']:.4f}"
                  f" + fixed ${row['fixed_usd_per_10k_orders']:.4f} (${row['fixed_usd_per_month']:.2f} a month)"
                  f" = ${row['all_in_usd_per_10k_orders']:.4f}   {verdict}")
    print(f"a month of {result['orders_per_month']:,} orders: ${result['month_total_usd']:.4f}. "
          f"List prices recorded {result['prices_recorded']}; no free tier.")
    snap = result["snapstart"]
    if snap["functions"]:
        named = f"{len(snap['functions'])} function{'s' if len(snap['functions']) > 1 else ''}"
        print(f"SnapStart on {named} ({', '.join(snap['functions'])}): snapshot cache "
              f"${snap['cache_usd_per_month']:.4f} a month, {snap['restores_per_10k_orders']:g} restores "
              f"${snap['restores_usd_per_10k_orders']:.4f} per {PER:,} orders")
    print(f"SnapStart per HTTP function an order reaches (at {result['orders_per_month']:,} orders a month: cache + "
          "restores, and per cold start it turns into a restore):")
    for c in snap["candidates"]:
        per = "-" if c["usd_per_cold_start_avoided"] is None else f"${c['usd_per_cold_start_avoided']:.4f}"
        print(f"  {'*' if c['snapstart'] else ' '} {c['function'].ljust(34)} {c['invocations_per_order']:6g} an order  "
              f"{c['cold_starts_per_month']:7g} cold starts a month  ${c['usd_per_month']:.4f} a month  {per} each")
    if result["routes_in_mix_not_measured"]:
        print(f"routes of the request mix with no measurement (left out): {result['routes_in_mix_not_measured']}")
