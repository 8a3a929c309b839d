"""End-to-end tests: the whole local stack (DynamoDB Local, every route of template.yaml,
the WeChat sandbox) started once per session; tests talk to it over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import TEMPLATE

#: Seconds of each pytest-xdist worker's console browser tests (its ``console_browser_seconds``,
#: set by the ``browser`` fixture of tests/e2e/console/conftest.py).
_WORKER_BROWSER_SECONDS: list[float] = []


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    seconds = getattr(node, "workeroutput", {}).get("console_browser_seconds")
    if seconds is not None:
        _WORKER_BROWSER_SECONDS.append(float(seconds))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _WORKER_BROWSER_SECONDS:
        each = " + ".join(f"{s:.1f} s" for s in sorted(_WORKER_BROWSER_SECONDS, reverse=True))
        terminalreporter.write_line(f"console browser tests: {each} (a Chromium per pytest-xdist worker)")


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from local.testing import local_stack

    with local_stack(TEMPLATE, data_dir=Path(tmp_path_factory.mktemp("stack"))) as running:
        yield running


@pytest.fixture(scope="session")
def api(stack: Any) -> str:
    return str(stack.base_url).rstrip("/")


@pytest.fixture(scope="session")
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session
