"""The entry point of the functions no HTTP request reaches: schedules, queues and table streams.

``handler = worker_entrypoint(run)`` gives a worker the same Logger and Metrics treatment as every
API function, and the Tracer where template.yaml traces the function (``traced=True``;
``mall.observability`` says why only there); ``handler = batch_entrypoint(batch, record_handler)``
does the same for a queue or stream worker, reporting the records that failed (partial batch
response) so only those are retried; ``scheduled_time`` reads the time a schedule fired for.

The partial batch response is made here rather than by Powertools' batch utility: importing that
package loads asyncio (for its async processor), every event class Powertools offers and, when
pydantic was imported first, every parser model, about a fifth of the cold-start baseline for the
loop below (docs/performance.md). Each record is still handed over as Powertools' event class
(``SQSRecord``, ``DynamoDBRecord``), from the lean data classes' package (``mall.api.lean_powertools``)."""

from __future__ import annotations

import json
import re
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from mall.clock import parse_instant, utc_now
from mall.observability import logger, metrics, xray_tracer
from mall.runtime import init_gc

Handler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]


def worker_entrypoint(run: Handler, *, traced: bool = False) -> Handler:
    """Logger context (cleared per invocation), metrics flushed; ``traced`` by the X-Ray SDK where
    template.yaml gives the function ``Tracing: Active`` (``mall.observability``).

    A traced worker builds the Tracer here, at import, so botocore is patched before the first AWS
    call; an untraced one never loads the X-Ray SDK (template.yaml disables the Tracer there anyway).

    No ``ColdStart`` metric: it is one custom metric per function (billed per metric-month, more
    than the rest of the stack's monitoring together) that no alarm reads; every log line's
    ``cold_start`` field and Lambda's report line (init duration) show cold starts."""
    flushed = metrics.log_metrics(run)
    # Not the result as metadata (Powertools' default): a trace keeps no payout's or withdrawal's data.
    traced_run = xray_tracer().capture_lambda_handler(flushed, capture_response=False) if traced else flushed
    wrapped: Handler = logger.inject_lambda_context(clear_state=True)(traced_run)
    init_gc.resume()  # the handler module's last line: init is over
    return wrapped


class EventSource(Enum):
    """Where a batch's records come from, which says what identifies a failed one in the answer."""

    SQS = "SQS"  # the message id
    DYNAMODB_STREAMS = "DynamoDBStreams"  # the stream record's sequence number


@dataclass(frozen=True)
class Batch:
    """A queue's or stream's batches. ``raise_on_entire_batch_failure``: a batch whose every record
    failed raises ``EntireBatchFailed`` (Lambda retries the batch, and its error is the invocation's)
    instead of reporting every record; either way every record comes back."""

    source: EventSource
    raise_on_entire_batch_failure: bool = True


class EntireBatchFailed(Exception):
    """Every record of the batch failed (or the event held no records); the message lists each
    record's exception with its traceback, as Lambda logs an invocation's error."""

    def __init__(self, message: str, errors: list[BaseException] | None = None) -> None:
        super().__init__(message)
        self.errors = list(errors or [])

    def __str__(self) -> str:
        return "\n".join([super().__str__(), *("".join(traceback.format_exception(e)) for e in self.errors)])


def process_batch(batch: Batch, event: dict[str, Any], record_handler: Callable[[Any], Any]) -> dict[str, Any]:
    """Each record through ``record_handler`` in order, the failed ones answered as
    ``batchItemFailures`` (Lambda's partial batch response: only those are retried)."""
    records = event.get("Records") if isinstance(event, dict) else None
    if not records or not isinstance(records, list):
        raise EntireBatchFailed(f"not a {batch.source.value} batch: the event has no Records")
    wrap, identifier = _record_class(batch.source)
    failed: list[Any] = []
    errors: list[BaseException] = []
    for raw in records:
        record = wrap(raw)
        try:
            record_handler(record)
        except Exception as exc:  # reported below: only this record is retried
            errors.append(exc)
            failed.append(record)
    if errors and len(errors) == len(records) and batch.raise_on_entire_batch_failure:
        raise EntireBatchFailed(f"All {len(records)} records failed processing.", errors)
    return {"batchItemFailures": [{"itemIdentifier": identifier(record)} for record in failed]}


def _record_class(source: EventSource) -> tuple[Callable[[dict[str, Any]], Any], Callable[[Any], str]]:
    """Powertools' event class of one record, and what identifies a record in ``batchItemFailures``."""
    # The lean data classes' package first: importing an event class's module otherwise runs the
    # package's __init__, which imports some forty event classes (mall.api.lean_powertools).
    from mall.api import lean_powertools

    lean_powertools.install()
    if source is EventSource.SQS:
        from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

        return SQSRecord, lambda record: record.message_id
    from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

    return DynamoDBRecord, lambda record: record.dynamodb.sequence_number


def batch_entrypoint(batch: Batch, record_handler: Callable[[Any], Any], *,
                     before: Callable[[], None] | None = None,
                     prepare: Callable[[dict[str, Any]], None] | None = None, traced: bool = False) -> Handler:
    """The entry point of a queue or stream worker: each record through ``record_handler``, the
    failed ones reported back (``batchItemFailures``); ``before`` runs first in every invocation,
    then ``prepare`` with the whole event (work done for the batch at once; it must leave every
    record's own handling correct whether it succeeded or not); ``traced`` as for ``worker_entrypoint``."""
    _record_class(batch.source)  # the event class imported now, at init, not in the first invocation

    def run(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        if before is not None:
            before()
        if prepare is not None:
            prepare(event)
        return process_batch(batch, event, record_handler)

    return worker_entrypoint(run, traced=traced)


def scheduled_time(event: dict[str, Any]) -> datetime:
    """The time the schedule fired for (EventBridge's ``time``), never earlier than now.

    ``make schedule TIME=...`` sends a later time to try what a run will do then; an earlier
    or missing time means now, so a delayed delivery never acts on a stale clock."""
    value = event.get("time") if isinstance(event, dict) else None
    if isinstance(value, str):
        try:
            moment = parse_instant(value, assume_utc=False)
        except ValueError:
            return utc_now()
        return max(moment, utc_now())
    return utc_now()


_ORDER_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def order_version_of(body: str) -> int | None:
    """The order's ``version`` a queue message ``{"order_id": ..., "version": n}`` names (the version
    the change that sent it left); None when it names none (a message sent by older code)."""
    try:
        message = json.loads(body)
    except ValueError:
        return None
    value = message.get("version") if isinstance(message, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def order_id_of(body: str) -> str | None:
    """The ``order_id`` of a queue message ``{"order_id": ...}``; None when the message is not one
    (redelivering cannot fix it: the worker drops it, loudly)."""
    try:
        message = json.loads(body)
    except ValueError:
        return None
    value = message.get("order_id") if isinstance(message, dict) else None
    return value if isinstance(value, str) and _ORDER_ID.match(value) else None
