"""What the production alarms read is really emitted, and every alarm is explained in docs/operations.md."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from local.cfn_yaml import load_yaml
from tests.conftest import TEMPLATE
from tests.unit.test_orders_handlers import Mall
from tests.unit.test_payouts import mall, run_reconcile, started  # noqa: F401 - the fixture

ROOT = Path(__file__).resolve().parents[2]
RESOURCES: dict[str, Any] = load_yaml(TEMPLATE)["Resources"]
ALARMS = {name: r["Properties"] for name, r in RESOURCES.items() if r["Type"] == "AWS::CloudWatch::Alarm"}
OPERATIONS = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")


def _emitted(output: str, name: str) -> list[float]:
    values: list[float] = []
    for line in output.splitlines():
        if '"_aws"' in line and f'"{name}"' in line:
            value = json.loads(line)[name]
            values += value if isinstance(value, list) else [value]
    return values


def _custom_metric_names() -> set[str]:
    names = {p["MetricName"] for p in ALARMS.values() if "MetricName" in p and isinstance(p.get("Namespace"), dict)}
    return {str(n) for n in names}


def test_the_payout_reconciler_reports_bills_still_stuck(
        mall: Mall, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    started(mall)
    capsys.readouterr()
    run_reconcile(mall, 5)  # not past stuck_bill_minutes yet: nothing stuck
    assert _emitted(capsys.readouterr().out, "PayoutsStuck") == [0]
    run_reconcile(mall, 31)  # past it, and the promoter has still not confirmed the bill
    assert _emitted(capsys.readouterr().out, "PayoutsStuck") == [1]


def test_every_custom_metric_an_alarm_reads_is_emitted_by_the_code() -> None:
    code = "\n".join(p.read_text(encoding="utf-8") for d in ("functions", "layers/shared/mall")
                     for p in (ROOT / d).rglob("*.py"))
    names = _custom_metric_names()
    assert names == {"UnhandledErrors", "LedgerMismatches", "PayoutsStuck", "FraudScanAdvanced"}
    for name in names:
        assert re.search(rf'add_metric\(name="{name}"', code), f"no code emits {name}"


def test_every_alarm_notifies_the_alerts_topic_and_is_explained_in_the_operations_doc() -> None:
    anchors = {re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-")
               for h in re.findall(r"^#+ (.+)$", OPERATIONS, re.M)}
    for name, props in ALARMS.items():
        assert props["AlarmActions"] == [{"Ref": "AlertsTopic"}], name
        link = re.search(r"docs/operations\.md#([a-z0-9-]+)", props["AlarmDescription"])
        assert link, f"{name}: its description names no section of docs/operations.md"
        assert link.group(1) in anchors, f"{name}: docs/operations.md has no section #{link.group(1)}"
        assert name in OPERATIONS, f"docs/operations.md does not name {name}"


def test_every_queue_parks_failures_in_a_watched_dead_letter_queue() -> None:
    watched = {m["MetricStat"]["Metric"]["Dimensions"][0]["Value"]["Fn::GetAtt"][0]
               for m in ALARMS["DeadLetterAlarm"]["Metrics"] if "MetricStat" in m}
    for name, resource in RESOURCES.items():
        if resource["Type"] == "AWS::SQS::Queue" and "RedrivePolicy" in resource.get("Properties", {}):
            target = resource["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
            assert target in watched, f"{name} parks failures in {target}, which no alarm watches"
        if resource["Type"] == "AWS::Serverless::Function":
            for event in resource["Properties"].get("Events", {}).values():
                on_failure = event.get("Properties", {}).get("DestinationConfig", {}).get("OnFailure")
                if on_failure:
                    target = on_failure["Destination"]["Fn::GetAtt"][0]
                    assert target in watched, f"{name}'s failed batches go to {target}, which no alarm watches"


def test_every_webhook_route_has_route_metrics_and_an_alarm() -> None:
    settings = RESOURCES["HttpApi"]["Properties"]["RouteSettings"]
    alarmed = {d["Value"] for alarm in ALARMS.values() if alarm.get("MetricName") == "5xx"
               for d in alarm.get("Dimensions", []) if d["Name"] == "Resource"}
    for resource in RESOURCES.values():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        for event in resource["Properties"].get("Events", {}).values():
            path = event.get("Properties", {}).get("Path", "")
            if event["Type"] == "HttpApi" and path.startswith("/webhooks/"):
                key = f"{event['Properties']['Method'].upper()} {path}"
                assert settings.get(key, {}).get("DetailedMetricsEnabled") is True, key
                assert path in alarmed, f"no alarm on 5xx of {key}"
