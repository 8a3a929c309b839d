"""bench/cost.py's all-in arithmetic: X-Ray traces at Lambda's sampling, CloudWatch Logs bytes and
their storage, KMS data-key calls and key-months, custom metrics, batching windows; and what the
model reads off template.yaml (which functions are traced, the personal-data key's users)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench._observability import GB, Observability, hours_active, key_months, sampled_share, stored_gb
from bench.cost import PER, TARGET_USD, CostModel
from local.cfn_yaml import load_yaml
from local.template_model import FunctionSpec, QueueTrigger, ScheduleSpec, Template
from tests.unit.test_snapstart_template import SNAPSTART_BY_DEFAULT, SNAPSTART_FUNCTIONS

ROOT = Path(__file__).resolve().parents[2]
INPUTS: dict[str, Any] = json.loads((ROOT / "bench" / "prices.json").read_text(encoding="utf-8"))
PRICES = INPUTS["prices"]
ASSUME = INPUTS["assumptions"]
PLATFORM = ASSUME["logs"]["platform_bytes_per_invocation"]
TRACING = ASSUME["logs"]["platform_tracing_bytes_per_invocation"]
ACCESS = ASSUME["logs"]["access_log_bytes_per_request"]


def test_the_target_is_one_dollar_all_in() -> None:
    assert TARGET_USD == 1.00


def test_lambda_records_every_invocation_below_its_reservoir_and_five_percent_above() -> None:
    assert sampled_share(0.01, 1, 0.05) == 1.0
    assert sampled_share(21.0, 1, 0.05) == pytest.approx((1 + 0.05 * 20) / 21)
    assert sampled_share(0.0, 1, 0.05) == 1.0


def test_a_rotated_key_bills_one_key_month_per_rotation_up_to_the_cap() -> None:
    assume = {"kms": {"years_in_service": 1, "rotations_billed_cap": 2}}
    assert key_months(False, assume) == 1
    assert key_months(True, assume) == 2
    assume["kms"]["years_in_service"] = 5
    assert key_months(True, assume) == 3


def test_log_storage_counts_the_retention_or_a_year_when_logs_never_expire() -> None:
    assume = {"logs": {"months_kept_when_never_expiring": 12, "stored_compressed_ratio": 0.2}}
    assert stored_gb(1.0, 30, assume) == pytest.approx(0.2)
    assert stored_gb(1.0, None, assume) == pytest.approx(12 * 0.2)


def test_a_metric_is_billed_for_the_hours_it_receives_data() -> None:
    assert hours_active(0.0) == 0.0
    assert hours_active(1.0) == pytest.approx(0.632, abs=1e-3)
    assert hours_active(14.0) > 0.999


def test_the_template_traces_only_the_functions_that_call_wechat_pay_and_emits_no_cold_start_metric() -> None:
    facts = Observability.read(load_yaml(ROOT / "template.yaml"), {}, ROOT)
    assert facts.traced == {"PlaceOrderFunction", "OrderPaymentFunction", "WeChatPayWebhookFunction",
                            "AdminRefundsFunction", "PayoutWorkerFunction"}
    assert not facts.cold_start_metric
    assert "PlaceOrderFunction" in facts.pii_functions and "ProductsFunction" not in facts.pii_functions
    assert [key for key, rotated in facts.kms_keys if rotated] == ["PiiKey"]
    assert facts.system_log_level == "INFO"
    assert facts.function_log_retention_days is None  # Lambda's own log groups: never expire
    assert facts.access_log_retention_days == 400
    assert facts.table_key_principals == 0  # DynamoDB's own key by default: no KMS requests


def test_the_table_managed_key_is_priced_per_function_role_when_the_deploy_asks_for_it() -> None:
    raw = load_yaml(ROOT / "template.yaml")
    managed = Observability.read(raw, {"TableManagedKey": "true"}, ROOT)
    roles = {str(props.get("Role")) for props in (
        resource.get("Properties", {}) for resource in raw["Resources"].values()
        if resource.get("Type") == "AWS::Serverless::Function") if props.get("Role")}
    assert managed.table_key_principals == len(roles) >= 2
    assert Observability.read(raw, {"TableManagedKey": "false"}, ROOT).table_key_principals == 0


# -- the model on a made-up lifecycle ------------------------------------------------------------


def _facts(**changes: Any) -> Observability:
    base: dict[str, Any] = {
        "functions": frozenset({"Api", "Worker"}), "traced": frozenset({"Api"}), "system_log_level": "INFO",
        "function_log_retention_days": 30, "access_log_retention_days": 30,
        "pii_functions": frozenset({"Api"}), "kms_keys": (("Key", True),), "table_key_principals": 2,
        "cold_start_metric": False}
    return Observability(**{**base, **changes})


def _template(window_s: float) -> Template:
    fn = {name: FunctionSpec(name, name, ROOT, "app.handler", "python3.13", {}, memory_mb=1024)
          for name in ("Api", "Worker")}
    return Template(path=ROOT / "template.yaml", root=ROOT, functions=fn,
                    queue_triggers=[QueueTrigger("Worker", "Changes", "Q", batching_window_s=window_s)])


def _inv(function: str, trigger: str, log_bytes: int | None) -> dict[str, Any]:
    inv: dict[str, Any] = {"function": function, "trigger": trigger, "wall_ms": 10.0, "cpu_ms": 5.0}
    if log_bytes is not None:
        inv["log_bytes"] = log_bytes
    return inv


def _work(log_bytes: int | None = 1000) -> dict[str, Any]:
    step = {"invocations": [_inv("Api", "http", log_bytes), _inv("Worker", "queue", 200), _inv("Worker", "queue", 300)],
            "calls": []}
    return {"lifecycles": [{"order_id": "o_1", "steps": [step],
                            "totals": {"rcu": 0.0, "wcu": 0.0, "api_requests": 1}}], "routes": {}}


def _model(window_s: float = 1.0, **facts: Any) -> CostModel:
    inputs = json.loads(json.dumps(INPUTS))
    inputs["assumptions"]["requests_per_order"] = {}
    inputs["assumptions"]["metrics"]["business_per_order"] = {}
    return CostModel(inputs, _template(window_s), _facts(**facts))


def test_traces_logs_and_kms_of_one_order() -> None:
    result = _model().estimate(_work())
    variable = result["variable_usd_per_10k_orders"]
    # One traced invocation (Api) an order, recorded and one in ten retrieved.
    trace = (PRICES["xray_trace_recorded"]["usd_per_million"]
             + ASSUME["xray"]["retrieved_per_recorded"] * PRICES["xray_trace_retrieved"]["usd_per_million"]) / 1e6
    assert variable["xray_traces"] == pytest.approx(PER * trace, abs=1e-4)
    # What each printed, the platform lines (plus the tracing object where traced), the access log line.
    logged = (1000 + PLATFORM + TRACING + ACCESS) + (200 + PLATFORM) + (300 + PLATFORM)
    assert result["log_bytes_per_order"] == logged
    assert variable["logs_ingestion"] == pytest.approx(
        PER * logged / GB * PRICES["cloudwatch_logs_ingestion"]["usd_per_gb"], abs=1e-4)
    # A new container of the personal-data function: GenerateDataKey + Decrypt.
    kms = ASSUME["lambda_duration"]["cold_start_share"] * ASSUME["kms"]["requests_per_new_container"]
    assert variable["kms_requests"] == pytest.approx(PER * kms * PRICES["kms_request"]["usd_per_million"] / 1e6,
                                                     abs=1e-4)


def test_without_platform_lines_and_traces_the_order_costs_less() -> None:
    before = _model().estimate(_work())
    after = _model(system_log_level="WARN", traced=frozenset()).estimate(_work())
    assert after["log_bytes_per_order"] == 1000 + ACCESS + 200 + 300
    assert after["variable_usd_per_10k_orders"]["xray_traces"] == 0.0
    assert after["all_in_usd_per_10k_orders"] < before["all_in_usd_per_10k_orders"]


def test_a_long_batching_window_takes_one_steps_records_in_one_invocation() -> None:
    short = _model(window_s=1.0).estimate(_work())
    long = _model(window_s=ASSUME["batching"]["merges_a_step_at_window_s"]).estimate(_work())
    assert (short["invocations_per_order"], long["invocations_per_order"]) == (3, 2)
    assert long["batched_functions"] == ["Worker"]
    # The merged invocation still writes both batches' log lines, once a platform pair.
    assert long["log_bytes_per_order"] == short["log_bytes_per_order"] - PLATFORM
    requests = [r["variable_usd_per_10k_orders"]["lambda_requests"] for r in (short, long)]
    assert requests[1] < requests[0]


def test_a_file_measured_before_log_bytes_were_counted_uses_the_assumption() -> None:
    result = _model().estimate(_work(log_bytes=None))
    assert result["log_bytes_per_order"] == (ASSUME["logs"]["app_bytes_when_not_measured"] + PLATFORM + TRACING
                                             + ACCESS) + (200 + PLATFORM) + (300 + PLATFORM)
    assert result["log_bytes_measured_share"] == pytest.approx(2 / 3, abs=1e-3)


def test_fixed_costs_key_months_table_key_and_cold_start_metrics() -> None:
    assume = ASSUME
    quiet = _model().estimate(_work())["fixed_usd_per_month"]
    key = next(v for k, v in quiet.items() if k.startswith("KMS key Key"))
    assert key["usd"] == pytest.approx(key_months(True, assume) * PRICES["kms_key_month"]["usd"])
    table = next(v for k, v in quiet.items() if k.startswith("KMS aws/dynamodb"))
    assert table["requests"] == round(2 * assume["seconds_per_month"] / assume["kms"]["table_key_cache_seconds"])
    assert not any(k.startswith("custom metric ColdStart") for k in quiet)
    noisy = _model(cold_start_metric=True).estimate(_work())["fixed_usd_per_month"]
    cold = next(v for k, v in noisy.items() if k.startswith("custom metric ColdStart"))
    assert cold["usd"] == pytest.approx(2 * PRICES["cloudwatch_custom_metric"]["usd_per_metric_month"])


def test_all_in_adds_the_fixed_month_scaled_to_ten_thousand_orders() -> None:
    result = _model().estimate(_work())
    orders = result["orders_per_month"]
    assert result["all_in_usd_per_10k_orders"] == pytest.approx(
        result["variable_total_usd"] + result["fixed_total_usd"] * PER / orders, abs=1e-3)
    assert result["target_met"] == (result["all_in_usd_per_10k_orders"] <= TARGET_USD)


def test_snapstart_is_priced_per_published_version_month_and_per_restore() -> None:
    template = load_yaml(ROOT / "template.yaml")
    assert Observability.read(template, {}, ROOT).snapstart == SNAPSTART_BY_DEFAULT
    # Deployed with BrowsingSnapStart=PublishedVersions, the other hot functions keep one too.
    assert Observability.read(template, {"BrowsingSnapStart": "PublishedVersions"}, ROOT).snapstart == \
        SNAPSTART_FUNCTIONS
    # Deployed with HotPathSnapStart=None, no function keeps a snapshot (and no cache is billed).
    assert Observability.read(template, {"HotPathSnapStart": "None"}, ROOT).snapstart == set()
    plain = _model().estimate(_work())
    assert not any(k.startswith("SnapStart") for k in plain["fixed_usd_per_month"])
    month = ASSUME["seconds_per_month"] * PRICES["lambda_snapstart_cache_gb_second"]["usd"]
    assert plain["snapstart"]["cache_usd_per_function_month_at_256_mb"] == pytest.approx(month / 4, abs=1e-4)
    snapped = _model(snapstart=frozenset({"Api"})).estimate(_work())
    cache = next(v for k, v in snapped["fixed_usd_per_month"].items() if k.startswith("SnapStart cache of Api"))
    assert cache["usd"] == pytest.approx(month, abs=1e-4)  # the test template's functions have 1024 MB
    assert snapped["fixed_total_usd"] == pytest.approx(plain["fixed_total_usd"] + cache["usd"], abs=1e-3)
    # Each new environment of a SnapStart function is a restore of its memory (1 GB here), at the cold-start share.
    restores = PER * ASSUME["lambda_duration"]["cold_start_share"]  # one Api invocation an order
    assert snapped["snapstart"]["restores_per_10k_orders"] == pytest.approx(restores)
    assert snapped["variable_usd_per_10k_orders"]["snapstart_restores"] == pytest.approx(
        restores * PRICES["lambda_snapstart_restore_gb"]["usd"], abs=1e-4)
    assert "snapstart_restores" not in plain["variable_usd_per_10k_orders"]


# -- what the fixed month counts: published metrics, idle pollers, and the month spread over volumes --


def _metered(published: frozenset[str], **metrics: Any) -> dict[str, Any]:
    inputs = json.loads(json.dumps(INPUTS))
    inputs["assumptions"]["requests_per_order"] = {}
    inputs["assumptions"]["metrics"]["business_per_order"] = metrics
    inputs["assumptions"]["metrics"]["every_run_of_schedule"] = {"Sweeper": ["SweptA", "SweptB"]}
    template = _template(1.0)
    template.schedules.append(ScheduleSpec("Sweeper", "Every", "rate(1 hour)", None, True, "ScheduleV2"))
    return CostModel(inputs, template, _facts(), published).estimate(_work())["fixed_usd_per_month"]


def _usd(fixed: dict[str, Any], prefix: str) -> float:
    return float(next(v["usd"] for k, v in fixed.items() if k.startswith(prefix)))


def test_only_the_published_counts_are_billed_as_metrics() -> None:
    metric = PRICES["cloudwatch_custom_metric"]["usd_per_metric_month"]
    hours = ASSUME["seconds_per_month"] / 3600
    per_hour = ASSUME["orders_per_month"] / hours
    everything = _metered(frozenset({"Read", "Unread", "SweptA", "SweptB"}), Read=1, Unread=1)
    published = _metered(frozenset({"Read", "SweptA"}), Read=1, Unread=1)
    assert _usd(everything, "custom metrics (EMF) of the order flow") == pytest.approx(
        2 * hours_active(per_hour) * metric, abs=1e-3)
    flow = next(v for k, v in published.items() if k.startswith("custom metrics (EMF) of the order flow"))
    assert flow["usd"] == pytest.approx(hours_active(per_hour) * metric, abs=1e-3)
    assert flow["published"] == ["Read"] and flow["logged_only"] == ["Unread"]
    # An hourly schedule's every-run count receives data in 1 - 1/e of the hours (the Poisson model).
    assert _usd(everything, "custom metrics (EMF) the schedules") == pytest.approx(2 * hours_active(1.0) * metric,
                                                                                  abs=1e-3)
    assert _usd(published, "custom metrics (EMF) the schedules") == pytest.approx(hours_active(1.0) * metric,
                                                                                 abs=1e-3)
    assert _usd(_metered(frozenset(), Read=1), "custom metrics (EMF) of the order flow") == 0.0


def test_the_model_bills_the_metrics_the_code_publishes() -> None:
    from mall.observability import PUBLISHED_METRICS
    model = CostModel(INPUTS, _template(1.0), _facts())
    assert model.published == PUBLISHED_METRICS
    flow = next(v for k, v in model.estimate(_work())["fixed_usd_per_month"].items()
                if k.startswith("custom metrics (EMF) of the order flow"))
    assert "PaidAmountFen" in flow["published"] and "OrdersPlaced" in flow["logged_only"]


def test_an_idle_queue_is_polled_by_two_pollers_or_five_under_maximum_concurrency() -> None:
    sqs = ASSUME["sqs"]
    assert (sqs["idle_pollers_per_queue"], sqs["idle_pollers_with_maximum_concurrency"]) == (2, 5)
    assert Observability.read(load_yaml(ROOT / "template.yaml"), {}, ROOT).capped_queues == {
        "ExportQueue", "SettlementQueue"}
    polls = ASSUME["seconds_per_month"] / sqs["long_poll_seconds"]
    price = PRICES["sqs_request"]["usd_per_million"] / 1e6
    free = _model().estimate(_work())["fixed_usd_per_month"]
    assert _usd(free, "idle polling of Q (2 pollers)") == pytest.approx(2 * polls * price, abs=1e-4)
    capped = _model(capped_queues=frozenset({"Q"})).estimate(_work())["fixed_usd_per_month"]
    assert _usd(capped, "idle polling of Q (5 pollers, maximum concurrency)") == pytest.approx(5 * polls * price,
                                                                                               abs=1e-4)


def test_the_all_in_figure_at_larger_volumes_spreads_the_fixed_month_over_their_orders() -> None:
    rows = _model().at_volumes(_work(), (10_000, 1_000_000))
    assert [r["orders_per_month"] for r in rows] == [10_000, 1_000_000]
    for row in rows:
        spread = row["fixed_usd_per_month"] * PER / row["orders_per_month"]
        assert row["fixed_usd_per_10k_orders"] == pytest.approx(spread, abs=1e-3)
        assert row["all_in_usd_per_10k_orders"] == pytest.approx(
            row["variable_usd_per_10k_orders"] + row["fixed_usd_per_10k_orders"], abs=1e-3)
    assert rows[1]["all_in_usd_per_10k_orders"] < rows[0]["all_in_usd_per_10k_orders"]
