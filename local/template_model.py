"""The local model of the SAM template: what the local stack runs (functions and their HTTP
routes, schedules, stream and queue triggers; tables, queues and buckets), and the local stand-ins
for the account (region, account ID, stack name)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
