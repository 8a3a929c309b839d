"""DynamoDB Local: loopback-only binding, tables from the template definition."""

from __future__ import annotations

from pathlib import Path

import pytest

from local import dynamodb
from local.template import load_template
from local.template_model import TableSpec

pytestmark = pytest.mark.integration  # needs DynamoDB Local (one per test session)

TEMPLATE = Path(__file__).resolve().parent / "fixtures" / "template.yaml"


def _listening_addresses(port: int) -> set[str]:
    """Local addresses listening on ``port``, from /proc/net/tcp{,6} (Linux)."""
    found: set[str] = set()
    for name in ("tcp", "tcp6"):
        path = Path("/proc/net") / name
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            address, hex_port = fields[1].rsplit(":", 1)
            if int(hex_port, 16) == port and fields[3] == "0A":  # LISTEN
                found.add(address)
    return found


def test_dynamodb_local_listens_on_loopback_only(ddb_endpoint: str) -> None:
    port = int(ddb_endpoint.rsplit(":", 1)[1])
    addresses = _listening_addresses(port)
    if not Path("/proc/net/tcp").exists():
        pytest.skip("no /proc/net/tcp on this system")
    ipv4_loopback = "0100007F"  # 127.0.0.1, little-endian hex
    ipv6_mapped_loopback = "0000000000000000FFFF00000100007F"
    assert addresses, f"nothing listens on {port}"
    assert addresses <= {ipv4_loopback, ipv6_mapped_loopback}, f"DynamoDB Local listens on {addresses}"


def test_create_table_request_keeps_the_template_definition() -> None:
    spec = load_template(TEMPLATE).tables["Table"]
    request = dynamodb.create_table_request(spec)
    assert request["TableName"] == "Table"
    assert request["BillingMode"] == "PAY_PER_REQUEST"
    assert request["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert request["GlobalSecondaryIndexes"][0]["IndexName"] == "gsi1"
    assert request["DeletionProtectionEnabled"] is False
    assert request["Tags"] == [{"Key": "app", "Value": "fixture"}]
    for dropped in ("TimeToLiveSpecification", "PointInTimeRecoverySpecification", "SSESpecification"):
        assert dropped not in request


def test_ensure_tables_is_idempotent(ddb_endpoint: str) -> None:
    spec = TableSpec(
        "Scratch",
        "ScratchIdempotent",
        {
            "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
            "ProvisionedThroughput": {"ReadCapacityUnits": "5", "WriteCapacityUnits": 5},
        },
    )
    assert dynamodb.ensure_tables(ddb_endpoint, [spec]) == ["ScratchIdempotent"]
    client = dynamodb.client(ddb_endpoint)
    client.put_item(TableName="ScratchIdempotent", Item={"id": {"S": "kept"}})
    assert dynamodb.ensure_tables(ddb_endpoint, [spec]) == []  # exists: left alone
    assert client.get_item(TableName="ScratchIdempotent", Key={"id": {"S": "kept"}})["Item"]
    client.delete_table(TableName="ScratchIdempotent")


def test_an_index_added_to_the_template_is_created_on_an_existing_table(ddb_endpoint: str) -> None:
    def spec(*indexes: str) -> TableSpec:
        keys = [name for index in indexes for name in (f"{index}pk", f"{index}sk")]
        return TableSpec("Scratch", "ScratchIndexes", {
            "AttributeDefinitions": [{"AttributeName": n, "AttributeType": "S"} for n in ("pk", *keys)],
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "BillingMode": "PAY_PER_REQUEST",
            "GlobalSecondaryIndexes": [{
                "IndexName": index, "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["status"]},
                "KeySchema": [{"AttributeName": f"{index}pk", "KeyType": "HASH"},
                              {"AttributeName": f"{index}sk", "KeyType": "RANGE"}]} for index in indexes],
        })

    assert dynamodb.ensure_tables(ddb_endpoint, [spec("gsi1")]) == ["ScratchIndexes"]
    client = dynamodb.client(ddb_endpoint)
    client.put_item(TableName="ScratchIndexes", Item={"pk": {"S": "o1"}, "status": {"S": "PAID"}, "gsi3pk": {
        "S": "ORDERS#PAID"}, "gsi3sk": {"S": "2026-12-01T00:00:00Z#o1"}})
    assert dynamodb.ensure_tables(ddb_endpoint, [spec("gsi1", "gsi3")]) == []  # kept, with its data
    found = client.query(TableName="ScratchIndexes", IndexName="gsi3", KeyConditionExpression="gsi3pk = :p",
                         ExpressionAttributeValues={":p": {"S": "ORDERS#PAID"}})["Items"]
    assert [item["pk"]["S"] for item in found] == ["o1"] and found[0]["status"]["S"] == "PAID"
    assert dynamodb.add_missing_indexes(client, spec("gsi1", "gsi3")) == []
    client.delete_table(TableName="ScratchIndexes")


def test_find_emulator() -> None:
    emulator = dynamodb.find_emulator()
    assert (emulator / "DynamoDBLocal.jar").is_file()
    assert dynamodb.is_answering("http://127.0.0.1:1") is False
