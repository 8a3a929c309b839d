"""The whole local stack: DynamoDB Local, moto (SQS, S3), the WeChat sandbox, the HTTP
API, schedules, and stream and queue triggers, for one template.

``python -m local run`` and ``local.testing.local_stack`` both drive this class.

Environment of a function, lowest precedence first: the template (Globals, then the
function's own ``Environment.Variables``), ``env.json``'s ``Parameters``, ``env.json``'s
entry for the function's logical ID, ``extra_env``; then the variables Lambda sets
itself. Unlike ``sam local --env-vars``, ``env.json`` adds variables the template does
not declare. ``${DYNAMODB_PORT}``, ``${SANDBOX_PORT}``, ``${MOTO_PORT}``, ``${API_PORT}``,
``${DATA_DIR}`` and ``${ROOT}`` are expanded in every value.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from local import dynamodb, hooks
from local.apigw import ApiGateway
from local.lambda_runtime import HandlerError, Invocation, LambdaRuntime
from local.queues import MotoServer, QueuePoller, ensure_buckets, ensure_queues
from local.sandbox_server import SandboxServer
from local.scheduler import Scheduler, scheduled_event
from local.static_site import StaticSite
from local.streams import StreamPoller
from local.template import load_template
from local.template_model import ScheduleSpec, Template

log = logging.getLogger("local.stack")

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ENV_FILE = Path(__file__).resolve().with_name("env.json")
#: The built merchant console (`make run` builds it), served at /console/ beside the API.
CONSOLE_DIST = ROOT / "console" / "dist"
_PLACEHOLDER = re.compile(r"\$\{(DYNAMODB_PORT|SANDBOX_PORT|MOTO_PORT|API_PORT|DATA_DIR|ROOT)\}")


def expand(value: str, values: Mapping[str, str]) -> str:
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), value)


def read_env_file(path: Path | None) -> dict[str, dict[str, str]]:
    if path is None or not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected an object of objects (sam local --env-vars format)")
    return {str(k): {str(n): str(v) for n, v in (vs or {}).items()} for k, vs in data.items()}


class StackError(RuntimeError):
    """The local stack cannot run this template as it is."""


class LocalStack:
    """Start with ``start()``, stop with ``stop()`` (or use it as a context manager)."""

    def __init__(
        self,
        template: Path,
        *,
        data_dir: Path,
        env_file: Path | None = DEFAULT_ENV_FILE,
        api_port: int | None = 0,
        sandbox_port: int | None = None,
        dynamodb_endpoint: str | None = None,
        dynamodb_port: int | None = None,
        dynamodb_in_memory: bool = False,
        moto_endpoint: str | None = None,
        moto_port: int | None = None,
        sandbox_url: str | None = None,
        http: bool = True,
        schedules: bool = True,
        streams: bool = True,
        queues: bool = True,
        prepare: bool = True,
        extra_env: Mapping[str, str] | None = None,
        parameters: Mapping[str, str] | None = None,
        warm: bool = False,
    ) -> None:
        self.template_path = template.resolve()
        self.data_dir = data_dir.resolve()
        self.env_file = env_file
        self.api_port = api_port
        self.sandbox_port = sandbox_port
        self.dynamodb_endpoint = dynamodb_endpoint
        self.dynamodb_port = dynamodb_port
        self.dynamodb_in_memory = dynamodb_in_memory
        self.moto_endpoint = moto_endpoint
        self.moto_port = moto_port
        self.external_sandbox_url = sandbox_url
        self.http = http
        self.schedules_enabled = schedules
        self.streams_enabled = streams
        self.queues_enabled = queues
        self.prepare = prepare
        self.extra_env = dict(extra_env or {})
        self.parameters = dict(parameters or {})
        self.warm = warm

        self.template: Template
        self.runtime: LambdaRuntime
        self.env: dict[str, str] = {}
        self.function_envs: dict[str, dict[str, str]] = {}
        self.placeholders: dict[str, str] = {}
        self.queue_urls: dict[str, str] = {}
        self.api: ApiGateway | None = None
        self.sandbox: SandboxServer | None = None
        self.scheduler: Scheduler | None = None
        self.pollers: list[StreamPoller | QueuePoller] = []
        self._dynamodb: dynamodb.DynamoDBLocal | None = None
        self._moto: MotoServer | None = None
        self._stopped = threading.Event()

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> LocalStack:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.dynamodb_endpoint is None:
            db_path = None if self.dynamodb_in_memory else self.data_dir / "dynamodb"
            self._dynamodb = dynamodb.DynamoDBLocal(
                port=self.dynamodb_port, db_path=db_path, log_file=self.data_dir / "dynamodb-local.log"
            )
            self.dynamodb_endpoint = self._dynamodb.start()
        if self.moto_endpoint is None:
            self._moto = MotoServer(self.moto_port)
            self.moto_endpoint = self._moto.start()

        self.template = load_template(self.template_path, parameters=self.parameters, sqs_endpoint=self.moto_endpoint)
        if self.http:
            self.api = ApiGateway(self.template.routes, self._invoke_for_api, port=self.api_port or 0,
                                  sites=[StaticSite("/console", CONSOLE_DIST)])
            api_port = self.api.port
        else:
            api_port = self.api_port or 3000
        if self.external_sandbox_url is None:
            wanted = self.sandbox_port if self.sandbox_port is not None else (api_port + 1 if self.api_port else 0)
            self.sandbox = SandboxServer(wanted)
            self.sandbox.start()

        self.placeholders = {
            "DYNAMODB_PORT": _port_of(self.dynamodb_endpoint),
            "MOTO_PORT": _port_of(self.moto_endpoint),
            "SANDBOX_PORT": _port_of(self.sandbox_url),
            "API_PORT": str(api_port),
            "DATA_DIR": str(self.data_dir),
            "ROOT": str(ROOT),
        }
        self._build_envs()
        for layer_dir in self.template.layer_dirs.values():  # hooks and tools import the layer too
            for path in (layer_dir, layer_dir / "python"):
                if path.is_dir() and str(path) not in sys.path:
                    sys.path.append(str(path))
        os.environ["LOCAL_API_URL"] = self.base_url
        os.environ["LOCAL_SANDBOX_URL"] = self.sandbox_url
        # The pay sandbox signs as WeChat Pay with this stack's local keys and app (local/sandbox.py).
        os.environ["LOCAL_PAY_SECRETS_FILE"] = self.env.get("SECRETS_FILE") or str(self.data_dir / "secrets.json")
        os.environ["LOCAL_PAY_APPID"] = self.env.get("WECHAT_APP_ID") or "wx_local_app"

        if self.prepare:
            hooks.prepare(self.data_dir)

        dynamodb.ensure_tables(self.dynamodb_endpoint, self.template.tables.values())
        self.queue_urls = ensure_queues(self.moto_endpoint, self.template.queues.values())
        ensure_buckets(self.moto_endpoint, self.template.buckets.values())

        self.runtime = LambdaRuntime(self.template.functions, self.function_envs)
        if self.warm:
            self.runtime.warm_up()
        self._start_triggers(self.dynamodb_endpoint, self.moto_endpoint)
        if self.api is not None:
            self.api.start()

    def _start_triggers(self, dynamodb_endpoint: str, moto_endpoint: str) -> None:
        if self.streams_enabled:
            for stream_trigger in self.template.stream_triggers:
                if not stream_trigger.enabled:
                    continue
                table = self.template.tables[stream_trigger.table_id]
                poller = StreamPoller(stream_trigger, table.name, dynamodb_endpoint, self._invoke)
                try:
                    poller.start()
                except RuntimeError as exc:
                    raise StackError(
                        f"{exc}: the local table predates its StreamSpecification; "
                        f"delete {self.data_dir / 'dynamodb'} to recreate it from the template"
                    ) from exc
                self.pollers.append(poller)
        if self.queues_enabled:
            for queue_trigger in self.template.queue_triggers:
                if not queue_trigger.enabled:
                    continue
                spec = self.template.queues[queue_trigger.queue_id]
                queue_poller = QueuePoller(
                    queue_trigger, self.queue_urls[spec.logical_id], spec.name, moto_endpoint, self._invoke
                )
                queue_poller.start()
                self.pollers.append(queue_poller)
        if self.schedules_enabled and self.template.schedules:
            self.scheduler = Scheduler(self.template.schedules, self._fire_in_background)
            self.scheduler.start()

    def stop(self) -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()
        if self.api is not None:
            self.api.stop()
        if self.scheduler is not None:
            self.scheduler.stop()
        for poller in self.pollers:
            poller.stop()
        if self.sandbox is not None:
            self.sandbox.stop()
        if self._moto is not None:
            self._moto.stop()
        if self._dynamodb is not None:
            self._dynamodb.stop()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- environment --------------------------------------------------------------------------

    def _build_envs(self) -> None:
        overrides = read_env_file(self.env_file)
        common = overrides.get("Parameters", {})
        unknown = set(overrides) - {"Parameters"} - set(self.template.functions)
        if unknown:
            log.warning("env file names unknown functions: %s", ", ".join(sorted(unknown)))
        shared: dict[str, str] | None = None
        for function_id, spec in self.template.functions.items():
            env = {**spec.environment, **common, **overrides.get(function_id, {}), **self.extra_env}
            env = {k: expand(v, self.placeholders) for k, v in env.items()}
            self.function_envs[function_id] = env
            template_env = {k: expand(v, self.placeholders) for k, v in spec.environment.items()}
            shared = template_env if shared is None else {k: v for k, v in shared.items() if template_env.get(k) == v}
        base = {**(shared or {}), **common, **self.extra_env}
        self.env = {k: expand(v, self.placeholders) for k, v in base.items()}

    def function_env(self, function_id: str) -> dict[str, str]:
        return dict(self.function_envs[self.template.function(function_id).logical_id])

    # -- properties ---------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self.api is not None:
            return self.api.url
        return f"http://127.0.0.1:{self.placeholders.get('API_PORT', '3000')}"

    @property
    def sandbox_url(self) -> str:
        if self.sandbox is not None:
            return self.sandbox.url
        return self.external_sandbox_url or ""

    def state(self) -> dict[str, Any]:
        """What ``stack.json`` records for ``python -m local invoke`` to find this stack."""
        return {
            "pid": os.getpid(),
            "template": str(self.template_path),
            "base_url": self.base_url,
            "api_port": int(self.placeholders["API_PORT"]),
            "sandbox_port": int(self.placeholders["SANDBOX_PORT"]),
            "dynamodb_port": int(self.placeholders["DYNAMODB_PORT"]),
            "moto_port": int(self.placeholders["MOTO_PORT"]),
            "data_dir": str(self.data_dir),
            "started_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }

    # -- invoking -----------------------------------------------------------------------------

    def _invoke(self, function_id: str, event: Any) -> Invocation:
        return self.runtime.invoke(function_id, event)

    def _invoke_for_api(self, function_id: str, event: Any, request_id: str) -> Invocation:
        return self.runtime.invoke(function_id, event)

    def invoke(self, function_id: str, event: Any) -> Any:
        """Invoke a function (logical ID or ``functions/`` dir name); raise ``HandlerError`` on failure."""
        spec = self.template.function(function_id)
        return self.runtime.call(spec.logical_id, event)

    def schedule(self, function_id: str, event_name: str | None = None) -> ScheduleSpec:
        spec = self.template.function(function_id)
        found = [s for s in self.template.schedules if s.function_id == spec.logical_id]
        if event_name is not None:
            found = [s for s in found if s.event_name == event_name]
        if not found:
            raise KeyError(f"{spec.logical_id} has no schedule" + (f" named {event_name}" if event_name else ""))
        return found[0]

    def fire_schedule(self, function_id: str, time: datetime | str | None = None, event_name: str | None = None) -> Any:
        """Fire a function's schedule once, as of ``time`` (default now); return its result."""
        schedule = self.schedule(function_id, event_name)
        when = _as_datetime(time)
        return self.runtime.call(schedule.function_id, scheduled_event(schedule, when))

    def _fire_in_background(self, schedule: ScheduleSpec, when: datetime) -> None:
        self.runtime.invoke(schedule.function_id, scheduled_event(schedule, when))

    def seed(self) -> list[str]:
        """Run ``local.hooks.seed`` (idempotent demo data); its 'what to try next' lines."""
        return [str(line) for line in hooks.seed(dict(self.env)) or []]

    def drain_streams(self, timeout: float = 10.0) -> None:
        """Wait until every stream and queue poller is idle (nothing left to deliver).

        Idle means: two full polling cycles of every poller, started after the check
        began, delivered nothing (and the triggered queues hold no message, visible or
        in flight). Repeats while work keeps appearing (a consumer writing to another
        stream), up to ``timeout``; raises ``TimeoutError`` then.
        """
        deadline = time.monotonic() + timeout
        while True:
            marks = [(p, p.cycles) for p in self.pollers]
            before = sum(p.deliveries for p in self.pollers)
            while any(p.cycles < mark + 2 for p, mark in marks):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"stream/queue pollers still busy after {timeout}s")
                time.sleep(0.02)
            busy_queue = any(isinstance(p, QueuePoller) and p.pending_messages() > 0 for p in self.pollers)
            if sum(p.deliveries for p in self.pollers) == before and not busy_queue:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"stream/queue pollers still busy after {timeout}s")
            if busy_queue:
                time.sleep(0.1)


def _port_of(url: str | None) -> str:
    if not url:
        return ""
    return url.rstrip("/").rsplit(":", 1)[-1].split("/", 1)[0]


def _as_datetime(value: datetime | str | None) -> datetime:
    if value is None:
        return datetime.now(UTC).replace(microsecond=0)
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


__all__ = ["HandlerError", "LocalStack", "StackError"]
