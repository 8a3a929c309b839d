"""What the stack pays to be observed and to keep personal data sealed: X-Ray traces, CloudWatch
Logs, CloudWatch custom metrics (EMF) and KMS, read from template.yaml and the shared layer.

The facts come from the template (tracing mode per function, log levels, log groups and their
retention, customer managed keys and their rotation, the table's encryption, which roles may use
the personal-data key) and from the two entry points (whether they emit Powertools' ``ColdStart``
metric); the prices and the remaining assumptions from bench/prices.json. bench/cost.py turns
them into line items."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local.template import referenced_id

#: The entry points whose ``log_metrics(capture_cold_start_metric=...)`` decides the ColdStart metric.
ENTRY_POINTS = ("layers/shared/mall/api/http.py", "layers/shared/mall/workers.py")
GB = 1024**3
_INFO_AND_BELOW = {"TRACE", "DEBUG", "INFO"}


@dataclass(frozen=True)
class Observability:
    functions: frozenset[str]
    traced: frozenset[str]  # Tracing: Active (Lambda samples and records the invocation itself)
    system_log_level: str  # Lambda's platform lines (start, report) are INFO: dropped above it
    function_log_retention_days: int | None  # None: the log groups Lambda creates never expire
    access_log_retention_days: int | None
    pii_functions: frozenset[str]  # may call KMS GenerateDataKey / Decrypt on a customer managed key
    kms_keys: tuple[tuple[str, bool], ...]  # (logical id, automatic rotation on)
    table_key_principals: int  # roles using a table encrypted under the AWS managed aws/dynamodb key
    cold_start_metric: bool
    snapstart: frozenset[str] = frozenset()  # SnapStart ApplyOn: PublishedVersions (billed per version kept)
    # Queues whose event source mapping sets ScalingConfig.MaximumConcurrency: Lambda keeps more pollers on them
    capped_queues: frozenset[str] = frozenset()

    @classmethod
    def read(cls, raw: Mapping[str, Any], parameters: Mapping[str, str], root: Path) -> Observability:
        """``raw``: template.yaml as loaded by ``local.cfn_yaml.load_yaml`` (tags kept as Ref/Sub/...)."""
        resources: Mapping[str, Any] = raw.get("Resources", {})
        globals_fn: Mapping[str, Any] = raw.get("Globals", {}).get("Function", {})
        functions = {name: r.get("Properties", {}) for name, r in resources.items()
                     if r.get("Type") == "AWS::Serverless::Function"}
        traced = {name for name, props in functions.items()
                  if props.get("Tracing", globals_fn.get("Tracing", "PassThrough")) == "Active"}
        logging = {**globals_fn.get("LoggingConfig", {})}
        system_level = str(_value(logging.get("SystemLogLevel", "INFO"), raw, parameters)).upper()
        function_retention = None
        if "LogGroup" in logging:  # one shared group: its retention applies
            group = resources.get(referenced_id(logging["LogGroup"]) or "", {})
            function_retention = _retention(group, raw, parameters)
        access_retention: int | None = None
        for resource in resources.values():
            if resource.get("Type") == "AWS::Serverless::HttpApi":
                target = resource["Properties"].get("AccessLogSettings", {}).get("DestinationArn")
                group = resources.get(referenced_id(target) or "", {})
                access_retention = _retention(group, raw, parameters)
        keys = tuple((name, bool(r.get("Properties", {}).get("EnableKeyRotation", False)))
                     for name, r in resources.items() if r.get("Type") == "AWS::KMS::Key")
        key_roles = {name for name, r in resources.items() if r.get("Type") == "AWS::IAM::Role"
                     and _grants_kms(r, {k for k, _ in keys})}
        pii = {name for name, props in functions.items() if referenced_id(props.get("Role")) in key_roles}
        table_principals = 0
        for resource in resources.values():
            sse = resource.get("Properties", {}).get("SSESpecification", {})
            managed = str(_value(sse.get("SSEEnabled", False), raw, parameters)).lower() == "true"
            if resource.get("Type") == "AWS::DynamoDB::Table" and managed and "KMSMasterKeyId" not in sse:
                table_principals = len({referenced_id(p.get("Role")) for p in functions.values()} - {None})
        cold_start = any("capture_cold_start_metric=True" in (root / path).read_text(encoding="utf-8")
                         for path in ENTRY_POINTS if (root / path).is_file())
        snapstart = {name for name, props in functions.items()
                     if _value((props.get("SnapStart") or globals_fn.get("SnapStart") or {}).get("ApplyOn"),
                               raw, parameters) == "PublishedVersions"}
        capped = {referenced_id(event.get("Properties", {}).get("Queue")) for props in functions.values()
                  for event in (props.get("Events") or {}).values() if event.get("Type") == "SQS"
                  and (event.get("Properties", {}).get("ScalingConfig") or {}).get("MaximumConcurrency")}
        return cls(frozenset(functions), frozenset(traced), system_level, function_retention, access_retention,
                   frozenset(pii), keys, table_principals, cold_start, frozenset(snapstart),
                   frozenset(q for q in capped if q))


def _value(value: Any, raw: Mapping[str, Any], parameters: Mapping[str, str]) -> Any:
    name = referenced_id(value)
    if name is None:
        return value
    if name in parameters:
        return parameters[name]
    return raw.get("Parameters", {}).get(name, {}).get("Default")


def _retention(group: Mapping[str, Any], raw: Mapping[str, Any], parameters: Mapping[str, str]) -> int | None:
    days = _value(group.get("Properties", {}).get("RetentionInDays"), raw, parameters)
    return None if days in (None, "") else int(days)


def _grants_kms(role: Mapping[str, Any], keys: set[str]) -> bool:
    for policy in role.get("Properties", {}).get("Policies", []):
        for statement in policy.get("PolicyDocument", {}).get("Statement", []):
            actions = statement.get("Action", [])
            actions = [actions] if isinstance(actions, str) else actions
            resources = statement.get("Resource", [])
            resources = resources if isinstance(resources, list) else [resources]
            if any(str(a).startswith("kms:") for a in actions) and any(referenced_id(r) in keys for r in resources):
                return True
    return False


# -- the arithmetic ------------------------------------------------------------------------------


def sampled_share(per_second: float, reservoir: float, rate: float) -> float:
    """The share of invocations X-Ray records at ``per_second`` invocations a second under a
    rule of ``reservoir`` a second plus ``rate`` of the rest (Lambda's fixed 1/s + 5%)."""
    if per_second <= 0:
        return 1.0
    recorded = min(per_second, reservoir) + rate * max(0.0, per_second - reservoir)
    return recorded / per_second


def platform_log_bytes(facts: Observability, function: str, assume: Mapping[str, Any]) -> float:
    """The bytes of Lambda's own lines (platform.start, platform.report) one invocation adds."""
    if facts.system_log_level not in _INFO_AND_BELOW:
        return 0.0
    logs = assume["logs"]
    size = float(logs["platform_bytes_per_invocation"])
    if function in facts.traced:
        size += float(logs["platform_tracing_bytes_per_invocation"])
    return size


def stored_gb(monthly_gb: float, retention_days: int | None, assume: Mapping[str, Any]) -> float:
    """GB stored in steady state (billed compressed): a month's ingestion times the months kept;
    a group that never expires is counted at ``months_kept_when_never_expiring``."""
    logs = assume["logs"]
    months = float(logs["months_kept_when_never_expiring"]) if retention_days is None else retention_days / 30
    return monthly_gb * months * float(logs["stored_compressed_ratio"])


def key_months(rotation: bool, assume: Mapping[str, Any]) -> int:
    """Billed key-months of one customer managed key in a month: the key, plus one per yearly
    rotation so far up to the cap (KMS stopped charging from the third rotation on, 2024-05)."""
    if not rotation:
        return 1
    kms = assume["kms"]
    return 1 + min(int(kms["rotations_billed_cap"]), int(kms["years_in_service"]))


def hours_active(per_hour: float) -> float:
    """The share of a month's hours with at least one event at ``per_hour`` events an hour (Poisson):
    a custom metric is billed for the hours it receives data."""
    return 1.0 - math.exp(-per_hour) if per_hour > 0 else 0.0
