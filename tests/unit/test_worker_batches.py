"""The partial batch response of ``mall.workers``: the same answer as Powertools' batch utility (which
the queue and stream workers used before; it stays installed as a dependency of Powertools, so the
two are compared on the same batches), with each record handed over as Powertools' event class."""

from __future__ import annotations

from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from mall.workers import Batch, EntireBatchFailed, EventSource, batch_entrypoint, process_batch
from tests.unit.conftest import FakeContext

POWERTOOLS_TYPE = {EventSource.SQS: EventType.SQS, EventSource.DYNAMODB_STREAMS: EventType.DynamoDBStreams}


def sqs_event(*bodies: str) -> dict[str, Any]:
    return {"Records": [{"messageId": f"m{i}", "receiptHandle": f"r{i}", "body": body, "attributes": {},
                         "messageAttributes": {}, "eventSource": "aws:sqs"} for i, body in enumerate(bodies)]}


def stream_event(*bodies: str) -> dict[str, Any]:
    return {"Records": [{"eventID": f"e{i}", "eventName": "MODIFY", "eventSource": "aws:dynamodb",
                         "dynamodb": {"SequenceNumber": f"{100 + i}", "NewImage": {"body": {"S": body}}}}
                        for i, body in enumerate(bodies)]}


def body_of(record: Any) -> str:
    if isinstance(record, SQSRecord):
        return record.body
    assert isinstance(record, DynamoDBRecord)
    image = record.dynamodb.new_image if record.dynamodb else {}
    return str(image["body"])


def handle(record: Any) -> str:
    body = body_of(record)
    if body.startswith("fail"):
        raise RuntimeError(f"cannot handle {body}")
    return body


def powertools_answer(source: EventSource, event: dict[str, Any], raise_all: bool) -> Any:
    processor = BatchProcessor(event_type=POWERTOOLS_TYPE[source], raise_on_entire_batch_failure=raise_all)
    try:
        return process_partial_response(event=event, record_handler=handle, processor=processor)
    except BatchProcessingError as exc:
        return ("raised", len(exc.child_exceptions))


def own_answer(source: EventSource, event: dict[str, Any], raise_all: bool) -> Any:
    try:
        return process_batch(Batch(source, raise_on_entire_batch_failure=raise_all), event, handle)
    except EntireBatchFailed as exc:
        return ("raised", len(exc.errors))


BATCHES = [("ok",), ("ok", "fail-1", "ok", "fail-2"), ("fail-1",), ("fail-1", "fail-2"), ("ok", "ok")]


@pytest.mark.parametrize("raise_all", [True, False])
@pytest.mark.parametrize("bodies", BATCHES)
@pytest.mark.parametrize("source", list(EventSource))
def test_the_answer_is_powertools_answer(source: EventSource, bodies: tuple[str, ...], raise_all: bool) -> None:
    event = (sqs_event if source is EventSource.SQS else stream_event)(*bodies)
    ours = own_answer(source, event, raise_all)
    assert ours == powertools_answer(source, event, raise_all)
    failed = [i for i, body in enumerate(bodies) if body.startswith("fail")]
    if raise_all and failed and len(failed) == len(bodies):
        assert ours == ("raised", len(bodies))
    else:
        prefix = "m" if source is EventSource.SQS else ""
        expected = [f"{prefix}{i if source is EventSource.SQS else 100 + i}" for i in failed]
        assert ours == {"batchItemFailures": [{"itemIdentifier": i} for i in expected]}


@pytest.mark.parametrize("event", [{}, {"Records": []}, {"Records": "x"}])
def test_an_event_without_records_is_refused_as_powertools_refuses_it(event: dict[str, Any]) -> None:
    with pytest.raises(EntireBatchFailed):
        process_batch(Batch(EventSource.SQS), event, handle)
    with pytest.raises(BatchProcessingError):
        process_partial_response(event=event, record_handler=handle, processor=BatchProcessor(EventType.SQS))


def test_a_batch_that_failed_entirely_names_each_error_with_its_traceback() -> None:
    with pytest.raises(EntireBatchFailed) as raised:
        process_batch(Batch(EventSource.SQS), sqs_event("fail-a", "fail-b"), handle)
    text = str(raised.value)
    assert text.startswith("All 2 records failed processing.")
    assert "cannot handle fail-a" in text and "cannot handle fail-b" in text and "Traceback" in text


def test_the_entry_point_runs_before_and_prepare_then_each_record() -> None:
    calls: list[str] = []

    def record_handler(record: SQSRecord) -> None:
        calls.append(record.body)

    handler = batch_entrypoint(Batch(EventSource.SQS), record_handler, before=lambda: calls.append("before"),
                               prepare=lambda event: calls.append(f"prepare {len(event['Records'])}"))
    assert handler(sqs_event("a", "b"), FakeContext()) == {"batchItemFailures": []}
    assert calls == ["before", "prepare 2", "a", "b"]
