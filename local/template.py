"""Read the SAM template and resolve it for the local stack.

The template is loaded with a YAML loader that knows CloudFormation's short-form tags
(``!Ref``, ``!GetAtt``, ``!Sub``, ...) and turns them into their long form, then every
value the local stack needs is resolved with local stand-ins:

- ``AWS::Region`` is ``us-east-1``, ``AWS::AccountId`` ``000000000000``,
  ``AWS::StackName`` ``mall-local``;
- parameters take the override given, else their ``Default``;
- ``!Ref`` of a table is its local name, which is the logical ID; of a queue, its URL on
  the local SQS (moto); of a bucket, the logical ID in lower case; of anything else, the
  logical ID;
- ``!GetAtt X.Arn`` (and ``StreamArn``, ``QueueName``, ...) is a plausible local value.

Only what runs locally is modelled: functions and their events (HTTP API routes,
schedules, DynamoDB stream and SQS triggers), tables, queues and buckets.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import yaml

log = logging.getLogger("local.template")

REGION = "us-east-1"
ACCOUNT_ID = "000000000000"
STACK_NAME = "mall-local"

FUNCTION_TYPES = ("AWS::Serverless::Function", "AWS::Lambda::Function")
LAYER_TYPES = ("AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion")
TABLE_TYPES = ("AWS::DynamoDB::Table", "AWS::Serverless::SimpleTable")
QUEUE_TYPE = "AWS::SQS::Queue"
BUCKET_TYPE = "AWS::S3::Bucket"


class TemplateError(ValueError):
    """The template cannot be read or resolved for local use."""


# ---------------------------------------------------------------------------------------
# YAML with CloudFormation short-form tags
# ---------------------------------------------------------------------------------------


class CfnLoader(yaml.SafeLoader):
    """A safe YAML loader that turns ``!Tag value`` into ``{"Fn::Tag": value}``."""


def _tag_constructor(name: str) -> Callable[[yaml.SafeLoader, yaml.Node], Any]:
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
        value: Any
        if isinstance(node, yaml.ScalarNode):
            value = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        elif isinstance(node, yaml.MappingNode):
            value = loader.construct_mapping(node, deep=True)
        else:
            raise TemplateError(f"unexpected YAML node for !{name}")
        if name == "Fn::GetAtt" and isinstance(value, str):
            logical, _, attribute = value.partition(".")
            value = [logical, attribute]
        return {name: value}

    return construct


for _tag in (
    "Base64", "Cidr", "FindInMap", "GetAtt", "GetAZs", "ImportValue", "Join", "Select",
    "Split", "Sub", "Transform", "If", "Equals", "Not", "And", "Or", "Length", "ToJsonString",
):  # fmt: skip
    CfnLoader.add_constructor(f"!{_tag}", _tag_constructor(f"Fn::{_tag}"))
CfnLoader.add_constructor("!Ref", _tag_constructor("Ref"))
CfnLoader.add_constructor("!Condition", _tag_constructor("Condition"))


def load_yaml(path: Path) -> dict[str, Any]:
    """Parse a CloudFormation/SAM template (YAML or JSON) into plain Python values."""
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=CfnLoader)  # noqa: S506 - safe loader subclass
    except yaml.YAMLError as exc:
        raise TemplateError(f"{path}: {exc}") from exc
    if not isinstance(data, dict):
        raise TemplateError(f"{path}: not a template (top level is not a mapping)")
    return cast(dict[str, Any], data)


# ---------------------------------------------------------------------------------------
# Intrinsic functions
# ---------------------------------------------------------------------------------------


class _NoValue:
    """``AWS::NoValue``: the enclosing property is removed."""

    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE = _NoValue()
_SUB_RE = re.compile(r"\$\{([^}]*)\}")


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


class Resolver:
    """Evaluates CloudFormation intrinsic functions with local stand-ins."""

    def __init__(
        self,
        template: Mapping[str, Any],
        parameters: Mapping[str, str] | None = None,
        *,
        sqs_endpoint: str | None = None,
    ) -> None:
        self.template = template
        self.resources: dict[str, Any] = dict(template.get("Resources") or {})
        self.sqs_endpoint = (sqs_endpoint or "http://127.0.0.1:${MOTO_PORT}").rstrip("/")
        self.parameters = self._parameter_values(parameters or {})
        self._conditions: dict[str, bool] = {}
        self._evaluating: set[str] = set()

    # -- names ----------------------------------------------------------------------------

    def _parameter_values(self, overrides: Mapping[str, str]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        declared = self.template.get("Parameters") or {}
        for name, declared_spec in declared.items():
            spec = declared_spec or {}
            if name in overrides:
                raw: Any = overrides[name]
            elif "Default" in spec:
                raw = spec["Default"]
            else:
                log.warning("parameter %s has no Default and no local override; using ''", name)
                raw = ""
            ptype = str(spec.get("Type", "String"))
            if ptype == "CommaDelimitedList" or ptype.startswith("List<"):
                values[name] = raw if isinstance(raw, list) else [s.strip() for s in str(raw).split(",")]
            else:
                values[name] = raw if isinstance(raw, str) else json.dumps(raw) if isinstance(raw, bool) else str(raw)
        for name, value in overrides.items():
            values.setdefault(name, value)
        return values

    def resource_type(self, logical_id: str) -> str:
        resource = self.resources.get(logical_id) or {}
        return str(resource.get("Type", ""))

    def physical_name(self, logical_id: str) -> str:
        """The local name of a resource (what ``!Ref`` gives, for most types)."""
        rtype = self.resource_type(logical_id)
        props = (self.resources.get(logical_id) or {}).get("Properties") or {}
        if rtype == BUCKET_TYPE:
            return logical_id.lower()
        if rtype == QUEUE_TYPE:
            fifo = _as_bool(self.resolve(props.get("FifoQueue", False)))
            return f"{logical_id}.fifo" if fifo else logical_id
        if rtype in FUNCTION_TYPES and isinstance(props.get("FunctionName"), str):
            return str(props["FunctionName"])
        return logical_id

    def queue_url(self, logical_id: str) -> str:
        return f"{self.sqs_endpoint}/{ACCOUNT_ID}/{self.physical_name(logical_id)}"

    def arn(self, logical_id: str) -> str:  # noqa: PLR0911 - one ARN format per type
        rtype = self.resource_type(logical_id)
        name = self.physical_name(logical_id)
        if rtype in TABLE_TYPES:
            return f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/{name}"
        if rtype == QUEUE_TYPE:
            return f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{name}"
        if rtype == BUCKET_TYPE:
            return f"arn:aws:s3:::{name}"
        if rtype in FUNCTION_TYPES:
            return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}"
        if rtype in LAYER_TYPES:
            return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:layer:{name}:1"
        if rtype == "AWS::IAM::Role":
            return f"arn:aws:iam::{ACCOUNT_ID}:role/{name}"
        if rtype == "AWS::Logs::LogGroup":
            return f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:{name}:*"
        if rtype == "AWS::SNS::Topic":
            return f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:{name}"
        service = rtype.split("::")[1].lower() if rtype.count("::") >= 2 else "local"
        return f"arn:aws:{service}:{REGION}:{ACCOUNT_ID}:{name}"

    def ref(self, name: str) -> Any:
        pseudo: dict[str, Any] = {
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::StackName": STACK_NAME,
            "AWS::StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT_ID}:stack/{STACK_NAME}/local",
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NotificationARNs": [],
            "AWS::NoValue": NO_VALUE,
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.resources:
            if self.resource_type(name) == QUEUE_TYPE:
                return self.queue_url(name)
            return self.physical_name(name)
        raise TemplateError(f"!Ref {name}: no such parameter or resource")

    def get_att(self, logical_id: str, attribute: str) -> Any:  # noqa: PLR0911 - one value per attribute
        if logical_id not in self.resources:
            raise TemplateError(f"!GetAtt {logical_id}.{attribute}: no such resource")
        name = self.physical_name(logical_id)
        rtype = self.resource_type(logical_id)
        if attribute == "Arn":
            return self.arn(logical_id)
        if attribute in ("StreamArn", "LatestStreamArn"):
            return f"{self.arn(logical_id)}/stream/1970-01-01T00:00:00.000"
        if attribute == "LatestStreamLabel":
            return "1970-01-01T00:00:00.000"
        if rtype == QUEUE_TYPE:
            if attribute == "QueueName":
                return name
            if attribute == "QueueUrl":
                return self.queue_url(logical_id)
        if rtype == BUCKET_TYPE:
            if attribute in ("DomainName", "RegionalDomainName"):
                return f"{name}.s3.amazonaws.com"
            if attribute == "WebsiteURL":
                return f"http://{name}.s3-website-{REGION}.amazonaws.com"
        if attribute in ("Name", "TableName", "FunctionName"):
            return name
        return f"{logical_id}.{attribute}"

    # -- conditions -----------------------------------------------------------------------

    def condition(self, name: str) -> bool:
        if name in self._conditions:
            return self._conditions[name]
        conditions = self.template.get("Conditions") or {}
        if name not in conditions:
            raise TemplateError(f"condition {name} is not declared")
        if name in self._evaluating:
            raise TemplateError(f"condition {name} refers to itself")
        self._evaluating.add(name)
        try:
            value = _as_bool(self.resolve(conditions[name]))
        finally:
            self._evaluating.discard(name)
        self._conditions[name] = value
        return value

    def resource_enabled(self, logical_id: str) -> bool:
        cond = (self.resources.get(logical_id) or {}).get("Condition")
        return True if cond is None else self.condition(str(cond))

    # -- evaluation -----------------------------------------------------------------------

    def resolve(self, value: Any) -> Any:
        """Evaluate every intrinsic function in ``value``; ``AWS::NoValue`` entries vanish."""
        if isinstance(value, list):
            items = [self.resolve(v) for v in value]
            return [v for v in items if v is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            key, arg = next(iter(value.items()))
            if key == "Ref":
                return self.ref(str(self.resolve(arg)))
            if key == "Condition" and isinstance(arg, str):
                return self.condition(arg)
            if key.startswith("Fn::"):
                return self._function(key[4:], arg)
        resolved = {k: self.resolve(v) for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}

    def _function(self, name: str, arg: Any) -> Any:  # noqa: PLR0911, PLR0912 - a dispatch table
        if name == "GetAtt":
            parts = arg.split(".", 1) if isinstance(arg, str) else [self.resolve(a) for a in arg]
            return self.get_att(str(parts[0]), ".".join(str(p) for p in parts[1:]))
        if name == "Sub":
            return self._sub(arg)
        if name == "Join":
            sep, items = arg
            values = self.resolve(items)
            return str(self.resolve(sep)).join(_to_str(v) for v in values)
        if name == "If":
            cond, when_true, when_false = arg
            return self.resolve(when_true if self.condition(str(cond)) else when_false)
        if name == "Equals":
            left, right = self.resolve(arg)
            return _to_str(left) == _to_str(right)
        if name == "Not":
            return not _as_bool(self.resolve(arg)[0])
        if name == "And":
            return all(_as_bool(v) for v in self.resolve(arg))
        if name == "Or":
            return any(_as_bool(v) for v in self.resolve(arg))
        if name == "Select":
            index, items = self.resolve(arg)
            return items[int(index)]
        if name == "Split":
            sep, text = self.resolve(arg)
            return str(text).split(str(sep))
        if name == "FindInMap":
            map_name, top, second, *rest = self.resolve(arg)
            try:
                return (self.template.get("Mappings") or {})[map_name][top][second]
            except (KeyError, TypeError):
                if rest and isinstance(rest[0], dict) and "DefaultValue" in rest[0]:
                    return rest[0]["DefaultValue"]
                raise TemplateError(f"Fn::FindInMap: no {map_name}.{top}.{second}") from None
        if name == "GetAZs":
            return [f"{REGION}{z}" for z in "abc"]
        if name == "Base64":
            import base64

            return base64.b64encode(_to_str(self.resolve(arg)).encode()).decode()
        if name == "ToJsonString":
            return json.dumps(self.resolve(arg), separators=(",", ":"))
        if name == "Length":
            return len(self.resolve(arg))
        if name == "ImportValue":
            export = self.resolve(arg)
            log.warning("Fn::ImportValue %s cannot be resolved locally; using its name", export)
            return f"import:{export}"
        raise TemplateError(f"Fn::{name} is not supported by the local stack")

    def _sub(self, arg: Any) -> str:
        if isinstance(arg, list):
            text, variables = arg[0], {k: self.resolve(v) for k, v in (arg[1] or {}).items()}
        else:
            text, variables = arg, {}

        def replace(match: re.Match[str]) -> str:
            expr = match.group(1)
            if expr.startswith("!"):
                return "${" + expr[1:] + "}"
            if expr in variables:
                return _to_str(variables[expr])
            if "." in expr and not expr.startswith("AWS::"):
                logical, _, attribute = expr.partition(".")
                return _to_str(self.get_att(logical, attribute))
            return _to_str(self.ref(expr))

        return _SUB_RE.sub(replace, str(text))


def _to_str(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(_to_str(v) for v in value)
    return str(value)


# ---------------------------------------------------------------------------------------
# The local model of the template
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HttpRoute:
    function_id: str
    event_name: str
    method: str  # upper case, or "ANY"
    path: str  # "/orders/{id}" or "$default"
    api_id: str
    payload_format: str = "2.0"

    @property
    def route_key(self) -> str:
        return "$default" if self.path == "$default" else f"{self.method} {self.path}"


@dataclass(frozen=True)
class ScheduleSpec:
    function_id: str
    event_name: str
    expression: str
    input: str | None
    enabled: bool
    kind: str  # "Schedule" (EventBridge rule) or "ScheduleV2" (EventBridge Scheduler)
    timezone: str | None = None

    @property
    def resource_arn(self) -> str:
        name = f"{STACK_NAME}-{self.function_id}{self.event_name}"
        if self.kind == "ScheduleV2":
            return f"arn:aws:scheduler:{REGION}:{ACCOUNT_ID}:schedule/default/{name}"
        return f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/{name}"


@dataclass(frozen=True)
class StreamTrigger:
    function_id: str
    event_name: str
    table_id: str
    starting_position: str = "LATEST"
    batch_size: int = 100
    batching_window_s: float = 0.0
    filters: tuple[dict[str, Any], ...] = ()
    report_batch_item_failures: bool = False
    max_retry_attempts: int = -1  # -1: until the record expires, as in AWS
    bisect_on_error: bool = False
    enabled: bool = True


@dataclass(frozen=True)
class QueueTrigger:
    function_id: str
    event_name: str
    queue_id: str
    batch_size: int = 10
    batching_window_s: float = 0.0
    filters: tuple[dict[str, Any], ...] = ()
    report_batch_item_failures: bool = False
    enabled: bool = True


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    name: str
    code_dir: Path
    handler: str
    runtime: str
    environment: dict[str, str]
    memory_mb: int = 128
    timeout_s: float = 3.0
    layer_dirs: tuple[Path, ...] = ()

    @property
    def arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{self.name}"


@dataclass(frozen=True)
class TableSpec:
    logical_id: str
    name: str
    properties: dict[str, Any]


@dataclass(frozen=True)
class QueueSpec:
    logical_id: str
    name: str
    properties: dict[str, Any]


@dataclass(frozen=True)
class BucketSpec:
    logical_id: str
    name: str


@dataclass
class Template:
    """The parts of a SAM template that the local stack runs."""

    path: Path
    root: Path
    functions: dict[str, FunctionSpec] = field(default_factory=dict)
    routes: list[HttpRoute] = field(default_factory=list)
    schedules: list[ScheduleSpec] = field(default_factory=list)
    stream_triggers: list[StreamTrigger] = field(default_factory=list)
    queue_triggers: list[QueueTrigger] = field(default_factory=list)
    tables: dict[str, TableSpec] = field(default_factory=dict)
    queues: dict[str, QueueSpec] = field(default_factory=dict)
    buckets: dict[str, BucketSpec] = field(default_factory=dict)
    layer_dirs: dict[str, Path] = field(default_factory=dict)

    def function(self, name: str) -> FunctionSpec:
        """A function by logical ID, or by the name of its directory under ``functions/``."""
        if name in self.functions:
            return self.functions[name]
        wanted = name.rstrip("/").split("/")[-1]
        for spec in self.functions.values():
            if spec.code_dir.name == wanted:
                return spec
        known = ", ".join(sorted(self.functions))
        raise KeyError(f"no function {name!r} in {self.path.name} (known: {known})")


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


def _target_id(value: Any, what: str) -> str:
    """The logical ID behind ``!Ref X`` / ``!GetAtt X.Arn`` in an event source property."""
    if isinstance(value, dict):
        if "Ref" in value:
            return str(value["Ref"])
        if "Fn::GetAtt" in value:
            att = value["Fn::GetAtt"]
            return str(att[0] if isinstance(att, list) else str(att).split(".")[0])
    raise TemplateError(f"{what}: only !Ref / !GetAtt of a resource in this template is supported locally")


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
