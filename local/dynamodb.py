"""DynamoDB Local (AWS's own emulator) for the local stack and the tests.

Binding to loopback only
------------------------
``DynamoDBLocal.jar`` has no host option: no command-line flag and no system property
(its ``-help`` lists ``-port``, ``-inMemory``, ``-dbPath``, ``-sharedDb``, ``-cors``,
``-delayTransientStatuses``, ``-optimizeDbBeforeStartup``, ``-disableTelemetry``,
``-version``). Its ``DynamoDBProxyServer`` creates a Jetty ``Server(port)``, and
``ss -ltnp`` shows the plain jar listening on ``*:PORT``: every interface.

So the runner does not start the jar's own main class. It compiles (once, cached) the
small launcher ``local/java/LoopbackDynamoDBLocal.java``, which builds the very same
server from the very same command line, sets the host of its Jetty connector to
``127.0.0.1`` and only then starts it: ``ss -ltnp`` shows ``127.0.0.1:PORT``. That needs
a JDK's ``javac`` (the machine has OpenJDK 17); without one the launcher runs in Java's
single-file source mode, and if even that is impossible the plain jar is started with a
loud warning, because then it listens on every interface. Every client of the local
stack talks to ``http://127.0.0.1:PORT`` in any case.

The launcher also exits when its standard input closes: the runner holds a pipe to it,
so DynamoDB Local cannot outlive the Python process that started it, even after a
``kill -9``.

``-sharedDb`` is always passed: every client sees the same tables whatever credentials
and region it signs with.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from local.template_model import REGION, TableSpec

log = logging.getLogger("local.dynamodb")

LOOPBACK = "127.0.0.1"
EMULATOR_ENV = "DYNAMODB_LOCAL_DIR"
_EMULATOR_SUBDIR = Path("node_modules/amplify-dynamodb-simulator/emulator")
_LAUNCHER_SOURCE = Path(__file__).with_name("java") / "LoopbackDynamoDBLocal.java"
_LAUNCHER_CLASS = "LoopbackDynamoDBLocal"

# CreateTable parameters that DynamoDB Local accepts; everything else in a template's
# table definition is applied another way (TTL) or has no local meaning (PITR, SSE, ...).
_CREATE_TABLE_KEYS = (
    "AttributeDefinitions",
    "KeySchema",
    "LocalSecondaryIndexes",
    "GlobalSecondaryIndexes",
    "BillingMode",
    "ProvisionedThroughput",
    "StreamSpecification",
    "TableClass",
    "Tags",
    "DeletionProtectionEnabled",
)
_INDEX_KEYS = ("IndexName", "KeySchema", "Projection", "ProvisionedThroughput")


class DynamoDBLocalError(RuntimeError):
    """DynamoDB Local could not be found or started."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def project_root() -> Path:
    return Path(__file__).resolve().parent.parent


def find_emulator(root: Path | None = None) -> Path:
    """The directory holding ``DynamoDBLocal.jar`` (``$DYNAMODB_LOCAL_DIR`` or node_modules)."""
    candidates: list[Path] = []
    if os.environ.get(EMULATOR_ENV):
        candidates.append(Path(os.environ[EMULATOR_ENV]))
    start = (root or project_root()).resolve()
    candidates.extend(p / _EMULATOR_SUBDIR for p in (start, *start.parents))
    for candidate in candidates:
        if (candidate / "DynamoDBLocal.jar").is_file():
            return candidate
    raise DynamoDBLocalError(
        "DynamoDBLocal.jar not found: run `npm install` at the project root "
        f"(it installs {_EMULATOR_SUBDIR}) or set {EMULATOR_ENV}"
    )


def _classpath(emulator: Path, *extra: Path) -> str:
    parts = [str(p) for p in extra]
    parts += [str(emulator / "DynamoDBLocal.jar"), str(emulator / "DynamoDBLocal_lib" / "*")]
    return os.pathsep.join(parts)


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    path = Path(base) / "mall-local"
    try:
        path.mkdir(parents=True, exist_ok=True)
        return path
    except OSError:
        fallback = Path(tempfile.gettempdir()) / f"mall-local-{os.getuid()}"
        fallback.mkdir(parents=True, exist_ok=True)
        return fallback


def _compiled_launcher(emulator: Path) -> Path | None:
    """The directory holding the compiled launcher class, compiling it if needed."""
    javac = shutil.which("javac")
    if javac is None:
        return None
    source = _LAUNCHER_SOURCE.read_bytes()
    jar = emulator / "DynamoDBLocal.jar"
    key = hashlib.sha256(source + str(jar.stat().st_size).encode() + str(jar).encode()).hexdigest()[:16]
    target = _cache_dir() / f"dynamodb-launcher-{key}"
    if (target / f"{_LAUNCHER_CLASS}.class").is_file():
        return target
    staging = Path(tempfile.mkdtemp(prefix="launcher-", dir=target.parent))
    try:
        result = subprocess.run(
            [javac, "-nowarn", "-cp", _classpath(emulator), "-d", str(staging), str(_LAUNCHER_SOURCE)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if result.returncode != 0:
            log.warning("could not compile the DynamoDB Local launcher: %s", result.stderr.strip())
            return None
        with contextlib.suppress(OSError):  # another process won the race; theirs is the same class
            staging.rename(target)
        return target if (target / f"{_LAUNCHER_CLASS}.class").is_file() else None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def java_command(emulator: Path, port: int, db_path: Path | None) -> tuple[list[str], bool]:
    """The command line for DynamoDB Local, and whether it binds to loopback only."""
    java = shutil.which("java")
    if java is None:
        raise DynamoDBLocalError("`java` not found: DynamoDB Local needs a Java runtime (17+)")
    storage = ["-dbPath", str(db_path)] if db_path is not None else ["-inMemory"]
    args = ["-port", str(port), "-sharedDb", "-disableTelemetry", *storage]
    props = [
        f"-Djava.library.path={emulator / 'DynamoDBLocal_lib'}",
        f"-Dmall.bindHost={LOOPBACK}",
        "-Dmall.exitOnStdinClose=true",
        "-Xss1m",
        "-XX:+UseSerialGC",
        "-XX:TieredStopAtLevel=1",
    ]
    compiled = _compiled_launcher(emulator)
    if compiled is not None:
        return [java, *props, "-cp", _classpath(emulator, compiled), _LAUNCHER_CLASS, *args], True
    if shutil.which("javac") is None and _source_mode_available(java):
        return [java, *props, "-cp", _classpath(emulator), str(_LAUNCHER_SOURCE), *args], True
    log.warning(
        "DynamoDB Local will listen on ALL interfaces (port %d): no JDK to build the loopback "
        "launcher. Install a JDK (javac) to bind it to 127.0.0.1 only.",
        port,
    )
    return [java, *props, "-jar", str(emulator / "DynamoDBLocal.jar"), *args], False


def _source_mode_available(java: str) -> bool:
    try:
        out = subprocess.run([java, "--list-modules"], capture_output=True, text=True, timeout=30, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return "jdk.compiler" in out


def client(endpoint: str, service: str = "dynamodb") -> Any:
    """A boto3 client for DynamoDB Local (dummy credentials, the local region)."""
    return boto3.session.Session().client(
        service,  # type: ignore[call-overload]
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=2, read_timeout=30),
    )


def is_answering(endpoint: str, timeout: float = 1.0) -> bool:
    """Whether a DynamoDB API answers at ``endpoint`` (a cheap ListTables call)."""
    try:
        probe = boto3.session.Session().client(
            "dynamodb",
            endpoint_url=endpoint,
            region_name=REGION,
            aws_access_key_id="local",
            aws_secret_access_key="local",
            config=Config(retries={"max_attempts": 0}, connect_timeout=timeout, read_timeout=timeout),
        )
        probe.list_tables(Limit=1)
    except (BotoCoreError, ClientError, OSError):
        return False
    return True


class DynamoDBLocal:
    """A DynamoDB Local process: ``with DynamoDBLocal() as endpoint: ...``.

    ``db_path`` None runs in memory; otherwise data persists in that directory.
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        db_path: Path | None = None,
        emulator_dir: Path | None = None,
        log_file: Path | None = None,
    ) -> None:
        self._requested_port = port
        self.port = port or 0
        self.db_path = db_path
        self.emulator_dir = emulator_dir
        self.log_file = log_file
        self.loopback_only = False
        self._process: subprocess.Popen[bytes] | None = None
        self._log_handle: Any = None
        self._lock = threading.Lock()

    @property
    def endpoint(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self, timeout: float = 60.0) -> str:
        emulator = self.emulator_dir or find_emulator()
        if self.db_path is not None:
            self.db_path.mkdir(parents=True, exist_ok=True)
        attempts = 1 if self._requested_port else 3
        for attempt in range(attempts):
            self.port = self._requested_port or free_port()
            argv, self.loopback_only = java_command(emulator, self.port, self.db_path)
            log.debug("starting DynamoDB Local: %s", " ".join(argv))
            if self.log_file is not None:
                self.log_file.parent.mkdir(parents=True, exist_ok=True)
                self._log_handle = self.log_file.open("ab")
                output: Any = self._log_handle
            else:
                output = subprocess.DEVNULL
            self._process = subprocess.Popen(
                argv,
                cwd=str(emulator),
                stdin=subprocess.PIPE,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C goes to us; we stop java in order
            )
            if self._wait_ready(timeout):
                log.info("DynamoDB Local on %s (pid %d)", self.endpoint, self._process.pid)
                return self.endpoint
            code = self._process.poll()
            self.stop()
            if code is None:
                raise DynamoDBLocalError(f"DynamoDB Local did not answer on {self.endpoint} within {timeout:.0f}s")
            log.warning("DynamoDB Local exited (%s) on port %d, attempt %d", code, self.port, attempt + 1)
        where = f" (see {self.log_file})" if self.log_file else ""
        raise DynamoDBLocalError(f"DynamoDB Local could not start{where}")

    def _wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        if self._process is None:
            return False
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                return False
            if _port_open(self.port) and is_answering(self.endpoint):
                return True
            time.sleep(0.1)
        return False

    def stop(self, timeout: float = 10.0) -> None:
        with self._lock:
            process, self._process = self._process, None
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout)
            if process is not None and process.stdin is not None:
                with contextlib.suppress(OSError):
                    process.stdin.close()
            if self._log_handle is not None:
                self._log_handle.close()
                self._log_handle = None

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((LOOPBACK, port)) == 0


# ---------------------------------------------------------------------------------------
# Tables from the template
# ---------------------------------------------------------------------------------------


def create_table_request(spec: TableSpec) -> dict[str, Any]:
    """CreateTable parameters from a template table definition (``AWS::DynamoDB::Table``)."""
    props = spec.properties
    request: dict[str, Any] = {"TableName": spec.name}
    for key in _CREATE_TABLE_KEYS:
        if key in props:
            request[key] = props[key]
    if "StreamSpecification" in request:
        view = request["StreamSpecification"].get("StreamViewType")
        request["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": view or "NEW_AND_OLD_IMAGES"}
    for index_key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        if index_key in request:
            request[index_key] = [{k: v for k, v in ix.items() if k in _INDEX_KEYS} for ix in request[index_key]]
    if "ProvisionedThroughput" not in request and request.get("BillingMode") is None:
        request["BillingMode"] = "PAY_PER_REQUEST"
    for field_name in ("DeletionProtectionEnabled",):
        if field_name in request:
            request[field_name] = str(request[field_name]).lower() == "true"
    # Numbers in the template may be strings after !Ref/!Sub; CreateTable wants ints.
    _coerce_throughput(request)
    return request


def _coerce_throughput(request: dict[str, Any]) -> None:
    def fix(throughput: dict[str, Any]) -> None:
        for key in ("ReadCapacityUnits", "WriteCapacityUnits"):
            if key in throughput:
                throughput[key] = int(throughput[key])

    if "ProvisionedThroughput" in request:
        fix(request["ProvisionedThroughput"])
    for index in request.get("GlobalSecondaryIndexes", []):
        if "ProvisionedThroughput" in index:
            fix(index["ProvisionedThroughput"])


def ensure_tables(endpoint: str, tables: Iterable[TableSpec]) -> list[str]:
    """Create every table that does not exist yet; return the names created.

    Existing tables keep their data (a persistent data dir); a GSI the template added since is
    created on them, one at a time as CloudFormation does (``add_missing_indexes``); any other
    difference from the template gets a warning that names the way out.
    """
    ddb = client(endpoint)
    existing: set[str] = set()
    for page in ddb.get_paginator("list_tables").paginate():
        existing.update(page.get("TableNames", []))
    created: list[str] = []
    for spec in tables:
        if spec.name in existing:
            add_missing_indexes(ddb, spec)
            _warn_if_drifted(ddb, spec)
            continue
        request = create_table_request(spec)
        try:
            ddb.create_table(**request)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ResourceInUseException":
                raise
            continue
        ddb.get_waiter("table_exists").wait(TableName=spec.name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
        ttl = spec.properties.get("TimeToLiveSpecification") or {}
        if str(ttl.get("Enabled", "false")).lower() == "true" and ttl.get("AttributeName"):
            ddb.update_time_to_live(
                TableName=spec.name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
            )
        created.append(spec.name)
        log.info("created table %s", spec.name)
    return created


def add_missing_indexes(ddb: Any, spec: TableSpec) -> list[str]:
    """Create on an existing table each GSI of the template it lacks (a new index in a later
    release: a persistent data dir keeps its data), one update per index, waiting until each is
    ACTIVE. DynamoDB Local fills it from the items that already carry its keys, like AWS."""
    try:
        table = ddb.describe_table(TableName=spec.name)["Table"]
    except ClientError:
        return []
    have = {ix["IndexName"] for ix in table.get("GlobalSecondaryIndexes", [])}
    request = create_table_request(spec)
    added: list[str] = []
    for index in request.get("GlobalSecondaryIndexes", []):
        if index["IndexName"] in have:
            continue
        names = {k["AttributeName"] for k in index["KeySchema"]}
        attributes = [a for a in request["AttributeDefinitions"] if a["AttributeName"] in names]
        ddb.update_table(TableName=spec.name, AttributeDefinitions=attributes,
                         GlobalSecondaryIndexUpdates=[{"Create": index}])
        for _ in range(300):
            described = ddb.describe_table(TableName=spec.name)["Table"].get("GlobalSecondaryIndexes", [])
            if all(ix.get("IndexStatus", "ACTIVE") == "ACTIVE" for ix in described):
                break
            time.sleep(0.2)
        log.info("created index %s on table %s", index["IndexName"], spec.name)
        added.append(index["IndexName"])
    return added


def _warn_if_drifted(ddb: Any, spec: TableSpec) -> None:
    try:
        table = ddb.describe_table(TableName=spec.name)["Table"]
    except ClientError:
        return
    have = {ix["IndexName"] for ix in table.get("GlobalSecondaryIndexes", [])}
    want = {ix["IndexName"] for ix in spec.properties.get("GlobalSecondaryIndexes", [])}
    stream_want = "StreamSpecification" in spec.properties
    stream_have = bool(table.get("StreamSpecification", {}).get("StreamEnabled"))
    if have != want or stream_want != stream_have:
        log.warning(
            "table %s differs from the template (indexes %s vs %s, stream %s vs %s); "
            "delete the local data dir to recreate it",
            spec.name,
            sorted(have),
            sorted(want),
            stream_have,
            stream_want,
        )


@contextlib.contextmanager
def running(*, in_memory: bool = True, port: int | None = None, db_path: Path | None = None) -> Iterator[str]:
    """Run DynamoDB Local for the duration of the block; yields its endpoint URL."""
    server = DynamoDBLocal(port=port, db_path=None if in_memory else db_path)
    try:
        yield server.start()
    finally:
        server.stop()
