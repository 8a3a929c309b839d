"""Session fixtures for the local stack runner's tests: one DynamoDB Local, one stack."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from local.stack import LocalStack  # noqa: E402
from local.testing import dynamodb_local, local_stack  # noqa: E402

FIXTURES = Path(__file__).resolve().parent / "fixtures"
TEMPLATE = FIXTURES / "template.yaml"


@pytest.fixture(scope="session")
def ddb_endpoint() -> Iterator[str]:
    with dynamodb_local() as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def stack(ddb_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    data_dir = tmp_path_factory.mktemp("stack-data")
    with local_stack(
        TEMPLATE, dynamodb_endpoint=ddb_endpoint, data_dir=data_dir, extra_env={"EXTRA": "1"}, seed=False
    ) as s:
        yield s
