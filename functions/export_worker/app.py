"""SQS worker: write one export (数据导出) per message (``{"export_id"}``, sent by ``POST /admin/exports``).

The rows are read page by page and streamed into an S3 multipart upload (about one 5 MiB part in
memory, never the file). Each message is processed on its own with `mall.workers` batch processing: a
job that another run is writing (a live lease) or whose run failed (it went back to QUEUED) is
reported in ``batchItemFailures`` and comes back after the visibility timeout; after
``maxReceiveCount`` receives the message lands in ``DeadLetterQueue``. A redelivered message of a DONE or
FAILED job changes nothing; a RUNNING job whose lease passed (its worker died) is started again."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mall.clock import utc_now
from mall.config import function_environment
from mall.dal.export_sources import ExportSources
from mall.dal.exports import ExportJobRepository
from mall.dal.objects import ObjectStore
from mall.dal.table import main_table
from mall.observability import metrics
from mall.services.exports import export_settings, process_message
from mall.workers import Batch, EventSource, batch_entrypoint

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
jobs = ExportJobRepository(table)
sources = ExportSources(table, status_list=function_environment().order_status_list)
# One message per invocation (BatchSize 1): a failed job is a reported item, not a Lambda error, so
# the invocation is not retried by Lambda itself and the message simply returns after its timeout.
batch = Batch(EventSource.SQS, raise_on_entire_batch_failure=False)


def record_handler(record: SQSRecord) -> dict[str, Any]:
    settings = export_settings()
    outcome = process_message(jobs=jobs, sources=sources, store=ObjectStore(settings.require_bucket()),
                              body=record.body, now=utc_now(), settings=settings, clock=utc_now)
    if outcome.result == "done":
        metrics.add_metric(name="ExportsWritten", unit="Count", value=1)
        metrics.add_metric(name="ExportRows", unit="Count", value=outcome.rows)
    elif outcome.result == "failed":
        metrics.add_metric(name="ExportsFailed", unit="Count", value=1)
    return {"export_id": outcome.export_id, "result": outcome.result, "rows": outcome.rows}


handler = batch_entrypoint(batch, record_handler)
