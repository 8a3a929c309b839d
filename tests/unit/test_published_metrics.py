"""Only the custom metrics an alarm or the money dashboard reads become CloudWatch metrics (each one is
billed a month); every other count the code makes is a field of the invocation's ``counts`` log line."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.cfn_yaml import load_yaml
from mall import observability
from mall.observability import logger as mall_logger
from mall.observability import metrics
from tests.conftest import TEMPLATE

ROOT = Path(__file__).resolve().parents[2]
RESOURCES: dict[str, Any] = load_yaml(TEMPLATE)["Resources"]
CODE = {p: p.read_text(encoding="utf-8") for d in ("functions", "layers/shared/mall") for p in (ROOT / d).rglob("*.py")}


def _alarm_metrics() -> set[str]:
    names = set()
    for resource in RESOURCES.values():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::CloudWatch::Alarm" and isinstance(props.get("Namespace"), dict):
            names.add(str(props["MetricName"]))  # a !Sub of Mall/${Stage}: the stack's own namespace
    return names


def _dashboard_metrics() -> set[str]:
    """The metric names of the dashboards' widgets in the stack's own namespace (``${Namespace}``, and
    ``"."`` rows repeating it)."""
    names = set()
    for resource in RESOURCES.values():
        if resource["Type"] != "AWS::CloudWatch::Dashboard":
            continue
        body = resource["Properties"]["DashboardBody"]["Fn::Sub"][0]
        widgets = json.loads(re.sub(r"\$\{([^}]+)\}", r"\1", body))["widgets"]
        for widget in widgets:
            namespace = None
            for row in widget["properties"].get("metrics", []):
                namespace = namespace if row[0] in {".", "..."} else row[0]
                if namespace == "Namespace":
                    names.add(row[1])
    return names


class Output:
    """What a flush writes: the EMF lines (printed) and the mall logger's lines (JSON, as in Lambda)."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys
        self.sink = io.StringIO()

    def lines(self) -> list[dict[str, Any]]:
        """The lines written since the last call."""
        text = self.sink.getvalue() + self.capsys.readouterr().out
        self.sink.seek(0)
        self.sink.truncate()
        # The logger may write to the captured stdout as well as to the sink: each line once.
        return [json.loads(line) for line in dict.fromkeys(text.splitlines()) if line.startswith("{")]


@pytest.fixture
def output(capsys: pytest.CaptureFixture[str]) -> Iterator[Output]:
    out = Output(capsys)
    handler = logging.StreamHandler(out.sink)
    handler.setFormatter(mall_logger.registered_formatter)
    target = logging.getLogger(mall_logger.name)
    target.addHandler(handler)
    capsys.readouterr()
    yield out
    target.removeHandler(handler)


def test_the_published_metrics_are_exactly_those_an_alarm_or_the_dashboard_reads() -> None:
    read = _alarm_metrics() | _dashboard_metrics()
    assert {"UnhandledErrors", "LedgerMismatches", "PayoutsStuck", "PaidAmountFen"} <= read
    assert read == observability.PUBLISHED_METRICS


def test_the_dashboard_counts_paid_orders_as_the_samples_of_the_paid_amount() -> None:
    """One metric for both figures: the payment records one PaidAmountFen value per order paid, so its
    SampleCount is the number of orders; a separate OrdersPaid metric would be billed for nothing."""
    body = RESOURCES["MoneyDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"][0]
    widget = next(w for w in json.loads(re.sub(r"\$\{([^}]+)\}", r"\1", body))["widgets"]
                  if w["properties"].get("title") == "Paid (fen) and paid orders")
    rows = widget["properties"]["metrics"]
    assert [row[1] for row in rows] == ["PaidAmountFen", "PaidAmountFen"]
    assert rows[1][-1]["stat"] == "SampleCount"
    assert "OrdersPaid" not in observability.PUBLISHED_METRICS
    payments = (ROOT / "layers/shared/mall/services/payments.py").read_text(encoding="utf-8")
    assert payments.count('add_metric(name="PaidAmountFen"') == 1  # once per order marked paid


def test_every_published_metric_is_emitted_by_the_code() -> None:
    code = "\n".join(CODE.values())
    for name in observability.PUBLISHED_METRICS:
        assert re.search(rf'add_metric\(name="{name}"', code), f"no code emits {name}"


def test_no_code_publishes_around_the_filter() -> None:
    """``single_metric`` and a second ``Metrics()`` would each publish whatever they are given."""
    for path, text in CODE.items():
        assert "single_metric" not in text, path
        if path.name != "observability.py":
            assert not re.search(r"\bMetrics\(", text), path


def test_a_count_no_alarm_reads_is_logged_and_a_read_one_is_a_metric(output: Output) -> None:
    @metrics.log_metrics
    def handler(event: dict[str, Any], context: object) -> None:
        metrics.add_metric(name="OrdersPlaced", unit="Count", value=1)
        metrics.add_metric(name="OrdersPlaced", unit="Count", value=2)
        metrics.add_metric(name="CustomerLogins", unit="Count", value=1)
        metrics.add_metric(name="PaidAmountFen", unit="Count", value=1990)

    handler({}, None)
    lines = output.lines()
    emf = [line for line in lines if "_aws" in line]
    assert [m["Name"] for line in emf for m in line["_aws"]["CloudWatchMetrics"][0]["Metrics"]] == ["PaidAmountFen"]
    assert all("OrdersPlaced" not in line for line in emf)
    counted = [line["counts"] for line in lines if line.get("message") == "counts"]
    assert counted == [{"OrdersPlaced": 3, "CustomerLogins": 1}]


def test_an_invocation_with_only_counts_writes_no_metric_and_counts_start_afresh(output: Output) -> None:
    @metrics.log_metrics
    def handler(event: dict[str, Any], context: object) -> None:
        metrics.add_metric(name="StatsChangesRedelivered", unit="Count", value=event["n"])

    handler({"n": 2}, None)
    handler({"n": 5}, None)
    lines = output.lines()
    assert not [line for line in lines if "_aws" in line]
    assert [line["counts"] for line in lines if line.get("message") == "counts"] == [
        {"StatsChangesRedelivered": 2}, {"StatsChangesRedelivered": 5}]


def test_a_metric_left_unflushed_by_one_test_is_gone_before_the_next() -> None:
    """The process has one ``Metrics``: what a test adds without a flush (a use case called without its
    handler) must not reach another test's flush. The per-test cache reset forgets it."""
    from tests.conftest import clear_caches

    metrics.add_metric(name="WithdrawalsPaid", unit="Count", value=1)
    metrics.add_metric(name="OrdersPlaced", unit="Count", value=1)
    clear_caches()
    provider = metrics.provider
    assert isinstance(provider, observability.PublishedOnly)
    assert not provider.metric_set
    assert not provider.counts
