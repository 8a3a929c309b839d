"""AWS cost of 10k orders a month, from the units bench/dynamo_work.py measured.

Inputs, all read at run time:

- ``bench/results/dynamo_work.json``: per order lifecycle and per route, every Lambda
  invocation (function, trigger, wall and CPU ms, WeChat and SQS calls) and the DynamoDB
  read / write units (run ``python -m bench dynamo_work`` first; ``make bench`` runs it before);
- ``template.yaml``: each function's MemorySize, the schedules and the SQS-triggered queues;
- ``bench/prices.json``: the prices (with their source and date) and the workload assumptions:
  the API requests per order besides the lifecycle's own, how local milliseconds become
  Lambda's billed milliseconds, SQS requests per message and idle polling.

Per order: the order lifecycle as measured (place, pay notification, commission, ship,
confirm, the settlement workers) plus the browsing mix of ``requests_per_order``, each
route at its measured cost. Per month, whatever the number of orders: every schedule's runs
(EventBridge Scheduler, Lambda, its reads; the settlement planner at its measured cost) and
the idle long polling of each queue's event source mapping. The target (≤ USD 0.50 per 10k
orders) is checked on the variable cost, and the fixed monthly cost is shown beside it.
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from typing import Any

from bench import RESULTS_DIR, ROOT
from local.template import load_template
from local.template_model import Template

PRICES = ROOT / "bench" / "prices.json"
TARGET_USD = 0.50
PER = 10_000  # orders


def run() -> dict[str, Any]:
    source = RESULTS_DIR / "dynamo_work.json"
    if not source.is_file():
        raise FileNotFoundError(f"{source.relative_to(ROOT)} is missing: run `python -m bench dynamo_work` first")
    work = json.loads(source.read_text(encoding="utf-8"))
    inputs = json.loads(PRICES.read_text(encoding="utf-8"))
    # Parameters without a default only matter to a deployment (URLs); quiet the loader about them.
    template = load_template(ROOT / "template.yaml", parameters={"WeChatPayNotifyUrl": "https://example.invalid/"})
    model = CostModel(inputs, template)
    result = model.estimate(work)
    _print(result)
    return result


class CostModel:
    def __init__(self, inputs: dict[str, Any], template: Template) -> None:
        self.inputs = inputs
        self.prices = inputs["prices"]
        self.assume = inputs["assumptions"]
        self.template = template
        self.memory = {fid: spec.memory_mb for fid, spec in template.functions.items()}

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

    # -- the estimate --

    def estimate(self, work: dict[str, Any]) -> dict[str, Any]:
        lifecycles = work.get("lifecycles") or []
        if not lifecycles:
            raise ValueError("dynamo_work.json has no measured order lifecycle")
        lifecycle = max(lifecycles, key=lambda r: r["totals"]["wcu"] + r["totals"]["rcu"])
        per_order: dict[str, float] = defaultdict(float)
        fixed_runs: dict[str, dict[str, Any]] = {}
        lambda_ms: dict[str, list[float]] = defaultdict(list)

        # The lifecycle, minus the scheduled planner's own run (a fixed monthly cost, below).
        for step in lifecycle["steps"]:
            for inv in step.get("invocations", []):
                if inv["trigger"] == "schedule":
                    fixed_runs[inv["function"]] = {
                        "invocation": inv,
                        "rcu": sum(c["rcu"] for c in step["calls"] if c.get("trigger") == "schedule"),
                        "wcu": sum(c["wcu"] for c in step["calls"] if c.get("trigger") == "schedule")}
                    continue
                _add(per_order, self.invocation_cost(inv))
                lambda_ms[inv["function"]].append(self.billed_ms(inv))
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
                _add(per_order, self.invocation_cost(inv), count)
                lambda_ms[inv["function"]].append(self.billed_ms(inv))
            _add(per_order, self.units_cost(measured["rcu"], measured["wcu"]), count)

        variable = {k: v * PER for k, v in per_order.items()}
        fixed = self.fixed_monthly(fixed_runs)
        variable_total = sum(variable.values())
        fixed_total = sum(v["usd"] for v in fixed.values())
        orders = int(self.assume["orders_per_month"])
        month = variable_total * orders / PER + fixed_total
        return {
            "what": f"AWS cost of {PER:,} orders (variable) and per month (fixed), USD, list prices, no free tier",
            "prices": {k: {kk: vv for kk, vv in v.items() if kk != "unit"} for k, v in self.prices.items()},
            "prices_recorded": self.inputs.get("recorded"),
            "prices_note": self.inputs.get("recorded_how"),
            "target_usd_per_10k_orders": TARGET_USD,
            "lifecycle_measured": {"order_id": lifecycle["order_id"], **{k: lifecycle["totals"][k]
                                                                      for k in ("rcu", "wcu", "api_requests")}},
            "requests_per_order": mix,
            "routes_in_mix_not_measured": missing,
            "variable_usd_per_10k_orders": {k: round(v, 4) for k, v in variable.items()},
            "variable_total_usd": round(variable_total, 4),
            "fixed_usd_per_month": fixed,
            "fixed_total_usd": round(fixed_total, 4),
            "orders_per_month": orders,
            "month_total_usd": round(month, 4),
            "target_met": variable_total <= TARGET_USD,
            "month_within_target": month <= TARGET_USD,
            "billed_ms_per_invocation": {f: round(sum(v) / len(v), 1) for f, v in sorted(lambda_ms.items())},
            "not_in_the_model": self.inputs.get("not_in_the_model", []),
        }

    def fixed_monthly(self, measured_runs: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        seconds = float(self.assume["seconds_per_month"])
        out: dict[str, dict[str, Any]] = {}
        default = self.assume["scheduled_run_without_measurement"]
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
            out[f"schedule {schedule.function_id} {schedule.expression}"] = {
                "runs": round(runs), "measured": bool(measured), "usd": round(sum(one.values()) * runs, 4)}
        sqs = self.assume["sqs"]
        polled = sorted({t.queue_id for t in self.template.queue_triggers if t.enabled})
        polls = sqs["idle_pollers_per_queue"] * seconds / sqs["long_poll_seconds"]
        for queue in polled:
            out[f"idle polling of {queue}"] = {"requests": round(polls),
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


def _print(result: dict[str, Any]) -> None:
    variable = result["variable_usd_per_10k_orders"]
    labels = {"api_gateway": "API Gateway HTTP API requests", "lambda_requests": "Lambda requests",
              "lambda_gb_seconds": "Lambda GB-seconds (arm64)", "dynamodb_writes": "DynamoDB write request units",
              "dynamodb_reads": "DynamoDB read request units", "sqs": "SQS requests"}
    width = max(len(v) for v in labels.values())
    print(f"variable cost of {PER:,} orders (lifecycle {result['lifecycle_measured']['order_id']}: "
          f"{result['lifecycle_measured']['wcu']:g} WCU, {result['lifecycle_measured']['rcu']:g} RCU, "
          f"{result['lifecycle_measured']['api_requests']} API requests; plus the request mix in bench/prices.json)")
    for key, value in sorted(variable.items(), key=lambda kv: -kv[1]):
        print(f"  {labels.get(key, key).ljust(width)}  ${value:8.4f}")
    verdict = "met" if result["target_met"] else "NOT met"
    print(f"  {'total'.ljust(width)}  ${result['variable_total_usd']:8.4f}   target <= ${TARGET_USD:.2f}: {verdict}")
    print("fixed cost per month, whatever the orders:")
    for name, item in sorted(result["fixed_usd_per_month"].items(), key=lambda kv: -kv[1]["usd"]):
        print(f"  {name.ljust(max(width, 60))}  ${item['usd']:8.4f}")
    print(f"  {'total'.ljust(max(width, 60))}  ${result['fixed_total_usd']:8.4f}")
    print(f"a month of {result['orders_per_month']:,} orders: ${result['month_total_usd']:.4f} "
          f"({'within' if result['month_within_target'] else 'over'} ${TARGET_USD:.2f}). "
          f"List prices recorded {result['prices_recorded']}, not re-checked online; no free tier.")
    if result["routes_in_mix_not_measured"]:
        print(f"routes of the request mix with no measurement (left out): {result['routes_in_mix_not_measured']}")
