"""Integration tests run against real DynamoDB Local (AWS's emulator), started once per
test session, with a fresh table (created from template.yaml's definition) per test."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import boto3
import pytest
from botocore.config import Config

from mall.dal.table import Table
from tests.conftest import table_request


@pytest.fixture(scope="session")
def ddb_endpoint() -> Iterator[str]:
    from local.dynamodb import running

    with running(in_memory=True) as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def ddb_client(ddb_endpoint: str):  # type: ignore[no-untyped-def]
    # A pool big enough for the parallel tests: botocore's default of 10 would queue them.
    config = Config(max_pool_connections=64, retries={"max_attempts": 4, "mode": "standard"})
    return boto3.client("dynamodb", endpoint_url=ddb_endpoint, region_name="us-east-1", config=config)


@pytest.fixture
def table(ddb_client, ddb_endpoint: str, monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
          request: pytest.FixtureRequest) -> Iterator[Table]:
    name = f"it-{uuid.uuid4().hex[:10]}"
    create = table_request(name)
    create.pop("DeletionProtectionEnabled", None)
    if request.node.get_closest_marker("table_stream") is None:
        # DynamoDB Local slows down with every streamed table created and deleted in one process
        # (8.8 → 31 ms per transaction over six tables); these tests read no stream.
        create.pop("StreamSpecification", None)
    ddb_client.create_table(**create)
    ddb_client.update_time_to_live(TableName=name,
                                   TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"})
    monkeypatch.setenv("TABLE_NAME", name)
    monkeypatch.setenv("DYNAMODB_ENDPOINT", ddb_endpoint)
    yield Table(name, ddb_client)
    ddb_client.delete_table(TableName=name)


@pytest.fixture
def new_table(ddb_client) -> Iterator[Callable[[], Table]]:  # type: ignore[no-untyped-def]
    """Fresh tables of their own, for worlds (one mall each) that must not share anything."""
    names: list[str] = []

    def make() -> Table:
        name = f"it-{uuid.uuid4().hex[:10]}"
        create = table_request(name)
        create.pop("DeletionProtectionEnabled", None)
        create.pop("StreamSpecification", None)
        ddb_client.create_table(**create)
        names.append(name)
        return Table(name, ddb_client)

    yield make
    for name in names:
        ddb_client.delete_table(TableName=name)
