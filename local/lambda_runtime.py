"""Run Lambda handlers in this process, the way the Python runtime would.

Each function's handler module is imported once (its cold start), under a module name
of its own: every function's file is called ``app.py``, so ``app`` alone would clash.
The module lives in a synthetic package ``_lambda_<n>_<LogicalId>`` whose ``__path__`` is
the function's code directory, and that directory (plus the layers' content) is put on
``sys.path`` as ``/var/task`` and ``/opt/python`` would be in Lambda (the function's own
directory first while it cold-starts; every loaded function's directory stays on it).
Sibling modules of two functions that share a name (``models.py`` in both) are swapped
out of ``sys.modules`` between cold starts: each function keeps the one it imported.

Environment: a function's environment (template Globals + the function's own + local
overrides + what Lambda sets) is what ``os.environ`` shows while that function runs: at
its cold start and during each invocation. ``os.environ`` is replaced by a thread-aware
view of the real one: a thread that is running a function sees that function's
variables over the process's; every other thread (the test that started the stack,
the runner itself) sees the process's own, untouched. Writes made by a function stay in
its environment. Limitations: all functions still share one process, so module-level
state in shared code (say, settings cached once per process by the layer) is built
from whichever function used it first, and a subprocess sees the process's environment,
not the function's. A thread the handler starts (a ``ThreadPoolExecutor`` worker, say)
inherits the environment and the invocation of the thread that started it, as it would
in Lambda. A warning names every variable that two functions set to different values.

Logs: every log record made while a function runs (in its own thread or one it started)
carries that function's Lambda context keys (``function_name``, ``function_arn``,
``function_request_id``, ``function_memory_size``), which Powertools prints over the keys
it keeps per process: in Lambda a process runs one function, here one shared logger
would otherwise print whichever function was invoked last.

Invocations may run concurrently from many threads; the cold start is done once per
function under a lock, and so is every import a handler makes later (a module imported on
first use): in Lambda each function has its own process, here two threads importing one
package with an internal cycle at once would see it half initialised. The handler's result
goes through a JSON round trip as in Lambda (a ``Decimal`` in a response fails here as it
would there). The function's ``Timeout`` is reported by
``context.get_remaining_time_in_millis()``; a handler that runs past it is logged, not killed.
"""

from __future__ import annotations

import builtins
import contextlib
import importlib
import importlib.util
import itertools
import json
import logging
import os
import sys
import threading
import time
import traceback
import types
import uuid
from collections.abc import Callable, Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pydantic.main

from local.template_model import FunctionSpec

log = logging.getLogger("local.lambda")

# Variables Lambda sets itself; they differ per function by design, so no warning.
RESERVED = frozenset(
    {
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "LAMBDA_TASK_ROOT",
        "AWS_EXECUTION_ENV",
        "_HANDLER",
    }
)


def _shared_import_lock() -> threading.RLock:
    """The lock every cold start and every first-use import here takes: pydantic's own rebuild lock.
    A model whose schema is built on first use (``defer_build``, or a forward reference resolved late)
    is built under that process-wide lock, and building it may import a module. With a lock of its
    own, a thread building a model (holding pydantic's, waiting for this one to import) and a thread
    cold-starting a function whose import builds that model (holding this one, waiting for
    pydantic's) deadlock. One lock for both has no order to get wrong. In Lambda neither contends:
    a process runs one function, one invocation at a time."""
    found = getattr(pydantic.main, "_rebuild_lock", None)
    return found if isinstance(found, type(threading.RLock())) else threading.RLock()


_import_lock = _shared_import_lock()
_running = threading.local()  # .invocation: what this thread is running, if anything
_namespace_counter = itertools.count(1)
_DELETED = None  # an overlay value that hides a process variable


class ThreadEnviron(MutableMapping[str, str]):
    """``os.environ`` seen through the environment of the function this thread runs."""

    def __init__(self, base: MutableMapping[str, str]) -> None:
        self.base = base
        self._local = threading.local()

    def _overlay(self) -> dict[str, str | None] | None:
        overlay: dict[str, str | None] | None = getattr(self._local, "overlay", None)
        return overlay

    @contextlib.contextmanager
    def use(self, overlay: dict[str, str | None]) -> Iterator[None]:
        """Show ``overlay`` over the process environment to this thread for the block."""
        previous = self._overlay()
        self._local.overlay = overlay
        try:
            yield
        finally:
            self._local.overlay = previous

    def __getitem__(self, key: str) -> str:
        overlay = self._overlay()
        if overlay is not None and key in overlay:
            value = overlay[key]
            if value is _DELETED:
                raise KeyError(key)
            return value
        return self.base[key]

    def __setitem__(self, key: str, value: str) -> None:
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(f"str expected, not {type(key).__name__}/{type(value).__name__}")
        overlay = self._overlay()
        if overlay is not None:
            overlay[key] = value
        else:
            self.base[key] = value

    def __delitem__(self, key: str) -> None:
        overlay = self._overlay()
        if overlay is None:
            del self.base[key]
            return
        if key not in self:
            raise KeyError(key)
        overlay[key] = _DELETED

    def _keys(self) -> list[str]:
        overlay = self._overlay()
        if overlay is None:
            return list(self.base)
        keys = [k for k in self.base if overlay.get(k, "") is not _DELETED]
        keys += [k for k, v in overlay.items() if v is not _DELETED and k not in self.base]
        return keys

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys())

    def __len__(self) -> int:
        return len(self._keys())

    def copy(self) -> dict[str, str]:
        return dict(self)

    def __repr__(self) -> str:
        return f"ThreadEnviron({dict(self)!r})"


@dataclass(frozen=True)
class Running:
    """The invocation a thread works for: its function, request and environment overlay, and the
    request state Powertools' event handler keeps for it (``_isolate_event_handler_state``)."""

    spec: FunctionSpec
    request_id: str
    overlay: dict[str, str | None]
    handler_state: dict[tuple[int, str], Any] = field(default_factory=dict, compare=False, repr=False)

    def log_keys(self) -> dict[str, str]:
        """The keys Powertools' ``inject_lambda_context`` adds, for this invocation."""
        return {"function_name": self.spec.name, "function_arn": self.spec.arn,
                "function_memory_size": str(self.spec.memory_mb), "function_request_id": self.request_id}


def current_invocation() -> Running | None:
    running: Running | None = getattr(_running, "invocation", None)
    return running


@contextlib.contextmanager
def _working_for(running: Running, environ: ThreadEnviron) -> Iterator[None]:
    previous = current_invocation()
    _running.invocation = running
    try:
        with environ.use(running.overlay):
            yield
    finally:
        _running.invocation = previous


def _install_inheritance(environ: ThreadEnviron) -> None:
    """Threads started while a function runs work for that invocation; log records made while
    a function runs carry its context keys."""
    original_start = threading.Thread.start

    def start(self: threading.Thread) -> None:
        running = current_invocation()
        if running is not None:
            run = self.run

            def inherited() -> None:
                with _working_for(running, environ):
                    run()

            self.run = inherited  # type: ignore[method-assign]
        original_start(self)

    threading.Thread.start = start  # type: ignore[method-assign]
    make_record = logging.getLogRecordFactory()

    def record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        made = make_record(*args, **kwargs)
        running = current_invocation()
        if running is not None:
            made.__dict__.update(running.log_keys())
        return made

    logging.setLogRecordFactory(record)


def thread_environ() -> ThreadEnviron:
    """Install (once) and return the thread-aware ``os.environ`` (and thread inheritance)."""
    with _import_lock:
        current = os.environ
        if isinstance(current, ThreadEnviron):
            return current
        view = ThreadEnviron(current)
        os.environ = view  # type: ignore[assignment]  # noqa: B003 - a view over it; os.getenv reads it too
        _install_inheritance(view)
        _serialise_imports()
        _isolate_event_handler_state()
        return view


def _isolate_event_handler_state() -> None:
    """Powertools' event handler keeps the request it resolves on the ``BaseRouter`` class
    (``current_event``) and on the resolver (``context``: the matched route and its arguments):
    right in Lambda, where a process serves one request at a time, wrong here, where threads serve
    requests of many functions at once and would read each other's. Each invocation (and the threads
    it starts) gets its own; outside an invocation the resolver behaves as Powertools wrote it."""
    from aws_lambda_powertools.event_handler import api_gateway

    resolver = api_gateway.ApiGatewayResolver
    to_proxy_event = resolver._to_proxy_event

    def state(owner: object) -> dict[tuple[int, str], Any]:
        running = current_invocation()
        if running is not None:
            return running.handler_state
        fallback: dict[tuple[int, str], Any] = owner.__dict__.setdefault("_outside_invocation", {})
        return fallback

    def converted(self: Any, event: dict[str, Any]) -> Any:
        proxy = to_proxy_event(self, event)
        state(self)[(id(self), "current_event")] = proxy
        return proxy

    def get_event(self: Any) -> Any:
        found = state(self).get((id(self), "current_event"))
        return found if found is not None else api_gateway.BaseRouter.__dict__.get("current_event")

    def set_event(self: Any, value: Any) -> None:
        state(self)[(id(self), "current_event")] = value

    def get_context(self: Any) -> dict[str, Any]:
        found: dict[str, Any] = state(self).setdefault((id(self), "context"), {})
        return found

    def set_context(self: Any, value: dict[str, Any]) -> None:
        state(self)[(id(self), "context")] = value

    resolver._to_proxy_event = converted  # type: ignore[method-assign]
    resolver.current_event = property(get_event, set_event)  # type: ignore[assignment]
    resolver.context = property(get_context, set_context)  # type: ignore[assignment]


def _loaded(name: str, fromlist: Sequence[str] | None) -> bool:
    """The module is fully initialised and has every name asked for: the import loads nothing."""
    module = sys.modules.get(name)
    if module is None or getattr(getattr(module, "__spec__", None), "_initializing", False):
        return False
    return all(hasattr(module, item) for item in fromlist or () if item != "*")


def _serialise_imports() -> None:
    """Every ``import`` statement takes the cold-start lock, so a module a handler imports on first
    use never loads while another thread is loading the same package (Python's per-module locks
    hand a half-initialised module to one side of an import cycle entered from two threads). The
    lock is taken before any module lock, always in that order, and it is pydantic's rebuild lock
    (``_shared_import_lock``), so it adds no deadlock."""
    original = builtins.__import__
    if getattr(original, "_serialised", False):
        return

    def serialised(name: str, globals: Mapping[str, object] | None = None,
                   locals: Mapping[str, object] | None = None, fromlist: Sequence[str] | None = (),
                   level: int = 0) -> types.ModuleType:
        if level == 0 and _loaded(name, fromlist):  # the common case, and no lock held while logging
            return original(name, globals, locals, fromlist, level)
        with _import_lock:
            return original(name, globals, locals, fromlist, level)

    serialised._serialised = True  # type: ignore[attr-defined]
    builtins.__import__ = serialised


class HandlerError(Exception):
    """The handler raised, or its result could not be marshalled (as Lambda reports it)."""

    def __init__(self, function_id: str, error_type: str, message: str, stack: list[str]) -> None:
        super().__init__(f"{function_id}: {error_type}: {message}")
        self.function_id = function_id
        self.error_type = error_type
        self.message = message
        self.stack = stack

    def payload(self) -> dict[str, Any]:
        """The JSON Lambda returns for a function error."""
        return {"errorMessage": self.message, "errorType": self.error_type, "stackTrace": self.stack}


class LambdaContext:
    """The ``context`` argument of a Python handler."""

    def __init__(self, spec: FunctionSpec, request_id: str | None = None) -> None:
        self.function_name = spec.name
        self.function_version = "$LATEST"
        self.invoked_function_arn = spec.arn
        self.memory_limit_in_mb = str(spec.memory_mb)
        self.aws_request_id = request_id or str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{spec.name}"
        day = datetime.now(UTC).strftime("%Y/%m/%d")
        self.log_stream_name = f"{day}/[$LATEST]{uuid.uuid4().hex}"
        self.identity: Any = None
        self.client_context: Any = None
        self.tenant_id: str | None = None
        self._deadline = time.monotonic() + spec.timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def lambda_environment(spec: FunctionSpec) -> dict[str, str]:
    """The variables Lambda itself sets for a function."""
    return {
        "AWS_LAMBDA_FUNCTION_NAME": spec.name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
        "LAMBDA_TASK_ROOT": str(spec.code_dir),
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
        "_HANDLER": spec.handler,
    }


def env_conflicts(envs: Mapping[str, Mapping[str, str]]) -> dict[str, dict[str, str]]:
    """Variables that two or more functions set to different values: ``{var: {fn: value}}``."""
    values: dict[str, dict[str, str]] = {}
    for function_id, env in envs.items():
        for key, value in env.items():
            if key not in RESERVED:
                values.setdefault(key, {})[function_id] = value
    return {k: v for k, v in values.items() if len(set(v.values())) > 1}


@dataclass
class Invocation:
    """What one invocation produced."""

    request_id: str
    result: Any = None
    error: HandlerError | None = None
    duration_ms: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


class FunctionRuntime:
    """One function: its handler, loaded on first use."""

    def __init__(self, spec: FunctionSpec, env: Mapping[str, str], namespace: str) -> None:
        self.spec = spec
        self.env = dict(env)
        self.overlay: dict[str, str | None] = {**self.env, **lambda_environment(spec)}
        self.environ = thread_environ()
        self.package = f"_lambda_{namespace}_{spec.logical_id}"
        self._handler: Callable[[Any, Any], Any] | None = None
        self._lock = threading.Lock()
        self.cold_starts = 0

    @property
    def loaded(self) -> bool:
        return self._handler is not None

    def handler(self) -> Callable[[Any, Any], Any]:
        if self._handler is None:
            with self._lock:
                if self._handler is None:
                    self._handler = self._cold_start()
        return self._handler

    def _cold_start(self) -> Callable[[Any, Any], Any]:
        spec = self.spec
        module_path, _, attr = spec.handler.rpartition(".")
        if not module_path or not attr:
            raise ValueError(f"{spec.logical_id}: Handler {spec.handler!r} is not module.function")
        module_rel = module_path.replace("/", ".")
        cold = Running(spec, "cold-start", self.overlay)
        with _import_lock, _working_for(cold, self.environ):
            for path in (*spec.layer_dirs, *(d / "python" for d in spec.layer_dirs)):
                if path.is_dir() and str(path) not in sys.path:
                    sys.path.append(str(path))
            code_dir = str(spec.code_dir)
            if code_dir in sys.path:
                sys.path.remove(code_dir)
            sys.path.insert(0, code_dir)
            _forget_sibling_modules(spec.code_dir)
            package = types.ModuleType(self.package)
            package.__path__ = [code_dir]
            package.__package__ = self.package
            sys.modules[self.package] = package
            started = time.perf_counter()
            module = importlib.import_module(f"{self.package}.{module_rel}")
            log.debug("%s: cold start in %.0f ms", spec.logical_id, (time.perf_counter() - started) * 1000)
            self.cold_starts += 1
        handler = getattr(module, attr, None)
        if not callable(handler):
            raise AttributeError(f"{spec.logical_id}: {module_path}.py has no callable {attr!r}")
        return handler  # type: ignore[no-any-return]

    def invoke(self, event: Any, *, request_id: str | None = None) -> Invocation:
        """Call the handler with a JSON copy of ``event``; never raises for handler errors."""
        request_id = request_id or str(uuid.uuid4())
        outcome = Invocation(request_id=request_id)
        started = time.perf_counter()
        try:
            handler = self.handler()
            payload = json.loads(json.dumps(event))
            context = LambdaContext(self.spec, request_id)
            with _working_for(Running(self.spec, request_id, self.overlay), self.environ):
                result = handler(payload, context)
        except Exception as exc:
            outcome.error = _error(self.spec.logical_id, exc)
        else:
            try:
                outcome.result = json.loads(json.dumps(result))
            except (TypeError, ValueError) as exc:
                outcome.error = HandlerError(
                    self.spec.logical_id, "Runtime.MarshalError", f"Unable to marshal response: {exc}", []
                )
        outcome.duration_ms = (time.perf_counter() - started) * 1000
        if outcome.duration_ms > self.spec.timeout_s * 1000:
            log.warning(
                "%s took %.0f ms: in AWS it would have timed out after %.0f s",
                self.spec.logical_id,
                outcome.duration_ms,
                self.spec.timeout_s,
            )
        if outcome.error is not None:
            log.error(
                "%s failed (request %s): %s: %s\n%s",
                self.spec.logical_id,
                request_id,
                outcome.error.error_type,
                outcome.error.message,
                "".join(outcome.error.stack),
            )
        return outcome


def _error(function_id: str, exc: BaseException) -> HandlerError:
    stack = traceback.format_exception(type(exc), exc, exc.__traceback__)
    return HandlerError(function_id, type(exc).__name__, str(exc), stack)


def _forget_sibling_modules(code_dir: Path) -> None:
    """Drop top-level modules loaded from other functions' code dirs (same-named siblings)."""
    functions_root = code_dir.parent
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if not file or name.startswith("_lambda_") or "." in name:
            continue
        path = Path(file).resolve()
        if path.is_relative_to(functions_root) and not path.is_relative_to(code_dir):
            del sys.modules[name]


class LambdaRuntime:
    """Every function of a template, invoked in-process by logical ID."""

    def __init__(self, functions: Mapping[str, FunctionSpec], envs: Mapping[str, Mapping[str, str]]) -> None:
        namespace = str(next(_namespace_counter))
        self.functions = {fid: FunctionRuntime(spec, envs.get(fid, {}), namespace) for fid, spec in functions.items()}
        for key, per_function in env_conflicts(envs).items():
            shown = ", ".join(f"{fid}={value!r}" for fid, value in sorted(per_function.items()))
            log.warning(
                "functions set %s differently (%s): each sees its own while it runs, but module-level "
                "state shared between functions in this one process is built from the first to use it",
                key,
                shown,
            )

    def __getitem__(self, function_id: str) -> FunctionRuntime:
        return self.functions[function_id]

    def invoke(self, function_id: str, event: Any, *, request_id: str | None = None) -> Invocation:
        return self.functions[function_id].invoke(event, request_id=request_id)

    def call(self, function_id: str, event: Any) -> Any:
        """Invoke and return the result; raise ``HandlerError`` if the function failed."""
        outcome = self.invoke(function_id, event)
        if outcome.error is not None:
            raise outcome.error
        return outcome.result

    def warm_up(self) -> None:
        """Cold-start every function now (surfacing import errors at start, not first use)."""
        for runtime in self.functions.values():
            try:
                runtime.handler()
            except Exception:
                log.exception("%s: cold start failed", runtime.spec.logical_id)
