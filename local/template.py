"""Read the SAM template and resolve it for the local stack (``load_template``).

The template is loaded with a YAML loader that knows CloudFormation's short-form tags
(``cfn_yaml``), then every value the local stack needs is resolved with local stand-ins
(``intrinsics``) into the local model of the template (``template_model``).

Only what runs locally is modelled: functions and their events (HTTP API routes,
schedules, DynamoDB stream and SQS triggers), tables, queues and buckets.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from local.cfn_yaml import load_yaml
from local.intrinsics import Resolver, _as_bool
from local.template_model import (
    BUCKET_TYPE,
    LAYER_TYPES,
    QUEUE_TYPE,
    TABLE_TYPES,
    BucketSpec,
    FunctionSpec,
    HttpRoute,
    QueueSpec,
    QueueTrigger,
    ScheduleSpec,
    StreamTrigger,
    TableSpec,
    Template,
    TemplateError,
)

log = logging.getLogger("local.template")


def _merge_globals(global_props: Mapping[str, Any], props: Mapping[str, Any]) -> dict[str, Any]:
    """SAM's Globals merge: maps merge, lists add up, the resource wins for scalars."""
    merged: dict[str, Any] = dict(global_props)
    for key, value in props.items():
        base = merged.get(key)
        if isinstance(base, dict) and isinstance(value, dict) and not _is_intrinsic(value):
            merged[key] = _merge_globals(base, value)
        elif isinstance(base, list) and isinstance(value, list):
            merged[key] = [*base, *value]
        else:
            merged[key] = value
    return merged


def _is_intrinsic(value: Mapping[str, Any]) -> bool:
    return (len(value) == 1 and next(iter(value)) in ("Ref", "Condition")) or any(k.startswith("Fn::") for k in value)


def _env_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def referenced_id(value: Any) -> str | None:
    """The logical ID behind ``!Ref X`` / ``!GetAtt X.Arn`` (None: not a reference)."""
    if isinstance(value, dict):
        if "Ref" in value:
            return str(value["Ref"])
        if "Fn::GetAtt" in value:
            att = value["Fn::GetAtt"]
            return str(att[0] if isinstance(att, list) else str(att).split(".")[0])
    return None


def _target_id(value: Any, what: str) -> str:
    """The logical ID behind ``!Ref X`` / ``!GetAtt X.Arn`` in an event source property."""
    found = referenced_id(value)
    if found is None:
        raise TemplateError(f"{what}: only !Ref / !GetAtt of a resource in this template is supported locally")
    return found


def _filters(props: Mapping[str, Any]) -> tuple[dict[str, Any], ...]:
    criteria = props.get("FilterCriteria") or {}
    patterns: list[dict[str, Any]] = []
    for item in criteria.get("Filters") or []:
        pattern = item.get("Pattern")
        if isinstance(pattern, str):
            try:
                patterns.append(json.loads(pattern))
            except json.JSONDecodeError as exc:
                raise TemplateError(f"FilterCriteria pattern is not JSON: {pattern!r}") from exc
        elif isinstance(pattern, dict):
            patterns.append(pattern)
    return tuple(patterns)


def load_template(
    path: Path,
    *,
    parameters: Mapping[str, str] | None = None,
    sqs_endpoint: str | None = None,
) -> Template:
    """Load ``path`` and resolve it into the local model."""
    raw = load_yaml(path)
    resolver = Resolver(raw, parameters, sqs_endpoint=sqs_endpoint)
    root = path.parent.resolve()
    model = Template(path=path.resolve(), root=root)
    resources: dict[str, Any] = raw.get("Resources") or {}
    globals_fn = ((raw.get("Globals") or {}).get("Function")) or {}

    for logical_id, resource in resources.items():
        rtype = resource.get("Type")
        if not resolver.resource_enabled(logical_id):
            continue
        props = resource.get("Properties") or {}
        if rtype in LAYER_TYPES:
            content = resolver.resolve(props.get("ContentUri") or props.get("Content") or "")
            if isinstance(content, str):
                model.layer_dirs[logical_id] = (root / content).resolve()
        elif rtype in TABLE_TYPES:
            name = resolver.physical_name(logical_id)
            model.tables[logical_id] = TableSpec(logical_id, name, resolver.resolve(props))
        elif rtype == QUEUE_TYPE:
            name = resolver.physical_name(logical_id)
            model.queues[logical_id] = QueueSpec(logical_id, name, resolver.resolve(props))
        elif rtype == BUCKET_TYPE:
            model.buckets[logical_id] = BucketSpec(logical_id, resolver.physical_name(logical_id))

    for logical_id, resource in resources.items():
        if resource.get("Type") != "AWS::Serverless::Function" or not resolver.resource_enabled(logical_id):
            continue
        props = _merge_globals(globals_fn, resource.get("Properties") or {})
        _add_function(model, resolver, logical_id, props)
    return model


def _add_function(model: Template, resolver: Resolver, logical_id: str, props: dict[str, Any]) -> None:
    code_uri = resolver.resolve(props.get("CodeUri", "."))
    if not isinstance(code_uri, str):
        raise TemplateError(f"{logical_id}: CodeUri must be a local directory")
    env_vars = resolver.resolve(((props.get("Environment") or {}).get("Variables")) or {})
    layers: list[Path] = []
    for layer in props.get("Layers") or []:
        if isinstance(layer, dict) and "Ref" in layer and layer["Ref"] in model.layer_dirs:
            layers.append(model.layer_dirs[layer["Ref"]])
        else:
            log.debug("%s: layer %r is not built from this template; ignored locally", logical_id, layer)
    spec = FunctionSpec(
        logical_id=logical_id,
        name=resolver.physical_name(logical_id),
        code_dir=(model.root / code_uri).resolve(),
        handler=str(resolver.resolve(props.get("Handler", "app.handler"))),
        runtime=str(resolver.resolve(props.get("Runtime", "python3.13"))),
        environment={k: _env_value(v) for k, v in env_vars.items()},
        memory_mb=int(resolver.resolve(props.get("MemorySize", 128))),
        timeout_s=float(resolver.resolve(props.get("Timeout", 3))),
        layer_dirs=tuple(layers),
    )
    model.functions[logical_id] = spec
    for event_name, event in (props.get("Events") or {}).items():
        _add_event(model, resolver, spec, event_name, event or {})


def _add_event(
    model: Template, resolver: Resolver, spec: FunctionSpec, event_name: str, event: Mapping[str, Any]
) -> None:
    etype = event.get("Type")
    raw_props: Mapping[str, Any] = event.get("Properties") or {}
    where = f"{spec.logical_id}.Events.{event_name}"
    if etype == "HttpApi":
        props = resolver.resolve(dict(raw_props))
        path = str(props.get("Path", "$default"))
        method = str(props.get("Method", "ANY")).upper()
        api_ref = raw_props.get("ApiId")
        api_id = _target_id(api_ref, where) if api_ref is not None else "ServerlessHttpApi"
        model.routes.append(
            HttpRoute(
                function_id=spec.logical_id,
                event_name=event_name,
                method="ANY" if path == "$default" else method,
                path=path,
                api_id=api_id,
                payload_format=str(props.get("PayloadFormatVersion", "2.0")),
            )
        )
    elif etype in ("Schedule", "ScheduleV2"):
        props = resolver.resolve(dict(raw_props))
        if etype == "Schedule":
            expression = props.get("Schedule")
            enabled = _as_bool(props.get("Enabled", True)) and str(props.get("State", "ENABLED")) != "DISABLED"
        else:
            expression = props.get("ScheduleExpression")
            enabled = str(props.get("State", "ENABLED")) != "DISABLED"
        if not isinstance(expression, str):
            raise TemplateError(f"{where}: no schedule expression")
        raw_input = props.get("Input")
        if raw_input is not None and not isinstance(raw_input, str):
            raw_input = json.dumps(raw_input)
        model.schedules.append(
            ScheduleSpec(
                function_id=spec.logical_id,
                event_name=event_name,
                expression=expression.strip(),
                input=raw_input,
                enabled=enabled,
                kind=str(etype),
                timezone=props.get("ScheduleExpressionTimezone"),
            )
        )
    elif etype == "DynamoDB":
        props = resolver.resolve({k: v for k, v in raw_props.items() if k != "Stream"})
        table_id = _target_id(raw_props.get("Stream"), f"{where}.Stream")
        if table_id not in model.tables:
            raise TemplateError(f"{where}: {table_id} is not a table of this template")
        model.stream_triggers.append(
            StreamTrigger(
                function_id=spec.logical_id,
                event_name=event_name,
                table_id=table_id,
                starting_position=str(props.get("StartingPosition", "LATEST")),
                batch_size=int(props.get("BatchSize", 100)),
                batching_window_s=float(props.get("MaximumBatchingWindowInSeconds", 0)),
                filters=_filters(props),
                report_batch_item_failures="ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or []),
                max_retry_attempts=int(props.get("MaximumRetryAttempts", -1)),
                bisect_on_error=_as_bool(props.get("BisectBatchOnFunctionError", False)),
                enabled=_as_bool(props.get("Enabled", True)),
            )
        )
    elif etype == "SQS":
        props = resolver.resolve({k: v for k, v in raw_props.items() if k != "Queue"})
        queue_id = _target_id(raw_props.get("Queue"), f"{where}.Queue")
        if queue_id not in model.queues:
            raise TemplateError(f"{where}: {queue_id} is not a queue of this template")
        model.queue_triggers.append(
            QueueTrigger(
                function_id=spec.logical_id,
                event_name=event_name,
                queue_id=queue_id,
                batch_size=int(props.get("BatchSize", 10)),
                batching_window_s=float(props.get("MaximumBatchingWindowInSeconds", 0)),
                filters=_filters(props),
                report_batch_item_failures="ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or []),
                enabled=_as_bool(props.get("Enabled", True)),
            )
        )
    else:
        log.info("%s: event type %s is not run by the local stack", where, etype)
