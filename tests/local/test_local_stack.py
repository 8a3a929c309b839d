"""The whole stack on the fixture template, on a real DynamoDB Local and moto."""

from __future__ import annotations

import base64
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
import requests

from local.lambda_runtime import HandlerError
from local.stack import LocalStack

pytestmark = pytest.mark.integration  # needs DynamoDB Local (one per test session)


def ddb(stack: LocalStack) -> Any:
    return boto3.client(
        "dynamodb",
        endpoint_url=stack.dynamodb_endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )


def sqs(stack: LocalStack) -> Any:
    return boto3.client(
        "sqs",
        endpoint_url=stack.moto_endpoint,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )


def get_item(stack: LocalStack, pk: str, sk: str) -> dict[str, Any] | None:
    item: dict[str, Any] | None = (
        ddb(stack).get_item(TableName="Table", Key={"pk": {"S": pk}, "sk": {"S": sk}}).get("Item")
    )
    return item


# ---- HTTP API --------------------------------------------------------------------------


def test_echo_event_through_real_handler(stack: LocalStack) -> None:
    raw = "name=张三&sig=a+b%2F".encode()
    response = requests.post(
        f"{stack.base_url}/echo?q=1&q=2&single=x",
        data=raw,
        headers={"Content-Type": "text/plain; charset=utf-8", "X-Signature": "Zm9v+/=", "Cookie": "sid=1; lang=zh"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    data = response.json()
    event = data["event"]
    assert event["routeKey"] == "POST /echo"
    assert event["body"].encode() == raw
    assert event["headers"]["x-signature"] == "Zm9v+/="
    assert event["cookies"] == ["sid=1", "lang=zh"]
    assert event["queryStringParameters"] == {"q": "1,2", "single": "x"}
    assert event["rawQueryString"] == "q=1&q=2&single=x"
    assert event["requestContext"]["http"]["sourceIp"] == "127.0.0.1"
    assert response.headers["apigw-requestid"] == event["requestContext"]["requestId"]
    assert data["function_name"] == "EchoFunction"
    assert data["memory"] == "256"
    assert 0 < data["remaining_ms"] <= 7000
    assert data["layer"] == "from-layer"
    assert data["helper"] == "echo-helper"
    assert data["cold_env"]["AWS_LAMBDA_FUNCTION_NAME"] == "EchoFunction"


def test_binary_request_body(stack: LocalStack) -> None:
    payload = b"\x00\x01\xfe\xff" * 64
    response = requests.post(
        f"{stack.base_url}/items/7", data=payload, headers={"Content-Type": "application/octet-stream"}, timeout=10
    )
    event = response.json()["event"]
    assert event["routeKey"] == "ANY /items/{id}"
    assert event["pathParameters"] == {"id": "7"}
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == payload


def test_route_precedence_on_real_routes(stack: LocalStack) -> None:
    assert requests.get(f"{stack.base_url}/items/special", timeout=10).text == "special"  # exact beats {id}
    event = requests.get(f"{stack.base_url}/files/a/b%20c.txt", timeout=10).json()["event"]
    assert event["pathParameters"] == {"proxy": "a/b c.txt"}
    assert event["rawPath"] == "/files/a/b%20c.txt"


def test_response_mapping(stack: LocalStack) -> None:
    response = requests.post(f"{stack.base_url}/created", timeout=10)
    assert response.status_code == 201
    assert response.text == "created ✓"
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.raw.headers.getlist("Set-Cookie") == ["session=abc; HttpOnly; Path=/", "theme=dark"]
    assert response.raw.headers.getlist("x-multi") == ["a", "b"]
    assert response.headers["x-helper"] == "created-helper"  # its own helpers.py, not echo's
    assert response.headers["x-shared"] == "created-value"  # its own env at cold start

    raw_string = requests.get(f"{stack.base_url}/raw-string", timeout=10)
    assert (raw_string.status_code, raw_string.headers["content-type"], raw_string.text) == (
        200,
        "application/json",
        "hello from lambda",
    )
    assert requests.get(f"{stack.base_url}/raw-dict", timeout=10).json() == {"hello": "world", "n": 1}
    binary = requests.get(f"{stack.base_url}/binary", timeout=10)
    assert binary.content == b"\x89PNG\r\n\x1a\n\x00\xff\xfe"
    assert binary.headers["content-type"] == "image/png"


def test_errors_are_500_like_api_gateway(stack: LocalStack) -> None:
    for path in ("/boom", "/malformed"):
        response = requests.get(f"{stack.base_url}{path}", timeout=10)
        assert response.status_code == 500
        assert response.json() == {"message": "Internal Server Error"}


def test_default_route_catches_everything_else(stack: LocalStack) -> None:
    unknown = requests.get(f"{stack.base_url}/no/such/route", timeout=10)
    assert unknown.status_code == 404
    assert unknown.json() == {"code": "route_not_found", "routeKey": "$default", "path": "/no/such/route"}
    wrong_method = requests.delete(f"{stack.base_url}/echo", timeout=10)
    assert wrong_method.status_code == 405
    assert wrong_method.json()["routeKey"] == "$default"


def test_concurrent_requests_run_in_parallel(stack: LocalStack) -> None:
    requests.get(f"{stack.base_url}/slow", timeout=10)  # cold start first
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=5) as pool:
        codes = list(pool.map(lambda _: requests.get(f"{stack.base_url}/slow", timeout=10).status_code, range(5)))
    elapsed = time.perf_counter() - started
    assert codes == [200] * 5
    assert elapsed < 1.8, f"5 requests of 0.5 s took {elapsed:.2f} s"


# ---- environment ------------------------------------------------------------------------


def test_environment_is_resolved_and_expanded(stack: LocalStack) -> None:
    env = stack.function_env("EchoFunction")
    dynamodb_port = stack.dynamodb_endpoint.rsplit(":", 1)[1]
    moto_port = stack.moto_endpoint.rsplit(":", 1)[1]
    assert env["DYNAMODB_ENDPOINT"] == f"http://127.0.0.1:{dynamodb_port}"
    assert env["AWS_ENDPOINT_URL_SQS"] == f"http://127.0.0.1:{moto_port}"
    assert env["AWS_ENDPOINT_URL_S3"] == f"http://127.0.0.1:{moto_port}"
    assert env["WECHAT_API_BASE"] == f"{stack.sandbox_url}/wechat"
    assert env["WECHATPAY_API_BASE"] == f"{stack.sandbox_url}/wechatpay"
    assert env["SECRETS_FILE"] == str(stack.data_dir / "secrets.json")
    assert env["QUEUE_URL"] == f"http://127.0.0.1:{moto_port}/000000000000/WorkQueue"
    assert env["API_HINT"] == stack.base_url
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == "FixtureNs"  # kept from the template
    assert env["POWERTOOLS_TRACE_DISABLED"] == "true"
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert env["EXTRA"] == "1"
    assert env["ECHO_ONLY"] == "echo"
    assert "ECHO_ONLY" not in stack.env and stack.env["TABLE_NAME"] == "Table"
    assert stack.env["DYNAMODB_ENDPOINT"] == env["DYNAMODB_ENDPOINT"]
    queue_url = sqs(stack).get_queue_url(QueueName="WorkQueue")["QueueUrl"]
    assert queue_url == env["QUEUE_URL"]


def test_invoke_and_schedule(stack: LocalStack) -> None:
    result = stack.invoke("scheduled", {"hello": 1})  # by functions/ directory name
    assert result == {"received": {"hello": 1}, "function": "ScheduledFunction"}
    fired = stack.fire_schedule("ScheduledFunction", "2030-01-02T02:00:00Z", event_name="Nightly")
    event = fired["received"]
    assert event["detail-type"] == "Scheduled Event" and event["time"] == "2030-01-02T02:00:00Z"
    assert stack.fire_schedule("ScheduledFunction", event_name="Hourly")["received"] == {"job": "hourly"}
    with pytest.raises(HandlerError) as info:
        stack.invoke("BoomFunction", {})
    assert info.value.error_type == "RuntimeError"
    assert info.value.payload()["errorMessage"].startswith("boom")


# ---- tables, streams, queues --------------------------------------------------------------


def test_table_created_from_template_definition(stack: LocalStack) -> None:
    client = ddb(stack)
    table = client.describe_table(TableName="Table")["Table"]
    assert {k["AttributeName"]: k["KeyType"] for k in table["KeySchema"]} == {"pk": "HASH", "sk": "RANGE"}
    (gsi,) = table["GlobalSecondaryIndexes"]
    assert gsi["IndexName"] == "gsi1" and gsi["Projection"] == {"ProjectionType": "ALL"}
    assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    ttl = client.describe_time_to_live(TableName="Table")["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}
    assert "ProdOnlyTable" not in client.list_tables()["TableNames"]  # its Condition is false
    s3 = boto3.client(
        "s3",
        endpoint_url=stack.moto_endpoint,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )
    assert "mediabucket" in {b["Name"] for b in s3.list_buckets()["Buckets"]}


def test_stream_filter_criteria(stack: LocalStack) -> None:
    client = ddb(stack)
    paid, pending = f"order#{uuid.uuid4().hex}", f"order#{uuid.uuid4().hex}"
    client.put_item(TableName="Table", Item={"pk": {"S": paid}, "sk": {"S": "o"}, "status": {"S": "PAID"}})
    client.put_item(TableName="Table", Item={"pk": {"S": pending}, "sk": {"S": "o"}, "status": {"S": "PENDING"}})
    stack.drain_streams(15)
    audit = get_item(stack, f"audit#{paid}", "audit")
    assert audit is not None
    record = json.loads(audit["record"]["S"])
    assert record["eventName"] == "INSERT"
    assert record["eventVersion"] == "1.1"
    assert record["eventSource"] == "aws:dynamodb"
    assert record["awsRegion"] == "us-east-1"
    assert record["eventSourceARN"].startswith("arn:aws:dynamodb:us-east-1:000000000000:table/Table/stream/")
    data = record["dynamodb"]
    assert data["Keys"] == {"pk": {"S": paid}, "sk": {"S": "o"}}
    assert data["NewImage"]["status"] == {"S": "PAID"}
    assert data["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    assert isinstance(data["ApproximateCreationDateTime"], (int, float))
    assert data["SequenceNumber"] and data["SizeBytes"] > 0
    assert get_item(stack, f"audit#{pending}", "audit") is None
    assert get_item(stack, f"attempt#{pending}", "attempt") is None  # never reached the function


def test_stream_partial_batch_failure_is_retried(stack: LocalStack) -> None:
    client = ddb(stack)
    flaky = f"order#{uuid.uuid4().hex}"
    poison = f"order#{uuid.uuid4().hex}"
    after = f"order#{uuid.uuid4().hex}"
    client.put_item(
        TableName="Table",
        Item={"pk": {"S": flaky}, "sk": {"S": "o"}, "status": {"S": "PAID"}, "fail_times": {"N": "1"}},
    )
    stack.drain_streams(20)
    flaky_audit = get_item(stack, f"audit#{flaky}", "audit")
    assert flaky_audit is not None and flaky_audit["attempts"] == {"N": "2"}  # failed once, then succeeded

    client.put_item(
        TableName="Table",
        Item={"pk": {"S": poison}, "sk": {"S": "o"}, "status": {"S": "PAID"}, "fail_times": {"N": "99"}},
    )
    stack.drain_streams(20)
    attempts = get_item(stack, f"attempt#{poison}", "attempt")
    assert attempts is not None and attempts["attempts"] == {"N": "3"}  # 1 + MaximumRetryAttempts 2
    assert get_item(stack, f"audit#{poison}", "audit") is None

    client.put_item(TableName="Table", Item={"pk": {"S": after}, "sk": {"S": "o"}, "status": {"S": "PAID"}})
    stack.drain_streams(20)
    assert get_item(stack, f"audit#{after}", "audit") is not None  # the shard moved on past the poison record


def test_sqs_trigger_with_partial_failures_and_dlq(stack: LocalStack) -> None:
    client = sqs(stack)
    queue_url = client.get_queue_url(QueueName="WorkQueue")["QueueUrl"]
    dlq_url = client.get_queue_url(QueueName="DeadLetterQueue")["QueueUrl"]
    ids = [uuid.uuid4().hex for _ in range(3)]
    entries = [{"Id": str(i), "MessageBody": json.dumps({"id": ident})} for i, ident in enumerate(ids)]
    entries.append({"Id": "bad", "MessageBody": json.dumps({"id": "bad", "fail": True})})
    client.send_message_batch(QueueUrl=queue_url, Entries=entries)
    stack.drain_streams(20)
    for ident in ids:
        item = get_item(stack, f"sqs#{ident}", "sqs")
        assert item is not None
        record = json.loads(item["record"]["S"])
        assert record["eventSource"] == "aws:sqs"
        assert record["eventSourceARN"] == "arn:aws:sqs:us-east-1:000000000000:WorkQueue"
        assert record["awsRegion"] == "us-east-1"
        assert record["attributes"]["ApproximateReceiveCount"] == "1"
        assert {"messageId", "receiptHandle", "body", "md5OfBody", "messageAttributes"} <= set(record)
    # The failing message reaches the DLQ on the receive after its last visibility timeout, which a
    # loaded machine may run just after the pollers looked idle: wait for it, a bounded while.
    dead: list[dict[str, Any]] = []
    for _ in range(10):
        dead += client.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        if dead:
            break
    assert [json.loads(m["Body"])["id"] for m in dead] == ["bad"]
