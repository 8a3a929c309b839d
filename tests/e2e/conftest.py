"""End-to-end tests: the whole local stack (DynamoDB Local, every route of template.yaml,
the WeChat sandbox) started once per session; tests talk to it over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import TEMPLATE


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
