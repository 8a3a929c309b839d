"""Context managers for pytest session fixtures.

    @pytest.fixture(scope="session")
    def ddb_endpoint():
        with dynamodb_local() as endpoint:          # in memory, a free port
            yield endpoint

    @pytest.fixture(scope="session")
    def stack(ddb_endpoint):
        with local_stack(ROOT / "template.yaml", dynamodb_endpoint=ddb_endpoint) as s:
            yield s                                  # s.base_url, s.invoke(...), ...

Everything listens on 127.0.0.1 only, on free ports, and is stopped on exit. The process
environment is restored on exit too (function cold starts write to ``os.environ``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from local import dynamodb
from local.stack import DEFAULT_ENV_FILE, LocalStack

__all__ = ["LocalStack", "dynamodb_local", "local_stack"]


@contextlib.contextmanager
def dynamodb_local(in_memory: bool = True, port: int | None = None) -> Iterator[str]:
    """Run DynamoDB Local for the block and yield its endpoint URL (``http://127.0.0.1:N``).

    ``in_memory=False`` keeps the data in a temporary directory removed at exit.
    """
    data = None if in_memory else Path(tempfile.mkdtemp(prefix="ddb-local-"))
    server = dynamodb.DynamoDBLocal(port=port, db_path=data)
    try:
        yield server.start()
    finally:
        server.stop()
        if data is not None:
            shutil.rmtree(data, ignore_errors=True)


@contextlib.contextmanager
def _restored_environ() -> Iterator[None]:
    saved = dict(os.environ)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextlib.contextmanager
def local_stack(
    template: Path,
    *,
    dynamodb_endpoint: str | None = None,
    port: int | None = None,
    schedules: bool = False,
    streams: bool = True,
    queues: bool = True,
    data_dir: Path | None = None,
    extra_env: dict[str, str] | None = None,
    env_file: Path | None = DEFAULT_ENV_FILE,
    parameters: dict[str, str] | None = None,
    prepare: bool = True,
    seed: bool = True,
) -> Iterator[LocalStack]:
    """The whole local stack for ``template``; yields the started ``LocalStack``.

    ``dynamodb_endpoint`` None starts an in-memory DynamoDB Local of its own (share one
    across the session with ``dynamodb_local()`` instead: it takes a few seconds).
    ``port`` None picks a free port for the HTTP API. ``data_dir`` None uses a temporary
    directory (removed at exit) for ``${DATA_DIR}`` (secrets file etc.). ``prepare``
    runs ``local.hooks.prepare(data_dir)`` before any function loads and ``seed`` runs
    ``local.hooks.seed(env)`` once the tables exist (as ``python -m local run`` does);
    pass ``seed=False`` for a template the hooks don't know.
    """
    temp = None if data_dir is not None else Path(tempfile.mkdtemp(prefix="local-stack-"))
    stack = LocalStack(
        template,
        data_dir=data_dir or temp or Path("."),
        env_file=env_file,
        api_port=port or 0,
        dynamodb_endpoint=dynamodb_endpoint,
        dynamodb_in_memory=True,
        schedules=schedules,
        streams=streams,
        queues=queues,
        prepare=prepare,
        extra_env=extra_env,
        parameters=parameters,
    )
    try:
        with _restored_environ():
            stack.start()
            try:
                if seed:
                    stack.seed()
                yield stack
            finally:
                stack.stop()
    finally:
        if temp is not None:
            shutil.rmtree(temp, ignore_errors=True)
