"""The entry point of the functions no HTTP request reaches: schedules, queues and table streams.

``handler = worker_entrypoint(run)`` gives a worker the same Logger and Metrics treatment as every
API function, and the Tracer where template.yaml traces the function (``traced=True``;
``mall.observability`` says why only there); ``handler = batch_entrypoint(processor, record_handler)``
does the same for a queue or stream
worker, reporting the records that failed (partial batch response) so only those are retried;
``scheduled_time`` reads the time a schedule fired for."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from mall.clock import parse_instant, utc_now
from mall.observability import logger, metrics, xray_tracer

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch import BatchProcessor

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
    traced_run = xray_tracer().capture_lambda_handler(flushed) if traced else flushed
    wrapped: Handler = logger.inject_lambda_context(clear_state=True)(traced_run)
    return wrapped


def batch_entrypoint(processor: BatchProcessor, record_handler: Callable[[Any], Any], *,
                     before: Callable[[], None] | None = None,
                     prepare: Callable[[dict[str, Any]], None] | None = None, traced: bool = False) -> Handler:
    """The entry point of a queue or stream worker: each record through ``record_handler``, the
    failed ones reported back (``batchItemFailures``); ``before`` runs first in every invocation,
    then ``prepare`` with the whole event (work done for the batch at once; it must leave every
    record's own handling correct whether it succeeded or not); ``traced`` as for ``worker_entrypoint``."""
    # Imported here, not with the module: the scheduled workers share this module and never batch.
    from aws_lambda_powertools.utilities.batch import process_partial_response

    def run(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        if before is not None:
            before()
        if prepare is not None:
            prepare(event)
        return dict(process_partial_response(event=event, record_handler=record_handler, processor=processor,
                                             context=context))

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


def order_id_of(body: str) -> str | None:
    """The ``order_id`` of a queue message ``{"order_id": ...}``; None when the message is not one
    (redelivering cannot fix it: the worker drops it, loudly)."""
    try:
        message = json.loads(body)
    except ValueError:
        return None
    value = message.get("order_id") if isinstance(message, dict) else None
    return value if isinstance(value, str) and _ORDER_ID.match(value) else None
