"""The local stack as the benchmarks drive it: started quietly, with the demo seed, and a few
helpers to act as the demo admin, the demo promoter and fresh customers over HTTP.

Functions run in this process (``local.lambda_runtime``): their log lines and metrics go to
standard output, so a benchmark runs the stack inside ``quiet(log_path)``, which sends both
standard streams to a file and prints only what the benchmark prints after it.
"""

from __future__ import annotations

import contextlib
import io
import sys
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import requests

from bench import ROOT
from local.hooks import DEMO_ADMIN, DEMO_ADMIN_PASSWORD, DEMO_PROMOTER_CODE, DEMO_PROMOTER_SHARE_CODE
from local.stack import LocalStack

TEMPLATE = ROOT / "template.yaml"
LOG_DIR = ROOT / ".local" / "bench"  # the functions' logs of the last run (git-ignored)
TIMEOUT_S = 30
ADDRESS = {"name": "王五", "phone": "13700001111", "province": "广东省", "city": "深圳市",
           "detail": "南山区科技园 1 号"}

__all__ = ["ADDRESS", "DEMO_PROMOTER_CODE", "DEMO_PROMOTER_SHARE_CODE", "LOG_DIR", "TEMPLATE", "Actor", "Api", "quiet",
           "raw_client", "running_stack"]


#: Told the size in bytes (UTF-8) of every piece of text written while ``quiet``: the meter adds it
#: to the invocation running on the writing thread, the log bytes the cost model prices.
log_observers: list[Callable[[int], None]] = []


class _CountingSink(io.TextIOBase):
    def __init__(self, sink: io.TextIOBase) -> None:
        super().__init__()
        self._sink = sink

    def write(self, text: str) -> int:
        size = len(text.encode("utf-8"))
        for observe in list(log_observers):
            observe(size)
        return self._sink.write(text)

    def flush(self) -> None:
        self._sink.flush()

    def writable(self) -> bool:
        return True


@contextlib.contextmanager
def quiet(log_path: Path) -> Iterator[None]:
    """Standard output and error go to ``log_path`` for the block (the functions' JSON logs,
    Powertools' metrics, the local stack's warnings): the benchmark prints its table after."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w", encoding="utf-8") as file, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sink = _CountingSink(file)
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            yield


@contextlib.contextmanager
def running_stack(data_dir: Path, *, warm: bool = True) -> Iterator[LocalStack]:
    """The whole template on a fresh in-memory DynamoDB Local, seeded like ``make run``
    (demo admin, buyer, promoter, catalog). Schedules are fired by the benchmark, not by time."""
    from local.testing import local_stack

    forget_layer_caches()  # an earlier benchmark's stack, in this process, is gone
    try:
        with local_stack(TEMPLATE, data_dir=data_dir, schedules=False) as stack:
            if warm:
                stack.runtime.warm_up()  # imports every handler now: no cold start inside a measurement
            yield stack
    finally:
        forget_layer_caches()


def forget_layer_caches() -> None:
    """Clear every ``functools`` cache of the layer's modules (settings, clients, secrets...).

    The functions of a local stack share this process's ``mall`` package: a client or a
    setting cached for one stack (its DynamoDB Local port, its secrets file) would be used by
    the next. ``make bench`` runs several stacks one after the other."""
    for name, module in list(sys.modules.items()):
        if name != "mall" and not name.startswith("mall."):
            continue
        for value in list(vars(module).values()):
            clear = getattr(value, "cache_clear", None)
            if callable(clear) and getattr(value, "__module__", None) == name:
                clear()


def raw_client(stack: LocalStack) -> Any:
    """A DynamoDB client of its own botocore session: it never carries the benchmarks' event
    hooks, so what the benchmark itself reads is never counted as the application's work."""
    session = boto3.session.Session(aws_access_key_id="local", aws_secret_access_key="local",
                                    region_name="us-east-1")
    return session.client("dynamodb", endpoint_url=stack.dynamodb_endpoint)


@dataclass
class Api:
    """The local HTTP API, with the status of every answer kept for the report."""

    base_url: str
    session: requests.Session = field(default_factory=requests.Session)

    def request(self, method: str, path: str, *, token: str | None = None, json: Any = None,
                params: dict[str, Any] | None = None, headers: dict[str, str] | None = None,
                idempotent: bool = False) -> requests.Response:
        sent = dict(headers or {})
        if token:
            sent["Authorization"] = f"Bearer {token}"
        if idempotent:
            sent["Idempotency-Key"] = uuid.uuid4().hex
        return self.session.request(method, f"{self.base_url.rstrip('/')}{path}", json=json, params=params,
                                    headers=sent, timeout=TIMEOUT_S)

    def login(self, code: str) -> Actor:
        answer = self.request("POST", "/auth/login", json={"code": code})
        _expect(answer, 200, f"login {code}")
        body = answer.json()
        return Actor(code=code, user_id=str(body["user_id"]), token=str(body["access_token"]),
                     roles=list(body.get("roles", [])))

    def admin(self) -> Actor:
        answer = self.request("POST", "/admin/auth/login",
                              json={"username": DEMO_ADMIN, "password": DEMO_ADMIN_PASSWORD})
        _expect(answer, 200, "admin login")
        return Actor(code=DEMO_ADMIN, user_id=f"admin:{DEMO_ADMIN}", token=str(answer.json()["access_token"]),
                     roles=["admin"])


@dataclass
class Actor:
    code: str  # the sandbox login code (the admin's username for the admin)
    user_id: str
    token: str
    roles: list[str]


def _expect(answer: requests.Response, status: int, what: str) -> None:
    if answer.status_code != status:
        raise RuntimeError(f"{what}: expected {status}, got {answer.status_code}: {answer.text[:300]}")


def expect(answer: requests.Response, status: int | tuple[int, ...], what: str) -> Any:
    """The JSON body of an answer the benchmark's set-up relies on; a clear error otherwise."""
    wanted = (status,) if isinstance(status, int) else status
    if answer.status_code not in wanted:
        raise RuntimeError(f"{what}: expected {wanted}, got {answer.status_code}: {answer.text[:300]}")
    return answer.json() if answer.content else None


def tail(path: Path, lines: int = 40) -> str:
    """The end of a log file, for a benchmark that failed inside ``quiet``."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def eprint(*parts: object) -> None:
    print(*parts, file=sys.__stderr__ or io.StringIO())
