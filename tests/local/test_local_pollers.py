"""Batch semantics of the stream and queue pollers, with a fake function (no servers)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from local.lambda_runtime import HandlerError, Invocation
from local.queues import QueuePoller, failed_identifiers, lambda_sqs_record
from local.streams import StreamPoller, first_failure, lambda_stream_record
from local.template_model import QueueTrigger, StreamTrigger


def records(n: int) -> list[dict[str, Any]]:
    return [{"dynamodb": {"SequenceNumber": f"{i:05d}"}, "n": i} for i in range(n)]


def test_first_failure() -> None:
    batch = records(4)
    assert first_failure({"batchItemFailures": []}, batch, report=True) is None
    assert first_failure(None, batch, report=True) is None
    assert (
        first_failure({"batchItemFailures": [{"itemIdentifier": "00002"}, {"itemIdentifier": "00001"}]}, batch, True)
        == 1
    )
    assert first_failure({"batchItemFailures": [{"itemIdentifier": "nope"}]}, batch, report=True) == 0
    assert first_failure({"batchItemFailures": [{}]}, batch, report=True) == 0
    assert first_failure({"batchItemFailures": [{"itemIdentifier": "00002"}]}, batch, report=False) is None


class Recorder:
    def __init__(self, fail: Any) -> None:
        self.fail = fail
        self.batches: list[list[int]] = []

    def __call__(self, function_id: str, event: Any) -> Invocation:
        ns = [r["n"] for r in event["Records"]]
        self.batches.append(ns)
        result = self.fail(ns)
        if isinstance(result, Exception):
            return Invocation("r", error=HandlerError(function_id, "Error", str(result), []))
        return Invocation("r", result=result)


def poller(invoke: Recorder, **kw: Any) -> StreamPoller:
    trigger = StreamTrigger("Fn", "Ev", "Table", **kw)
    return StreamPoller(trigger, "Table", "http://127.0.0.1:1", invoke, retry_backoff=0.001)  # type: ignore[arg-type]


def test_partial_failure_resumes_from_the_first_failed_record() -> None:
    seen: dict[int, int] = {}

    def fail(ns: list[int]) -> Any:
        for n in ns:
            seen[n] = seen.get(n, 0) + 1
        return {"batchItemFailures": [{"itemIdentifier": "00002"}]} if seen[2] == 1 else {}

    invoke = Recorder(fail)
    poller(invoke, report_batch_item_failures=True)._deliver(records(4))
    assert invoke.batches == [[0, 1, 2, 3], [2, 3]]


def test_retries_stop_after_maximum_retry_attempts() -> None:
    invoke = Recorder(lambda ns: RuntimeError("always"))
    stream = poller(invoke, max_retry_attempts=2)
    stream._deliver(records(3))
    assert invoke.batches == [[0, 1, 2]] * 3
    assert stream.discarded == 3


def test_bisect_on_function_error() -> None:
    invoke = Recorder(lambda ns: RuntimeError("poison") if 2 in ns else {})
    poller(invoke, max_retry_attempts=0, bisect_on_error=True)._deliver(records(4))
    assert invoke.batches[:3] == [[0, 1, 2, 3], [0, 1], [2, 3]]
    assert [2] in invoke.batches and [3] in invoke.batches


def test_stream_record_format() -> None:
    raw = {
        "eventID": "e1",
        "eventName": "INSERT",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "ddblocal",
        "dynamodb": {
            "ApproximateCreationDateTime": datetime(2030, 1, 1, tzinfo=UTC),
            "Keys": {"pk": {"S": "a"}},
            "NewImage": {"pk": {"S": "a"}, "blob": {"B": b"\x00\xff"}, "set": {"BS": [b"\x01"]}},
            "SequenceNumber": "100",
            "SizeBytes": 12,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
    }
    record = lambda_stream_record(raw, "arn:aws:dynamodb:ddblocal:000000000000:table/T/stream/2030")
    assert record["awsRegion"] == "us-east-1"
    assert record["eventSourceARN"] == "arn:aws:dynamodb:us-east-1:000000000000:table/T/stream/2030"
    assert record["dynamodb"]["ApproximateCreationDateTime"] == 1893456000
    assert record["dynamodb"]["NewImage"]["blob"] == {"B": "AP8="}
    assert record["dynamodb"]["NewImage"]["set"] == {"BS": ["AQ=="]}
    assert list(record["dynamodb"]) == [
        "ApproximateCreationDateTime",
        "Keys",
        "NewImage",
        "SequenceNumber",
        "SizeBytes",
        "StreamViewType",
    ]


def test_sqs_record_and_failures() -> None:
    message = {
        "MessageId": "m1",
        "ReceiptHandle": "rh",
        "Body": "{}",
        "MD5OfBody": "99914b932bd37a50b983c5e7c90ae93b",
        "Attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1"},
        "MessageAttributes": {
            "kind": {"DataType": "String", "StringValue": "x"},
            "bin": {"DataType": "Binary", "BinaryValue": b"\x01"},
        },
    }
    record = lambda_sqs_record(message, "arn:aws:sqs:us-east-1:000000000000:Q")
    assert record["messageAttributes"]["kind"] == {
        "stringValue": "x",
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": "String",
    }
    assert record["messageAttributes"]["bin"]["binaryValue"] == "AQ=="
    assert record["eventSource"] == "aws:sqs" and record["awsRegion"] == "us-east-1"
    assert failed_identifiers({"batchItemFailures": [{"itemIdentifier": "m1"}]}, {"m1", "m2"}) == {"m1"}
    assert failed_identifiers({"batchItemFailures": []}, {"m1"}) == set()
    assert failed_identifiers(None, {"m1"}) == set()
    assert failed_identifiers({"batchItemFailures": [{"itemIdentifier": "zz"}]}, {"m1"}) is None


class ScriptedSqs:
    """Answers ``receive_message`` from a script of message lists (then nothing), counting the calls."""

    def __init__(self, *answers: list[dict[str, Any]]) -> None:
        self.answers = list(answers)
        self.calls = 0

    def receive_message(self, **kwargs: Any) -> dict[str, Any]:
        self.calls += 1
        return {"Messages": self.answers.pop(0) if self.answers else []}


def queue_poller(sqs: ScriptedSqs, **kw: Any) -> QueuePoller:
    trigger = QueueTrigger("Fn", "Ev", "Queue", **kw)
    poller = QueuePoller(trigger, "http://127.0.0.1:1/q", "q", "http://127.0.0.1:1", Recorder(lambda ns: {}))  # type: ignore[arg-type]
    poller.sqs = sqs
    return poller


def test_an_idle_queue_poll_does_not_wait_out_the_batching_window() -> None:
    sqs = ScriptedSqs()
    assert queue_poller(sqs, batch_size=100, batching_window_s=10)._receive_batch() == []
    assert sqs.calls == 1  # the window opens with the first message; drain_streams waits for idle polls


def test_the_batching_window_still_fills_a_batch_once_a_message_arrives() -> None:
    sqs = ScriptedSqs([{"MessageId": "1"}], [], [{"MessageId": "2"}, {"MessageId": "3"}])
    batch = queue_poller(sqs, batch_size=3, batching_window_s=10)._receive_batch()
    assert [m["MessageId"] for m in batch] == ["1", "2", "3"]
    assert sqs.calls == 3
